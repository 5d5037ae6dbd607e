package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/ketch-dev/ketch/wal"
	"github.com/ketch-dev/ketch/wire"
)

func produceOne(t testing.TB, h *harness, id uint64, topic string, p *producer, vals ...string) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	resp := h.do(id, produceReq(topic, 0, p, vals...)).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

func fetchAll(t testing.TB, h *harness, id uint64, topic string) (kmsg.FetchResponseTopicPartition, []string) {
	t.Helper()
	resp := h.do(id, fetchReq(topic, 0, 0, 0, 0)).(*kmsg.FetchResponse)
	p := resp.Topics[0].Partitions[0]
	return p, values(t, p.RecordBatches)
}

// waitServing waits until a Metadata answer from node id shows topic's
// partition 0 with a leader, and a produce there is accepted.
func waitTopic(t testing.TB, h *harness, id uint64, topic string) int32 {
	t.Helper()
	var leader int32 = -1
	h.until(20*time.Second, "leader for "+topic, func() bool {
		leader, _ = h.partitionLeader(id, topic, 0)
		return leader > 0 && serves(h, uint64(leader), topic)
	})
	return leader
}

// serves reports whether node id leads topic's partition 0 and serves it:
// Metadata names a raft leader before it committed an entry of its term
// (a follower learns it from that entry's append), and until then the
// leader answers NOT_LEADER_OR_FOLLOWER.
func serves(h *harness, id uint64, topic string) bool {
	tn := h.nodes[id]
	if tn == nil || tn.down {
		return false
	}
	t := tn.n.meta.topics[topic]
	if t == nil {
		return false
	}
	g := tn.n.groups[t.partitions[0].group]
	return g != nil && g.serving()
}

func TestSingleNodeProduceFetch(t *testing.T) {
	h := newHarness(t, 1)
	// Auto-creation: the first Metadata creates the topic.
	leader := waitTopic(t, h, 1, "events")
	if leader != 1 {
		t.Fatalf("leader %d, want 1", leader)
	}
	var p kmsg.ProduceResponseTopicPartition
	h.until(5*time.Second, "a served produce", func() bool {
		p = produceOne(t, h, 1, "events", nil, "a", "b")
		return p.ErrorCode != kerr.NotLeaderForPartition.Code
	})
	if p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("produce: code %d base %d", p.ErrorCode, p.BaseOffset)
	}
	p = produceOne(t, h, 1, "events", nil, "c")
	if p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatalf("second produce: code %d base %d", p.ErrorCode, p.BaseOffset)
	}
	fp, got := fetchAll(t, h, 1, "events")
	if fp.ErrorCode != 0 || fp.HighWatermark != 3 {
		t.Fatalf("fetch: code %d hw %d", fp.ErrorCode, fp.HighWatermark)
	}
	if diff := cmp.Diff([]string{"0:a", "1:b", "2:c"}, got); diff != "" {
		t.Fatalf("fetched records (-want +got):\n%s", diff)
	}
	// The leader epoch stamped on the batches is the raft term.
	_, epoch := h.partitionLeader(1, "events", 0)
	resp := h.do(1, fetchReq("events", 0, 0, 0, 0)).(*kmsg.FetchResponse)
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(resp.Topics[0].Partitions[0].RecordBatches); err != nil {
		t.Fatal(err)
	}
	if rb.PartitionLeaderEpoch != epoch || epoch <= 0 {
		t.Fatalf("batch leader epoch %d, metadata epoch %d", rb.PartitionLeaderEpoch, epoch)
	}
}

func TestFetchLongPoll(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "lp")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "lp", nil, "x").ErrorCode == 0
	})
	// A fetch at the end waits for data up to MaxWaitMillis.
	c, _ := h.send(1, fetchReq("lp", 0, 1, 2000, 1))
	h.run(500 * time.Millisecond)
	if len(h.nodes[1].got[c]) != 0 {
		t.Fatalf("fetch with MinBytes=1 answered before any data or its deadline")
	}
	produceOne(t, h, 1, "lp", nil, "y")
	h.until(time.Second, "the parked fetch's answer", func() bool { return len(h.nodes[1].got[c]) > 0 })
	_, resp, _ := parseFetch(t, h.nodes[1].got[c][0])
	if got := values(t, resp.Topics[0].Partitions[0].RecordBatches); !cmp.Equal(got, []string{"1:y"}) {
		t.Fatalf("woken fetch got %v", got)
	}
	// With nothing arriving, the fetch answers empty at its deadline, not before.
	start := h.now
	c, _ = h.send(1, fetchReq("lp", 0, 2, 1000, 1))
	h.until(3*time.Second, "an empty answer at the deadline", func() bool { return len(h.nodes[1].got[c]) > 0 })
	if waited := h.now.Sub(start); waited < time.Second {
		t.Fatalf("answered after %v, before MaxWaitMillis", waited)
	}
}

func parseFetch(t *testing.T, frame []byte) (int32, *kmsg.FetchResponse, error) {
	t.Helper()
	req := fetchReq("", 0, 0, 0, 0)
	corr, resp, err := wireParse(frame, req)
	if err != nil {
		t.Fatal(err)
	}
	return corr, resp.(*kmsg.FetchResponse), nil
}

func TestIdempotentRetry(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "idem")
	var pid *kmsg.InitProducerIDResponse
	h.until(5*time.Second, "a producer id", func() bool {
		r := kmsg.NewPtrInitProducerIDRequest()
		r.Version = 4
		pid = h.do(1, r).(*kmsg.InitProducerIDResponse)
		return pid.ErrorCode == 0
	})
	p := &producer{id: pid.ProducerID, epoch: pid.ProducerEpoch}
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "idem", &producer{id: p.id, epoch: p.epoch}, "a", "b").ErrorCode == 0
	})
	p.seq = 2
	first := produceOne(t, h, 1, "idem", p, "c")
	// The same batch again (a retry after a lost answer) gets the same offset
	// and is not appended twice.
	p.seq = 2
	again := produceOne(t, h, 1, "idem", p, "c")
	if first.ErrorCode != 0 || again.ErrorCode != 0 || again.BaseOffset != first.BaseOffset {
		t.Fatalf("retry: first %d@%d, again %d@%d", first.ErrorCode, first.BaseOffset, again.ErrorCode, again.BaseOffset)
	}
	// A gap in the sequence is refused.
	p.seq = 10
	if gap := produceOne(t, h, 1, "idem", p, "z"); gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap: code %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", gap.ErrorCode)
	}
	_, got := fetchAll(t, h, 1, "idem")
	if diff := cmp.Diff([]string{"0:a", "1:b", "2:c"}, got); diff != "" {
		t.Fatalf("log (-want +got):\n%s", diff)
	}
}

func TestRestartReplaysLog(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "durable")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "durable", nil, "v0").ErrorCode == 0
	})
	var want []string
	want = append(want, "0:v0")
	for i := 1; i < 20; i++ {
		v := fmt.Sprintf("v%d", i)
		if p := produceOne(t, h, 1, "durable", nil, v); p.ErrorCode != 0 || p.BaseOffset != int64(i) {
			t.Fatalf("produce %d: code %d base %d", i, p.ErrorCode, p.BaseOffset)
		}
		want = append(want, fmt.Sprintf("%d:%s", i, v))
	}
	// Every acknowledged record was synced: a crash that keeps only synced
	// bytes loses none of them.
	fs := h.crash(1)
	h.start(1, fs)
	var got []string
	h.until(10*time.Second, "the log served again", func() bool {
		var fp kmsg.FetchResponseTopicPartition
		fp, got = fetchAll(t, h, 1, "durable")
		return fp.ErrorCode == 0 && fp.HighWatermark == 20
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("after restart (-want +got):\n%s", diff)
	}
}

func TestBadProduceInput(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "bad")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "bad", nil, "ok").ErrorCode == 0
	})
	req := produceReq("bad", 0, nil, "x")
	req.Topics[0].Partitions[0].Records[len(req.Topics[0].Partitions[0].Records)-1] ^= 0xff
	p := h.do(1, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	if p.ErrorCode != kerr.CorruptMessage.Code {
		t.Fatalf("bad CRC: code %d, want CORRUPT_MESSAGE", p.ErrorCode)
	}
	big := make([]byte, 2<<20)
	p = produceOne(t, h, 1, "bad", nil, string(big))
	if p.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("big batch: code %d, want MESSAGE_TOO_LARGE", p.ErrorCode)
	}
	p = produceOne(t, h, 1, "nope", nil, "x")
	if p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: code %d", p.ErrorCode)
	}
	_, got := fetchAll(t, h, 1, "bad")
	if !cmp.Equal(got, []string{"0:ok"}) {
		t.Fatalf("log after refused produces: %v", got)
	}
}

// TestThreeNodeFailover is the multi-node core in one transcript: a follower
// refuses produce, the leader's acknowledged writes survive its isolation,
// the new leader serves them, and the old one stops serving.
func TestThreeNodeFailover(t *testing.T) {
	h := newHarness(t, 3)
	var ctrl int32
	h.until(20*time.Second, "a controller", func() bool {
		ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0
	})
	h.until(10*time.Second, "topic created", func() bool {
		r := h.do(uint64(ctrl), createReq("orders", 1, 3)).(*kmsg.CreateTopicsResponse)
		c := r.Topics[0].ErrorCode
		return c == 0 || c == kerr.TopicAlreadyExists.Code
	})
	leader := uint64(waitTopic(t, h, uint64(ctrl), "orders"))
	var follower uint64
	for _, id := range h.ids {
		if id != leader {
			follower = id
			break
		}
	}
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, leader, "orders", nil, "o0").ErrorCode == 0
	})
	if p := produceOne(t, h, follower, "orders", nil, "nope"); p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("follower %d answered produce with %d, want NOT_LEADER_OR_FOLLOWER", follower, p.ErrorCode)
	} else if p.CurrentLeader.LeaderID != int32(leader) || p.CurrentLeader.LeaderEpoch <= 0 {
		t.Fatalf("follower's leader hint %+v, want leader %d", p.CurrentLeader, leader)
	}
	// Fetch v16 carries the same hint (KIP-951), with the leader's endpoint.
	fr := fetchReq("orders", 0, 0, 0, 0)
	fr.Version = 16
	fr.Topics[0].TopicID = h.do(leader, metadataReq("orders")).(*kmsg.MetadataResponse).Topics[0].TopicID
	resp := h.do(follower, fr).(*kmsg.FetchResponse)
	if fp := resp.Topics[0].Partitions[0]; fp.ErrorCode != kerr.NotLeaderForPartition.Code || fp.CurrentLeader.LeaderID != int32(leader) || fp.CurrentLeader.LeaderEpoch <= 0 {
		t.Fatalf("follower %d answered fetch v16 with code %d, hint %+v; want NOT_LEADER_OR_FOLLOWER naming leader %d", follower, fp.ErrorCode, fp.CurrentLeader, leader)
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != int32(leader) || resp.Brokers[0].Port != int32(9000+leader) {
		t.Fatalf("fetch v16 hint endpoints %+v, want leader %d's alone", resp.Brokers, leader)
	}
	want := []string{"0:o0"}
	for i := 1; i < 5; i++ {
		p := produceOne(t, h, leader, "orders", nil, fmt.Sprintf("o%d", i))
		if p.ErrorCode != 0 {
			t.Fatalf("produce %d: %d", i, p.ErrorCode)
		}
		want = append(want, fmt.Sprintf("%d:o%d", p.BaseOffset, i))
	}

	h.isolate(leader)
	var newLeader uint64
	h.until(20*time.Second, "a new leader", func() bool {
		l, _ := h.partitionLeader(follower, "orders", 0)
		newLeader = uint64(l)
		return l > 0 && uint64(l) != leader
	})
	var got []string
	h.until(10*time.Second, "the new leader serving", func() bool {
		var fp kmsg.FetchResponseTopicPartition
		fp, got = fetchAll(t, h, newLeader, "orders")
		return fp.ErrorCode == 0
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("new leader %d lost acknowledged records (-want +got):\n%s", newLeader, diff)
	}
	// The isolated old leader cannot confirm its leadership: it must not
	// serve a read, nor acknowledge a write.
	if resp, ok := h.tryDo(leader, fetchReq("orders", 0, 0, 0, 0), 10*time.Second); ok {
		if p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode == 0 {
			t.Fatalf("isolated old leader %d served a fetch (hw %d)", leader, p.HighWatermark)
		}
	}
	if resp, ok := h.tryDo(leader, produceReq("orders", 0, nil, "lost"), 10*time.Second); ok {
		if p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode == 0 {
			t.Fatalf("isolated old leader %d acknowledged a write", leader)
		}
	}
	// Writes continue on the new leader; after healing, the old leader
	// catches up as a follower.
	if p := produceOne(t, h, newLeader, "orders", nil, "after"); p.ErrorCode != 0 {
		t.Fatalf("produce on new leader: %d", p.ErrorCode)
	}
	h.heal()
	h.run(3 * time.Second)
	if p := produceOne(t, h, leader, "orders", nil, "x"); p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("healed old leader answered produce with %d", p.ErrorCode)
	}
}

// TestFollowersServeMetadataAndProducerIDs: every broker registers its
// address, any broker allocates producer ids (followers forward to the
// metadata leader), and a broker that is not a partition's replica still
// names its leader in Metadata.
func TestFollowersServeMetadataAndProducerIDs(t *testing.T) {
	h := newHarness(t, 3)
	var ctrl int32
	h.until(20*time.Second, "a controller", func() bool {
		ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0
	})
	h.until(10*time.Second, "every broker registered", func() bool {
		for _, id := range h.ids {
			bs := h.do(id, metadataReq()).(*kmsg.MetadataResponse).Brokers
			if len(bs) != 3 {
				return false
			}
			for _, b := range bs {
				if b.Port != 9000+b.NodeID {
					return false
				}
			}
		}
		return true
	})
	follower := uint64(1)
	if uint64(ctrl) == follower {
		follower = 2
	}
	var r *kmsg.InitProducerIDResponse
	h.until(10*time.Second, "a producer id from a follower", func() bool {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = 4
		r = h.do(follower, req).(*kmsg.InitProducerIDResponse)
		return r.ErrorCode == 0
	})
	if r.ProducerID < 0 {
		t.Fatalf("producer id %d", r.ProducerID)
	}
	// One replica only: two brokers are not replicas of the partition.
	h.until(10*time.Second, "topic created", func() bool {
		c := h.do(uint64(ctrl), createReq("single", 1, 1)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
		return c == 0 || c == kerr.TopicAlreadyExists.Code
	})
	for _, id := range h.ids {
		var leader int32
		h.until(10*time.Second, fmt.Sprintf("node %d naming the leader", id), func() bool {
			leader, _ = h.partitionLeader(id, "single", 0)
			return leader > 0
		})
		if p := produceOne(t, h, uint64(leader), "single", nil, "x"); p.ErrorCode != 0 {
			h.until(5*time.Second, "produce on the named leader", func() bool {
				return produceOne(t, h, uint64(leader), "single", nil, "x").ErrorCode == 0
			})
		}
	}
}

// TestTransferLeadership: a node shutting down hands every group it leads to
// another voter, and writes continue there without an election timeout.
func TestTransferLeadership(t *testing.T) {
	h := newHarness(t, 3)
	leader := uint64(waitTopic(t, h, 1, "moving"))
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, leader, "moving", nil, "a").ErrorCode == 0
	})
	start := h.now
	h.until(2*time.Second, "leadership handed over", func() bool {
		return h.nodes[leader].n.TransferLeadership() == 0
	})
	if took := h.now.Sub(start); took >= time.Second {
		t.Fatalf("handing over took %v, as long as an election", took)
	}
	var next uint64
	h.until(5*time.Second, "a new partition leader", func() bool {
		for _, id := range h.ids {
			for _, st := range h.nodes[id].n.Status() {
				if st.Topic == "moving" && st.Serving && id != leader {
					next = id
				}
			}
		}
		return next != 0
	})
	if p := produceOne(t, h, next, "moving", nil, "b"); p.ErrorCode != 0 || p.BaseOffset != 1 {
		t.Fatalf("produce on new leader %d: code %d base %d", next, p.ErrorCode, p.BaseOffset)
	}
}

// TestAcksZeroErrorClosesConnection: with acks=0 there is no answer to carry
// an error, so the broker closes the connection (as Kafka does) and the
// client refreshes its metadata.
func TestAcksZeroErrorClosesConnection(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "zero")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "zero", nil, "a").ErrorCode == 0
	})
	ok := produceReq("zero", 0, nil, "b")
	ok.Acks = 0
	c, _ := h.send(1, ok)
	h.run(time.Second)
	if h.nodes[1].closed[c] || len(h.nodes[1].got[c]) != 0 {
		t.Fatalf("acks=0 produce that succeeded: closed %v, %d answers", h.nodes[1].closed[c], len(h.nodes[1].got[c]))
	}
	bad := produceReq("no-such-topic", 0, nil, "c")
	bad.Acks = 0
	c, _ = h.send(1, bad)
	h.until(time.Second, "the connection closed", func() bool { return h.nodes[1].closed[c] })
	if _, got := fetchAll(t, h, 1, "zero"); !cmp.Equal(got, []string{"0:a", "1:b"}) {
		t.Fatalf("log %v", got)
	}
}

// TestClientCompat covers what real clients trip on: librdkafka rejects a
// null record set (it wants an empty one), and kafka-python probes with
// Metadata v0, where an empty topic list means every topic.
func TestClientCompat(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "compat")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "compat", nil, "a").ErrorCode == 0
	})
	for _, offset := range []int64{1, 99} { // at the high watermark; out of range
		p := h.do(1, fetchReq("compat", 0, offset, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if p.RecordBatches == nil {
			t.Errorf("fetch at %d (code %d): null record set", offset, p.ErrorCode)
		}
	}
	m := kmsg.NewPtrMetadataRequest()
	m.Version = 0
	m.Topics = []kmsg.MetadataRequestTopic{}
	resp := h.do(1, m).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || *resp.Topics[0].Topic != "compat" || len(resp.Brokers) != 1 {
		t.Fatalf("metadata v0 for all topics: %d topics, %d brokers", len(resp.Topics), len(resp.Brokers))
	}
}

// TestResponseCountsAnswers: answers completed in one Process leave as one
// Response per connection, and Answers says how many requests it answers
// (the host releases that many in-flight slots; one per Response leaked
// them until the connection was down to one request at a time).
func TestResponseCountsAnswers(t *testing.T) {
	l, err := wal.Open(wal.NewMemFS(), "wal", wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{ID: 1, Log: l, Incarnation: 1})
	if err != nil {
		t.Fatal(err)
	}
	n.Tick(time.Unix(1_700_000_000, 0))
	const c, reqs = ConnID(7), 5
	for i := range reqs {
		frame := wire.AppendRequest(nil, int32(i), nil, &kmsg.ApiVersionsRequest{Version: 0})
		n.HandleFrame(c, frame[4:])
	}
	out, err := n.Process()
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Responses) != 1 {
		t.Fatalf("%d responses, want one for the connection", len(out.Responses))
	}
	r := out.Responses[0]
	if r.Conn != c || r.Answers != reqs || r.Close {
		t.Fatalf("response conn %d answers %d close %v, want conn %d answers %d", r.Conn, r.Answers, r.Close, c, reqs)
	}
	fr := wire.NewFrameReader(0)
	fr.Feed(r.Data)
	for i := range reqs {
		f, ok, err := fr.Next()
		if err != nil || !ok {
			t.Fatalf("answer %d: ok %v err %v", i, ok, err)
		}
		if corr, _, err := wireParse(f, &kmsg.ApiVersionsRequest{Version: 0}); err != nil || corr != int32(i) {
			t.Fatalf("answer %d: correlation id %d, err %v", i, corr, err)
		}
	}
}

// TestMetadataSnapshots: the metadata log is compacted behind snapshots; a
// follower that was cut off past the log start catches up from the leader's
// snapshot, and nodes restart from snapshot plus log.
func TestMetadataSnapshots(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) {
		c.MetaSnapshotEntries = 8
	})
	var ctrl int32
	h.until(20*time.Second, "a controller", func() bool {
		ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0
	})
	lagger := uint64(ctrl)%3 + 1
	h.isolate(lagger)
	var topics []string
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("t%02d", i)
		h.until(10*time.Second, "topic "+name, func() bool {
			c := h.do(uint64(ctrl), createReq(name, 1, 3)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
			return c == 0 || c == kerr.TopicAlreadyExists.Code
		})
		topics = append(topics, name)
	}
	var first uint64
	for _, st := range h.nodes[uint64(ctrl)].n.Status() {
		if st.Group == 0 {
			first = st.Applied
		}
	}
	if fi, _ := h.nodes[uint64(ctrl)].log.Storage(0).FirstIndex(); fi <= 1 {
		t.Fatalf("the metadata log was not compacted (first index %d, applied %d)", fi, first)
	}
	h.heal()
	seesAll := func(id uint64) bool {
		resp := h.do(id, metadataReq()).(*kmsg.MetadataResponse)
		n := 0
		for _, tp := range resp.Topics {
			if tp.ErrorCode == 0 || tp.ErrorCode == kerr.LeaderNotAvailable.Code {
				n++
			}
		}
		return n == len(topics)
	}
	h.until(20*time.Second, "the lagging follower caught up by snapshot", func() bool { return seesAll(lagger) })
	// It hosts the partition groups the snapshot told it about.
	hosted := 0
	for _, st := range h.nodes[lagger].n.Status() {
		if st.Topic != "" {
			hosted++
		}
	}
	if hosted != len(topics) {
		t.Fatalf("lagger hosts %d partition groups, want %d", hosted, len(topics))
	}
	// Restarts rebuild from snapshot plus log, on every node.
	for _, id := range h.ids {
		fs := h.crash(id)
		h.start(id, fs)
		h.until(20*time.Second, fmt.Sprintf("node %d back with every topic", id), func() bool { return seesAll(id) })
	}
	h.until(20*time.Second, "a produce after the restarts", func() bool {
		for _, id := range h.ids {
			for _, st := range h.nodes[id].n.Status() {
				if st.Topic == "t07" && st.Serving {
					return produceOne(t, h, id, "t07", nil, "x").ErrorCode == 0
				}
			}
		}
		return false
	})
}

// TestDeleteTopic: deleting a topic drops its partitions on every replica;
// a topic created again under the name is a new topic (new id, empty log),
// also after a restart replays the log.
func TestDeleteTopic(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "gone")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "gone", nil, "old").ErrorCode == 0
	})
	oldID := h.do(1, metadataReq("gone")).(*kmsg.MetadataResponse).Topics[0].TopicID
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version = 6
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr("gone")
	del.Topics = append(del.Topics, dt)
	del.TimeoutMillis = 5000
	if r := h.do(1, del).(*kmsg.DeleteTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete: %d", r.Topics[0].ErrorCode)
	}
	if p := produceOne(t, h, 1, "gone", nil, "x"); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to a deleted topic: %d", p.ErrorCode)
	}
	for _, st := range h.nodes[1].n.Status() {
		if st.Topic == "gone" {
			t.Fatalf("the deleted topic's group %d is still hosted", st.Group)
		}
	}
	again := func() {
		t.Helper()
		h.until(10*time.Second, "the topic created again", func() bool {
			r := h.do(1, createReq("gone", 1, 1)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
			return r == 0 || r == kerr.TopicAlreadyExists.Code
		})
	}
	again()
	h.until(5*time.Second, "a produce to the new topic", func() bool {
		return produceOne(t, h, 1, "gone", nil, "new").ErrorCode == 0
	})
	check := func(when string) {
		t.Helper()
		md := h.do(1, metadataReq("gone")).(*kmsg.MetadataResponse).Topics[0]
		if md.TopicID == oldID {
			t.Fatalf("%s: the new topic has the old topic's id", when)
		}
		var got []string
		h.until(10*time.Second, when+": the new topic served", func() bool {
			var fp kmsg.FetchResponseTopicPartition
			fp, got = fetchAll(t, h, 1, "gone")
			return fp.ErrorCode == 0
		})
		if !cmp.Equal(got, []string{"0:new"}) {
			t.Fatalf("%s: the new topic's log is %v, want only the new record", when, got)
		}
	}
	check("before a restart")
	fs := h.crash(1)
	h.start(1, fs)
	check("after a restart")
}

// TestLostSnapshotIsResent: a follower far enough behind to need the
// metadata snapshot loses the MsgSnap (the transport drops it). The leader
// must send it again rather than leave the follower paused in StateSnapshot,
// and the follower catches up, serves Metadata with every topic and answers
// the requests it forwards to the metadata leader.
func TestLostSnapshotIsResent(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) { c.MetaSnapshotEntries = 8 })
	var ctrl int32
	h.until(20*time.Second, "a controller", func() bool {
		ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0
	})
	lagger := uint64(ctrl)%3 + 1
	h.isolate(lagger)
	var topics []string
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("t%02d", i)
		h.until(10*time.Second, "topic "+name, func() bool {
			c := h.do(uint64(ctrl), createReq(name, 1, 3)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
			return c == 0 || c == kerr.TopicAlreadyExists.Code
		})
		topics = append(topics, name)
	}
	if fi, _ := h.nodes[uint64(ctrl)].log.Storage(0).FirstIndex(); fi <= 1 {
		t.Fatalf("the metadata log was not compacted (first index %d)", fi)
	}
	dropped := 0
	h.drop = func(from uint64, m PeerMessage) bool {
		if m.Msg != nil && m.Msg.GetType() == raftpb.MsgSnap && m.To == lagger && dropped == 0 {
			dropped++
			return true
		}
		return false
	}
	h.heal()
	h.until(5*time.Second, "the snapshot sent (and dropped)", func() bool { return dropped == 1 })
	seesAll := func(id uint64) bool {
		resp := h.do(id, metadataReq()).(*kmsg.MetadataResponse)
		n := 0
		for _, tp := range resp.Topics {
			if tp.ErrorCode == 0 || tp.ErrorCode == kerr.LeaderNotAvailable.Code {
				n++
			}
		}
		return n == len(topics)
	}
	h.until(20*time.Second, "the follower caught up after its snapshot was lost", func() bool { return seesAll(lagger) })
	// A request the follower forwards to the metadata leader is answered
	// (at once: the follower applies the entry as fast as the leader).
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	if r := h.do(lagger, req).(*kmsg.InitProducerIDResponse); r.ErrorCode != 0 || r.ProducerID < 0 {
		t.Fatalf("InitProducerId through the follower: code %d id %d", r.ErrorCode, r.ProducerID)
	}
}

// TestSnapshotDurableBeforeAck: a follower that installs the metadata
// snapshot acknowledges it only once the snapshot is synced. raft's MustSync
// is false for a Ready that carries only a snapshot (no entries, same term
// and vote), so a crash right after the acknowledgement left would otherwise
// lose a snapshot the leader counts as replicated.
func TestSnapshotDurableBeforeAck(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) { c.MetaSnapshotEntries = 8 })
	var ctrl int32
	h.until(20*time.Second, "a controller", func() bool {
		ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0
	})
	lagger := uint64(ctrl)%3 + 1
	h.isolate(lagger)
	// Metadata entries that create nothing on the follower (producer ids),
	// so installing the snapshot is all its Ready does: no new group's
	// entries get synced in the same Process call.
	for i := 0; i < 12; i++ {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = 4
		if r := h.do(uint64(ctrl), req).(*kmsg.InitProducerIDResponse); r.ErrorCode != 0 {
			t.Fatalf("InitProducerId: code %d", r.ErrorCode)
		}
	}
	if fi, _ := h.nodes[uint64(ctrl)].log.Storage(0).FirstIndex(); fi <= 1 {
		t.Fatalf("the metadata log was not compacted (first index %d)", fi)
	}
	var snapIndex uint64
	var image *wal.MemFS // the lagger's disk when its acknowledgement left
	h.drop = func(from uint64, m PeerMessage) bool {
		switch {
		case m.Msg == nil || m.Group != 0:
		case m.Msg.GetType() == raftpb.MsgSnap && m.To == lagger && snapIndex == 0:
			snapIndex = m.Msg.GetSnapshot().GetMetadata().GetIndex()
		case from == lagger && snapIndex != 0 && image == nil && m.Msg.GetType() == raftpb.MsgAppResp &&
			!m.Msg.GetReject() && m.Msg.GetIndex() >= snapIndex:
			image = h.nodes[lagger].fs.Crash(nil)
		}
		return false
	}
	h.heal()
	h.until(10*time.Second, "the snapshot acknowledged", func() bool { return image != nil })
	h.drop = nil
	l, err := wal.Open(image, "wal", wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := l.Storage(0).Snapshot()
	if got := snap.GetMetadata().GetIndex(); got < snapIndex {
		t.Fatalf("follower %d acknowledged the snapshot at %d, but a crash then keeps its snapshot at %d", lagger, snapIndex, got)
	}
}
