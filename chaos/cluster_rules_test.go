package chaos

// DESIGN.md's safety rules shown against three real cmd/node processes
// (issue 4): Metadata, CreateTopics, Produce, Fetch and ListOffsets sent to
// chosen brokers over raw TCP (wire.AppendRequest / wire.ParseResponse), so
// nothing between the test and the broker retries, redirects or hides an
// error code; then SIGKILL of the leader, a restart on its data, and SIGTERM
// of the next leader.

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

const (
	// rulesFailoverBound is how long a SIGKILLed leader's partition may go
	// without a new leader that both survivors report.
	rulesFailoverBound = 10 * time.Second
	// rulesHandoverBound is how long a SIGTERMed leader may take to hand its
	// leadership over, as both other nodes see it. An election timeout is
	// 1–2 s; a handover should beat it, so 1.5 s is asserted.
	rulesHandoverBound = 1500 * time.Millisecond
	// rulesSettle bounds waiting for the cluster to agree on something that
	// needs no failure detection (formation, registration, catching up).
	rulesSettle = 15 * time.Second
	// rulesRequestTimeout bounds one request's round trip.
	rulesRequestTimeout = 5 * time.Second
)

// The cmd/node binary, built at most once per test binary (lazily, so tests
// that start no process build nothing) and removed by TestMain.
var rulesBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if rulesBinary.dir != "" {
		os.RemoveAll(rulesBinary.dir)
	}
	os.Exit(code)
}

// nodeBinary returns cmd/node built without the chaos tag, or
// KETCH_CHAOS_BINARY if set.
func nodeBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("KETCH_CHAOS_BINARY"); bin != "" {
		return bin
	}
	rulesBinary.once.Do(func() {
		rulesBinary.dir, rulesBinary.err = os.MkdirTemp("", "ketch-node-bin-")
		if rulesBinary.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		rulesBinary.path, rulesBinary.err = BuildNode(ctx, rulesBinary.dir, false)
	})
	if rulesBinary.err != nil {
		t.Fatalf("build cmd/node: %v", rulesBinary.err)
	}
	return rulesBinary.path
}

// TestClusterSafetyRules: three real processes; DESIGN.md's rules 1, 2, 4,
// 5 and 6 as a client talking to one chosen broker at a time sees them.
func TestClusterSafetyRules(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three real processes")
	}
	began := time.Now()
	bin := nodeBinary(t)
	t.Logf("cmd/node ready after %v", time.Since(began).Round(time.Millisecond))

	// Not t.TempDir: a failed run's node logs and data are what to look at.
	dir, err := os.MkdirTemp("", "ketch-rules-test-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := NewCluster(dir, bin, "", 3, false, began)
	if err != nil {
		t.Fatal(err)
	}
	r := &rulesRun{t: t, ctx: ctx, cl: cl, topic: "rules", began: began}
	t.Cleanup(func() {
		if err := cl.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("run directory kept: %s", dir)
			for _, p := range cl.Nodes() {
				t.Logf("%s ends (peer reconnects left out):\n%s", p.LogPath, quietTail(p.LogPath, 30))
			}
		} else {
			os.RemoveAll(dir)
		}
	})
	for _, p := range cl.Nodes() {
		if err := cl.Start(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	r.step("cluster formed")

	// 1. Metadata everywhere; CreateTopics only at the controller.
	ctrl := r.agreedController([]int{1, 2, 3})
	r.createTopic(ctrl)
	v := r.agreedPartition([]int{1, 2, 3}, func(v partView) bool { return true }, rulesSettle, "the new topic's partition")
	leader, epoch := int(v.leader), v.epoch
	r.step(fmt.Sprintf("topic %q: leader %d epoch %d replicas %v, controller %d", r.topic, leader, epoch, v.replicas, ctrl))

	// 2. Produce: followers refuse with the leader hint, the leader appends.
	for _, f := range others(leader, 1, 2, 3) {
		r.produceToFollower(f, leader, epoch)
	}
	var acked []ackedRecord
	acked = r.produceAckedRetrying(leader, epoch, acked, 1) // it may not serve yet (rule 1)
	for i := range 5 {
		acked = r.produceAcked(leader, epoch, acked, 1+i%3)
	}
	r.step(fmt.Sprintf("%d records acknowledged by leader %d", len(acked), leader))

	// 3. Fetch and ListOffsets, with the leader epoch checks.
	for _, f := range others(leader, 1, 2, 3) {
		r.fetchFromFollower(f, epoch)
	}
	r.checkLog(leader, epoch, acked)
	r.checkEpochFencing(leader, epoch)
	r.checkListOffsets(leader, epoch, int64(len(acked)))
	r.step("fetch, epoch fencing and ListOffsets at the leader")

	// 4. SIGKILL the leader: a survivor takes over, nothing acknowledged is lost.
	killed := leader
	r.cl.Kill(killed)
	killedAt := time.Now()
	survivors := others(killed, 1, 2, 3)
	v = r.agreedPartition(survivors, func(v partView) bool {
		return int(v.leader) != killed && v.epoch > epoch
	}, rulesFailoverBound, fmt.Sprintf("a new leader (not %d) with epoch > %d after SIGKILL", killed, epoch))
	t.Logf("failover after SIGKILL: both survivors report leader %d epoch %d after %v",
		v.leader, v.epoch, time.Since(killedAt).Round(time.Millisecond))
	leader, epoch = int(v.leader), v.epoch
	preKill := len(acked)
	acked = r.produceAckedRetrying(leader, epoch, acked, 2)
	r.checkLog(leader, epoch, acked)
	r.checkListOffsets(leader, epoch, int64(len(acked)))
	r.step(fmt.Sprintf("node %d killed; node %d leads in epoch %d; %d acknowledged before the kill all kept", killed, leader, epoch, preKill))

	// 5. Restart the killed node on its data: it rejoins as a follower.
	if err := r.cl.Start(ctx, killed); err != nil {
		t.Fatal(err)
	}
	r.agreedPartition([]int{1, 2, 3}, func(v partView) bool {
		return int(v.leader) == leader && v.epoch == epoch
	}, rulesSettle, fmt.Sprintf("restarted node %d naming leader %d epoch %d", killed, leader, epoch))
	r.produceToFollower(killed, leader, epoch)
	r.fetchFromFollower(killed, epoch)
	acked = r.produceAcked(leader, epoch, acked, 1)
	r.checkLog(leader, epoch, acked)
	r.step(fmt.Sprintf("node %d restarted and follows leader %d, in sync", killed, leader))

	// 6. SIGTERM the leader: it hands over well within an election timeout and exits 0.
	termed, termEpoch := leader, epoch
	termDone := make(chan error, 1)
	termAt := time.Now()
	go func() { termDone <- r.cl.Term(termed) }()
	rest := others(termed, 1, 2, 3)
	v = r.agreedPartition(rest, func(v partView) bool {
		return int(v.leader) != termed && v.leader > 0 && v.epoch > termEpoch
	}, rulesFailoverBound, fmt.Sprintf("a new leader (not %d) with epoch > %d after SIGTERM", termed, termEpoch))
	handover := time.Since(termAt)
	t.Logf("handover after SIGTERM: both other nodes report leader %d epoch %d after %v", v.leader, v.epoch, handover.Round(time.Millisecond))
	if handover > rulesHandoverBound {
		t.Errorf("SIGTERM of leader %d: leadership moved after %v, want < %v (an election timeout, not a handover?)", termed, handover.Round(time.Millisecond), rulesHandoverBound)
	}
	select {
	case err := <-termDone:
		if err != nil {
			t.Fatalf("SIGTERM of node %d: %v", termed, err)
		}
	case <-ctx.Done():
		t.Fatalf("SIGTERM of node %d: %v", termed, ctx.Err())
	}
	if code := r.cl.Node(termed).cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("node %d exited %d after SIGTERM, want 0", termed, code)
	}
	leader, epoch = int(v.leader), v.epoch
	acked = r.produceAckedRetrying(leader, epoch, acked, 1)
	r.checkLog(leader, epoch, acked)
	r.step(fmt.Sprintf("node %d terminated (exit 0) and handed over to %d in %v", termed, leader, handover.Round(time.Millisecond)))

	if u := r.cl.Unexpected(); len(u) > 0 {
		t.Errorf("nodes exited on their own: %v", u)
	}
}

type rulesRun struct {
	t     *testing.T
	ctx   context.Context
	cl    *Cluster
	topic string
	began time.Time
	hwMax int64 // the highest high watermark observed at any leader
	seq   int   // values produced, for unique values
}

func (r *rulesRun) step(what string) {
	r.t.Logf("t=%5.2fs  %s", time.Since(r.began).Seconds(), what)
}

func (r *rulesRun) addr(id int) string { return r.cl.Node(id).KafkaAddr }

func others(id int, ids ...int) []int {
	var out []int
	for _, i := range ids {
		if i != id {
			out = append(out, i)
		}
	}
	return out
}

// poll calls f until it reports done, at most for timeout; the failure names
// what was awaited and f's last explanation.
func (r *rulesRun) poll(what string, timeout time.Duration, f func() (bool, string)) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("waited %v for %s in vain; last: %s", timeout, what, why)
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("waiting for %s: %v; last: %s", what, r.ctx.Err(), why)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// roundTrip sends req to one broker on a fresh connection and reads its answer.
func (r *rulesRun) roundTrip(id int, req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(r.ctx, rulesRequestTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.addr(id))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	client := "ketch-rules-test"
	const corr = 7
	if _, err := conn.Write(wire.AppendRequest(nil, corr, &client, req)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return nil, fmt.Errorf("%s v%d to node %d: reading the answer: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), id, err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 64<<20 {
		return nil, fmt.Errorf("node %d: response frame of %d bytes", id, n)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(conn, frame); err != nil {
		return nil, err
	}
	got, resp, err := wire.ParseResponse(frame, req)
	if err != nil {
		return nil, err
	}
	if got != corr {
		return nil, fmt.Errorf("node %d: correlation id %d, want %d", id, got, corr)
	}
	return resp, nil
}

// mustRoundTrip is roundTrip where an error fails the test.
func (r *rulesRun) mustRoundTrip(id int, req kmsg.Request) kmsg.Response {
	r.t.Helper()
	resp, err := r.roundTrip(id, req)
	if err != nil {
		r.t.Fatalf("%s v%d to node %d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), id, err)
	}
	return resp
}

// partView is one node's Metadata answer about the cluster and partition 0.
type partView struct {
	node       int
	controller int32
	brokers    map[int32]string
	code       int16 // the partition's (or the topic's) error code
	leader     int32
	epoch      int32
	replicas   []int32
	isr        []int32
}

func (v partView) String() string {
	return fmt.Sprintf("node %d: controller %d brokers %v partition 0: error %d leader %d epoch %d replicas %v isr %v",
		v.node, v.controller, v.brokers, v.code, v.leader, v.epoch, v.replicas, v.isr)
}

func (r *rulesRun) metadata(id int, topic string) (partView, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	if topic != "" {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = &topic
		req.Topics = append(req.Topics, rt)
	}
	resp, err := r.roundTrip(id, req)
	if err != nil {
		return partView{node: id}, err
	}
	m := resp.(*kmsg.MetadataResponse)
	v := partView{node: id, controller: m.ControllerID, brokers: map[int32]string{}, code: -1, leader: -1, epoch: -1}
	for _, b := range m.Brokers {
		v.brokers[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	if topic == "" {
		return v, nil
	}
	if len(m.Topics) != 1 {
		return v, fmt.Errorf("node %d: Metadata for %q answered %d topics", id, topic, len(m.Topics))
	}
	mt := m.Topics[0]
	v.code = mt.ErrorCode
	if mt.ErrorCode != 0 {
		return v, nil
	}
	if len(mt.Partitions) != 1 {
		return v, fmt.Errorf("node %d: topic %q has %d partitions, want 1", id, topic, len(mt.Partitions))
	}
	p := mt.Partitions[0]
	v.code, v.leader, v.epoch = p.ErrorCode, p.Leader, p.LeaderEpoch
	v.replicas, v.isr = p.Replicas, slices.Sorted(slices.Values(p.ISR))
	return v, nil
}

// brokersRight reports whether v lists exactly the three nodes at their
// advertised addresses.
func (r *rulesRun) brokersRight(v partView) bool {
	if len(v.brokers) != len(r.cl.Nodes()) {
		return false
	}
	for _, p := range r.cl.Nodes() {
		if v.brokers[int32(p.ID)] != p.KafkaAddr {
			return false
		}
	}
	return true
}

// agreedController waits for every node to list all brokers at their
// advertised addresses and name the same controller, and returns it.
func (r *rulesRun) agreedController(ids []int) int {
	r.t.Helper()
	var ctrl int32
	r.poll("agreement on brokers and controller", rulesSettle, func() (bool, string) {
		var views []partView
		for _, id := range ids {
			v, err := r.metadata(id, "")
			if err != nil {
				return false, err.Error()
			}
			if !r.brokersRight(v) {
				return false, fmt.Sprintf("%v; want brokers at %v", v, r.cl.KafkaAddrs())
			}
			if v.controller <= 0 || len(views) > 0 && v.controller != views[0].controller {
				return false, fmt.Sprint(append(views, v))
			}
			views = append(views, v)
		}
		ctrl = views[0].controller
		return true, ""
	})
	return int(ctrl)
}

// agreedPartition waits until every node in ids answers Metadata with the
// right brokers, one controller, and the same partition 0 (no error, the
// same leader and epoch > 0, replicas 1–3, and with every node up an ISR of
// all three) accepted by want, within timeout.
func (r *rulesRun) agreedPartition(ids []int, want func(partView) bool, timeout time.Duration, what string) partView {
	r.t.Helper()
	// With a node down only the replica list is common ground: the leader's
	// ISR drops the dead node, a follower's is the replica list.
	all := len(ids) == len(r.cl.Nodes())
	var agreed partView
	r.poll(what, timeout, func() (bool, string) {
		var views []partView
		for _, id := range ids {
			v, err := r.metadata(id, r.topic)
			if err != nil {
				return false, err.Error()
			}
			views = append(views, v)
		}
		first := views[0]
		for _, v := range views {
			switch {
			case !r.brokersRight(v):
				return false, fmt.Sprintf("%v; want brokers at %v", views, r.cl.KafkaAddrs())
			case v.code != 0 || v.leader <= 0 || v.epoch <= 0:
				return false, fmt.Sprint(views)
			case !slices.Equal(slices.Sorted(slices.Values(v.replicas)), []int32{1, 2, 3}):
				return false, fmt.Sprint(views)
			case all && !slices.Equal(v.isr, []int32{1, 2, 3}):
				return false, fmt.Sprint(views)
			case v.controller <= 0 || v.controller != first.controller,
				v.leader != first.leader, v.epoch != first.epoch,
				!slices.Equal(v.replicas, first.replicas):
				return false, fmt.Sprint(views)
			case !want(v):
				return false, fmt.Sprint(views)
			}
		}
		agreed = first
		return true, ""
	})
	return agreed
}

func (r *rulesRun) createTopicReq() *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = r.topic
	rt.NumPartitions = 1
	rt.ReplicationFactor = 3
	req.Topics = append(req.Topics, rt)
	return req
}

// createTopic sends CreateTopics to a non-controller (NOT_CONTROLLER) and
// then to the controller (created).
func (r *rulesRun) createTopic(ctrl int) {
	r.t.Helper()
	for _, id := range others(ctrl, 1, 2, 3) {
		resp := r.mustRoundTrip(id, r.createTopicReq()).(*kmsg.CreateTopicsResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.NotController.Code {
			r.t.Fatalf("CreateTopics v7 %q to non-controller %d (controller %d): %+v, want error %d (NOT_CONTROLLER)",
				r.topic, id, ctrl, resp.Topics, kerr.NotController.Code)
		}
	}
	resp := r.mustRoundTrip(ctrl, r.createTopicReq()).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		r.t.Fatalf("CreateTopics v7 %q to controller %d: %+v, want success", r.topic, ctrl, resp.Topics)
	}
	if tp := resp.Topics[0]; tp.NumPartitions != 1 || tp.ReplicationFactor != 3 {
		r.t.Errorf("CreateTopics v7 %q: answered %d partitions, replication factor %d; want 1, 3", r.topic, tp.NumPartitions, tp.ReplicationFactor)
	}
}

// ackedRecord is a record a produce with acks=-1 acknowledged at Offset,
// sent to the leader of Epoch (as Metadata named it).
type ackedRecord struct {
	Offset int64
	Value  string
	Epoch  int32
}

func (r *rulesRun) produceReq(n int) (*kmsg.ProduceRequest, []string) {
	var recs []wire.Record
	var values []string
	for range n {
		r.seq++
		v := fmt.Sprintf("rules-%03d", r.seq)
		values = append(values, v)
		recs = append(recs, wire.Record{Key: []byte("k"), Value: []byte(v)})
	}
	batch := wire.AppendBatch(nil, wire.BatchSpec{
		FirstTimestamp: time.Now().UnixMilli(),
		ProducerID:     -1, ProducerEpoch: -1, BaseSequence: -1,
		Records: recs,
	})
	req := kmsg.NewPtrProduceRequest()
	req.Version = 10
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = r.topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 0
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req, values
}

func produceResult(resp kmsg.Response) (kmsg.ProduceResponseTopicPartition, error) {
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		return kmsg.ProduceResponseTopicPartition{}, fmt.Errorf("produce answered %+v, want one topic, one partition", pr.Topics)
	}
	return pr.Topics[0].Partitions[0], nil
}

// produceToFollower checks rule 2: NOT_LEADER_OR_FOLLOWER with the current
// leader, its epoch and its endpoint (KIP-951).
func (r *rulesRun) produceToFollower(id, leader int, epoch int32) {
	r.t.Helper()
	req, _ := r.produceReq(1)
	r.seq-- // nothing is appended
	resp := r.mustRoundTrip(id, req).(*kmsg.ProduceResponse)
	p, err := produceResult(resp)
	if err != nil {
		r.t.Fatalf("Produce v10 to follower %d: %v", id, err)
	}
	if p.ErrorCode != kerr.NotLeaderForPartition.Code {
		r.t.Fatalf("Produce v10 acks=-1 to follower %d: error %d, base offset %d; want %d (NOT_LEADER_OR_FOLLOWER)", id, p.ErrorCode, p.BaseOffset, kerr.NotLeaderForPartition.Code)
	}
	if p.CurrentLeader.LeaderID != int32(leader) || p.CurrentLeader.LeaderEpoch != epoch {
		r.t.Errorf("Produce v10 to follower %d: CurrentLeader %d epoch %d, want %d epoch %d", id, p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch, leader, epoch)
	}
	want := r.cl.Node(leader).KafkaAddr
	var got []string
	found := false
	for _, b := range resp.Brokers {
		a := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
		got = append(got, fmt.Sprintf("%d@%s", b.NodeID, a))
		if b.NodeID == int32(leader) && a == want {
			found = true
		}
	}
	if !found {
		r.t.Errorf("Produce v10 to follower %d: Brokers %v, want an entry %d@%s for the leader", id, got, leader, want)
	}
}

// produceAcked produces one batch of n records to the leader; it must succeed
// at the offset right after the last acknowledged one.
func (r *rulesRun) produceAcked(leader int, epoch int32, acked []ackedRecord, n int) []ackedRecord {
	r.t.Helper()
	req, values := r.produceReq(n)
	p, err := produceResult(r.mustRoundTrip(leader, req))
	if err != nil {
		r.t.Fatalf("Produce v10 to leader %d: %v", leader, err)
	}
	next := int64(len(acked))
	if p.ErrorCode != 0 || p.BaseOffset != next {
		r.t.Fatalf("Produce v10 acks=-1 of %d records to leader %d: error %d, base offset %d; want success at offset %d", n, leader, p.ErrorCode, p.BaseOffset, next)
	}
	for i, v := range values {
		acked = append(acked, ackedRecord{Offset: next + int64(i), Value: v, Epoch: epoch})
	}
	return acked
}

// produceAckedRetrying is produceAcked at a new leader, which answers
// NOT_LEADER_OR_FOLLOWER until it has committed an entry of its term (rule
// 1); that answer is retried, anything else fails.
func (r *rulesRun) produceAckedRetrying(leader int, epoch int32, acked []ackedRecord, n int) []ackedRecord {
	r.t.Helper()
	seq := r.seq
	var values []string
	var p kmsg.ProduceResponseTopicPartition
	r.poll(fmt.Sprintf("produce acknowledged by new leader %d", leader), rulesSettle, func() (bool, string) {
		r.seq = seq
		var req *kmsg.ProduceRequest
		req, values = r.produceReq(n)
		resp, err := r.roundTrip(leader, req)
		if err != nil {
			return false, err.Error()
		}
		if p, err = produceResult(resp); err != nil {
			r.t.Fatal(err)
		}
		switch p.ErrorCode {
		case 0:
			return true, ""
		case kerr.NotLeaderForPartition.Code:
			return false, fmt.Sprintf("error %d, current leader %d epoch %d", p.ErrorCode, p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch)
		}
		r.t.Fatalf("Produce v10 acks=-1 to new leader %d: error %d (%v)", leader, p.ErrorCode, kerr.ErrorForCode(p.ErrorCode))
		return false, ""
	})
	// A NOT_LEADER_OR_FOLLOWER from a leader not yet serving appended
	// nothing, so the batch lands right after what was acknowledged.
	next := int64(len(acked))
	if p.BaseOffset != next {
		r.t.Fatalf("Produce v10 to new leader %d: base offset %d, want %d (right after the %d acknowledged records)", leader, p.BaseOffset, next, next)
	}
	for i, v := range values {
		acked = append(acked, ackedRecord{Offset: next + int64(i), Value: v, Epoch: epoch})
	}
	return acked
}

func (r *rulesRun) fetchReq(offset int64, epoch int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = -1
	req.MaxWaitMillis = 200
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionID = 0
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = r.topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = 0
	rp.FetchOffset = offset
	rp.CurrentLeaderEpoch = epoch
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchResult(resp kmsg.Response) (kmsg.FetchResponseTopicPartition, error) {
	fr := resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 {
		return kmsg.FetchResponseTopicPartition{}, fmt.Errorf("fetch answered top-level error %d", fr.ErrorCode)
	}
	if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		return kmsg.FetchResponseTopicPartition{}, fmt.Errorf("fetch answered %d topics, want one topic, one partition", len(fr.Topics))
	}
	return fr.Topics[0].Partitions[0], nil
}

func (r *rulesRun) fetchFromFollower(id int, epoch int32) {
	r.t.Helper()
	p, err := fetchResult(r.mustRoundTrip(id, r.fetchReq(0, epoch)))
	if err != nil {
		r.t.Fatalf("Fetch v12 to follower %d: %v", id, err)
	}
	if p.ErrorCode != kerr.NotLeaderForPartition.Code {
		r.t.Fatalf("Fetch v12 to follower %d (epoch %d): error %d, high watermark %d, %d bytes; want %d (NOT_LEADER_OR_FOLLOWER)",
			id, epoch, p.ErrorCode, p.HighWatermark, len(p.RecordBatches), kerr.NotLeaderForPartition.Code)
	}
}

// fetchedRecord is one record read back, with its batch's leader epoch.
type fetchedRecord struct {
	Offset int64
	Value  string
	Epoch  int32
}

// checkLog reads the whole partition from the leader (fetching in its
// epoch) and checks it holds every acknowledged record at its offset, in
// order, in a batch stamped with the leader epoch it was acknowledged in;
// that the high watermark is exactly the acknowledged records (no produce
// here had an ambiguous outcome) and never went back.
func (r *rulesRun) checkLog(leader int, epoch int32, acked []ackedRecord) {
	r.t.Helper()
	var got []fetchedRecord
	var hw int64 = -1
	for offset := int64(0); hw < 0 || offset < hw; {
		p, err := fetchResult(r.mustRoundTrip(leader, r.fetchReq(offset, epoch)))
		if err != nil {
			r.t.Fatalf("Fetch v12 to leader %d at %d: %v", leader, offset, err)
		}
		if p.ErrorCode != 0 {
			r.t.Fatalf("Fetch v12 to leader %d at offset %d, epoch %d: error %d (%v)", leader, offset, epoch, p.ErrorCode, kerr.ErrorForCode(p.ErrorCode))
		}
		if p.HighWatermark < r.hwMax {
			r.t.Fatalf("Fetch v12 to leader %d: high watermark %d, below %d seen before (rule 5)", leader, p.HighWatermark, r.hwMax)
		}
		r.hwMax, hw = p.HighWatermark, p.HighWatermark
		if offset >= hw {
			break
		}
		batches, err := wire.SplitBatches(p.RecordBatches)
		if err != nil {
			r.t.Fatalf("Fetch v12 to leader %d at %d: %v", leader, offset, err)
		}
		if len(batches) == 0 {
			r.t.Fatalf("Fetch v12 to leader %d at %d: no records below high watermark %d", leader, offset, hw)
		}
		for _, b := range batches {
			h, recs, err := wire.ParseRecords(b)
			if err != nil {
				r.t.Fatalf("Fetch v12 to leader %d: batch at %d: %v", leader, offset, err)
			}
			for i, rec := range recs {
				off := h.BaseOffset + int64(i)
				if off < offset {
					continue // a batch starting before the fetch offset
				}
				if off >= hw {
					r.t.Fatalf("Fetch v12 to leader %d: record at offset %d, at or above high watermark %d (rule 5)", leader, off, hw)
				}
				got = append(got, fetchedRecord{Offset: off, Value: string(rec.Value), Epoch: h.PartitionLeaderEpoch})
			}
			offset = h.BaseOffset + int64(h.LastOffsetDelta) + 1
		}
	}
	if hw < int64(len(acked)) {
		r.t.Fatalf("leader %d: high watermark %d below the %d records acknowledged (rule 5)", leader, hw, len(acked))
	}
	if hw != int64(len(acked)) {
		r.t.Errorf("leader %d: high watermark %d, want %d (the records produced)", leader, hw, len(acked))
	}
	for i, a := range acked {
		if i >= len(got) || got[i].Offset != a.Offset || got[i].Value != a.Value {
			var g any = "nothing"
			if i < len(got) {
				g = got[i]
			}
			r.t.Fatalf("leader %d: acknowledged record %d (%q at offset %d) reads back as %v; log %v", leader, i, a.Value, a.Offset, g, got)
		}
		if got[i].Epoch != a.Epoch {
			r.t.Errorf("leader %d: record at offset %d is in a batch of leader epoch %d, want %d (Metadata's when it was acknowledged; rule 6)", leader, got[i].Offset, got[i].Epoch, a.Epoch)
		}
	}
}

// checkEpochFencing checks rule 6 at the leader: an older epoch is fenced,
// a newer one unknown.
func (r *rulesRun) checkEpochFencing(leader int, epoch int32) {
	r.t.Helper()
	for _, c := range []struct {
		epoch int32
		want  int16
	}{
		{epoch - 1, kerr.FencedLeaderEpoch.Code},
		{epoch + 1, kerr.UnknownLeaderEpoch.Code},
	} {
		p, err := fetchResult(r.mustRoundTrip(leader, r.fetchReq(0, c.epoch)))
		if err != nil {
			r.t.Fatalf("Fetch v12 to leader %d: %v", leader, err)
		}
		if p.ErrorCode != c.want {
			r.t.Errorf("Fetch v12 to leader %d (epoch %d) with CurrentLeaderEpoch %d: error %d, %d bytes; want %d (%v)",
				leader, epoch, c.epoch, p.ErrorCode, len(p.RecordBatches), c.want, kerr.ErrorForCode(c.want))
		}
	}
}

// checkListOffsets checks ListOffsets v6 latest at the leader = hw.
func (r *rulesRun) checkListOffsets(leader int, epoch int32, hw int64) {
	r.t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 6
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = r.topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = 0
	rp.CurrentLeaderEpoch = epoch
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := r.mustRoundTrip(leader, req).(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		r.t.Fatalf("ListOffsets v6 to leader %d: %+v", leader, resp.Topics)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.Offset != hw || p.LeaderEpoch != epoch {
		r.t.Errorf("ListOffsets v6 latest to leader %d: error %d, offset %d, leader epoch %d; want offset %d (the high watermark), epoch %d",
			leader, p.ErrorCode, p.Offset, p.LeaderEpoch, hw, epoch)
	}
}

// quietTail is the last n lines of a node's log without "peer connected"
// lines: a dialer whose proxy accepts while the peer behind it is down
// reconnects in a tight loop and floods the log with them.
func quietTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var keep []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if !strings.Contains(l, `msg="peer connected"`) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep[max(0, len(keep)-n):], "\n")
}
