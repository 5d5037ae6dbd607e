package node

import (
	crand "crypto/rand"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wal"
	"github.com/ketch-dev/ketch/wire"
)

// harness wires in-memory nodes together: a virtual clock, a network that
// can cut links, and clients that speak kmsg through the wire codec. It is
// the smallest world that exercises the multi-node core; the simulator (sim/)
// is the full one.
type harness struct {
	t     testing.TB
	now   time.Time
	ids   []uint64
	nodes map[uint64]*tnode
	cut   map[[2]uint64]bool // directed links that drop messages
	inbox map[uint64][]PeerMessage
	corr  int32
	conn  ConnID

	incarnation uint64
	configure   func(*Config) // adjusts every node's config, if set
	// drop, if set, is asked about every message that would be delivered
	// and loses it when it answers true (a transport losing a message).
	drop func(from uint64, m PeerMessage) bool
	// stopped, if set, hears a node whose Process failed (the node is
	// taken down); unset, the test fails.
	stopped func(id uint64, err error)
}

type tnode struct {
	n       *Node
	fs      *wal.MemFS
	log     *wal.Log
	down    bool
	frames  map[ConnID]*wire.FrameReader
	got     map[ConnID][][]byte
	closed  map[ConnID]bool
	answers map[ConnID]int // Response.Answers summed: requests done, silent ones included
}

func newHarness(t testing.TB, n int, configure ...func(*Config)) *harness {
	t.Helper()
	// etcd raft draws election jitter from crypto/rand.Reader: a seeded
	// stream makes every harness run the same run (tests here never run in
	// parallel, so swapping the process-wide reader is safe).
	old := crand.Reader
	seed := fnv.New64a()
	seed.Write([]byte(t.Name()))
	crand.Reader = seededReader{rand.New(rand.NewPCG(seed.Sum64(), 0x6b657463))}
	t.Cleanup(func() { crand.Reader = old })
	h := &harness{t: t, now: time.Unix(1_700_000_000, 0), nodes: map[uint64]*tnode{},
		cut: map[[2]uint64]bool{}, inbox: map[uint64][]PeerMessage{}}
	for i := 1; i <= n; i++ {
		h.ids = append(h.ids, uint64(i))
	}
	for _, c := range configure {
		h.configure = c
	}
	for _, id := range h.ids {
		h.start(id, wal.NewMemFS())
	}
	return h
}

func (h *harness) start(id uint64, fs *wal.MemFS) {
	h.t.Helper()
	l, err := wal.Open(fs, "wal", wal.Options{})
	if err != nil {
		h.t.Fatalf("node %d: open wal: %v", id, err)
	}
	h.incarnation++
	cfg := Config{ID: id, Peers: h.ids, Incarnation: h.incarnation, AdvertisedHost: "node", AdvertisedPort: int32(9000 + id), Log: l}
	if h.configure != nil {
		h.configure(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		h.t.Fatalf("node %d: %v", id, err)
	}
	n.Tick(h.now)
	h.nodes[id] = &tnode{n: n, fs: fs, log: l, frames: map[ConnID]*wire.FrameReader{},
		got: map[ConnID][][]byte{}, closed: map[ConnID]bool{}, answers: map[ConnID]int{}}
}

// crash stops a node, keeping only what its disk had synced.
func (h *harness) crash(id uint64) *wal.MemFS {
	tn := h.nodes[id]
	tn.down = true
	delete(h.inbox, id)
	return tn.fs.Crash(nil)
}

func (h *harness) isolate(id uint64) {
	for _, o := range h.ids {
		if o != id {
			h.cut[[2]uint64{id, o}] = true
			h.cut[[2]uint64{o, id}] = true
		}
	}
}

func (h *harness) heal() { h.cut = map[[2]uint64]bool{} }

// step runs one round: every live node processes, messages are delivered,
// and the clock moves on by 10ms.
func (h *harness) step() {
	h.t.Helper()
	for _, id := range h.ids {
		tn := h.nodes[id]
		if tn.down {
			continue
		}
		out, err := tn.n.Process()
		if err != nil && h.stopped != nil {
			h.stopped(id, err)
			tn.down = true
			continue
		}
		if err != nil {
			h.t.Fatalf("node %d: %v", id, err)
		}
		for _, m := range out.Messages {
			to := m.To
			if h.cut[[2]uint64{id, to}] || h.nodes[to] == nil || h.nodes[to].down {
				continue
			}
			if h.drop != nil && h.drop(id, m) {
				continue
			}
			h.inbox[to] = append(h.inbox[to], m)
		}
		for _, r := range out.Responses {
			fr := tn.frames[r.Conn]
			if fr == nil {
				fr = wire.NewFrameReader(wire.FrameBytesMaxDefault)
				tn.frames[r.Conn] = fr
			}
			fr.Feed(r.Data)
			for {
				f, ok, err := fr.Next()
				if err != nil {
					h.t.Fatalf("node %d conn %d: bad response stream: %v", id, r.Conn, err)
				}
				if !ok {
					break
				}
				tn.got[r.Conn] = append(tn.got[r.Conn], append([]byte(nil), f...))
			}
			tn.answers[r.Conn] += r.Answers
			if r.Close {
				tn.closed[r.Conn] = true
			}
		}
	}
	ids := make([]uint64, 0, len(h.inbox))
	for id := range h.inbox {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		msgs := h.inbox[id]
		delete(h.inbox, id)
		for _, m := range msgs {
			h.nodes[id].n.Step(m)
		}
	}
	h.now = h.now.Add(10 * time.Millisecond)
	for _, id := range h.ids {
		if !h.nodes[id].down {
			h.nodes[id].n.Tick(h.now)
		}
	}
}

func (h *harness) run(d time.Duration) {
	for end := h.now.Add(d); h.now.Before(end); {
		h.step()
	}
}

// until steps until cond holds, failing after limit of simulated time.
func (h *harness) until(limit time.Duration, what string, cond func() bool) {
	h.t.Helper()
	for end := h.now.Add(limit); !cond(); h.step() {
		if h.now.After(end) {
			h.t.Fatalf("no %s within %v", what, limit)
		}
	}
}

// send writes a request to a node on a fresh connection and returns the
// connection, so the caller can wait for the answer.
func (h *harness) send(id uint64, req kmsg.Request) (ConnID, int32) {
	h.conn++
	h.corr++
	frame := wire.AppendRequest(nil, h.corr, nil, req)
	h.nodes[id].n.HandleFrame(h.conn, frame[4:])
	return h.conn, h.corr
}

// sendOn writes a request to a node on a given connection.
func (h *harness) sendOn(id uint64, c ConnID, req kmsg.Request) int32 {
	h.corr++
	frame := wire.AppendRequest(nil, h.corr, nil, req)
	h.nodes[id].n.HandleFrame(c, frame[4:])
	return h.corr
}

// do sends a request and runs the world until it is answered.
func (h *harness) do(id uint64, req kmsg.Request) kmsg.Response {
	h.t.Helper()
	resp, ok := h.tryDo(id, req, 30*time.Second)
	if !ok {
		h.t.Fatalf("node %d: no answer to %s within 30s", id, kmsg.NameForKey(req.Key()))
	}
	return resp
}

func (h *harness) tryDo(id uint64, req kmsg.Request, limit time.Duration) (kmsg.Response, bool) {
	h.t.Helper()
	c, corr := h.send(id, req)
	tn := h.nodes[id]
	for end := h.now.Add(limit); len(tn.got[c]) == 0; h.step() {
		if h.now.After(end) || tn.closed[c] {
			return nil, false
		}
	}
	gotCorr, resp, err := wire.ParseResponse(tn.got[c][0], req)
	if err != nil {
		h.t.Fatalf("node %d: parse %s response: %v", id, kmsg.NameForKey(req.Key()), err)
	}
	if gotCorr != corr {
		h.t.Fatalf("correlation id %d, want %d", gotCorr, corr)
	}
	return resp, true
}

// Request builders.

func metadataReq(topics ...string) *kmsg.MetadataRequest {
	r := kmsg.NewPtrMetadataRequest()
	r.Version = 12
	r.AllowAutoTopicCreation = true
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		r.Topics = append(r.Topics, rt)
	}
	return r
}

func createReq(topic string, partitions int32, rf int16) *kmsg.CreateTopicsRequest {
	r := kmsg.NewPtrCreateTopicsRequest()
	r.Version = 7
	r.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
	r.Topics = append(r.Topics, rt)
	return r
}

type producer struct {
	id    int64
	epoch int16
	seq   int32
}

func produceReq(topic string, partition int32, p *producer, values ...string) *kmsg.ProduceRequest {
	r := kmsg.NewPtrProduceRequest()
	r.Version = 10
	r.Acks = -1
	r.TimeoutMillis = 5000
	spec := wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: 1000}
	if p != nil {
		spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence = p.id, p.epoch, p.seq
		p.seq = seqAdd(p.seq, int32(len(values))) // franz-go wraps 2^31-1 to 0 (sink.go)
	}
	for _, v := range values {
		spec.Records = append(spec.Records, wire.Record{Value: []byte(v)})
	}
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = wire.AppendBatch(nil, spec)
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func fetchReq(topic string, partition int32, offset int64, maxWait, minBytes int32) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.Version = 12
	r.MaxWaitMillis = maxWait
	r.MinBytes = minBytes
	r.MaxBytes = 50 << 20
	r.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 10 << 20
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

// values decodes the records of a fetch partition as (offset, value) pairs.
func values(t testing.TB, recs []byte) []string {
	t.Helper()
	batches, err := wire.SplitBatches(recs)
	if err != nil {
		t.Fatalf("split batches: %v", err)
	}
	var out []string
	for _, b := range batches {
		hd, rs, err := wire.ParseRecords(b)
		if err != nil {
			t.Fatalf("parse records: %v", err)
		}
		for i, r := range rs {
			out = append(out, fmt.Sprintf("%d:%s", hd.BaseOffset+int64(i), r.Value))
		}
	}
	return out
}

// partitionLeader asks a node who leads topic/partition, by Metadata.
func (h *harness) partitionLeader(id uint64, topic string, partition int32) (int32, int32) {
	resp := h.do(id, metadataReq(topic)).(*kmsg.MetadataResponse)
	for _, t := range resp.Topics {
		if t.ErrorCode != 0 {
			return -1, -1
		}
		for _, p := range t.Partitions {
			if p.Partition == partition && p.ErrorCode == 0 {
				return p.Leader, p.LeaderEpoch
			}
		}
	}
	return -1, -1
}

// seededReader is a deterministic io.Reader for crypto/rand.Reader.
type seededReader struct{ r *rand.Rand }

func (s seededReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.r.Uint32())
	}
	return len(p), nil
}
