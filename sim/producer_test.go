package sim

import (
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
)

func TestSeqAddWraps(t *testing.T) {
	for _, tc := range []struct{ seq, n, want int32 }{
		{0, 1, 1},
		{5, 3, 8},
		{math.MaxInt32 - 3, 3, math.MaxInt32},
		{math.MaxInt32 - 1, 2, 0}, // records at MaxInt32-1 and MaxInt32, then 0
		{math.MaxInt32, 1, 0},
		{math.MaxInt32, 3, 2},
		{math.MaxInt32 - 1, 5, 3},
	} {
		if got := seqAdd(tc.seq, tc.n); got != tc.want {
			t.Errorf("seqAdd(%d, %d) = %d, want %d", tc.seq, tc.n, got, tc.want)
		}
	}
}

// runWorld is Run keeping the world, so a test can look at the clients.
func runWorld(t *testing.T, cfg Config) *World {
	t.Helper()
	cfg.defaults()
	w := newWorld(cfg)
	w.run()
	res := checker.Check(w.history, checker.Options{LinearizabilityTimeout: 20 * time.Second})
	if v := append(w.violation, w.liveness()...); len(v) > 0 || !res.OK {
		t.Fatalf("run failed: violations %v\ncheck: %s", v, res.String())
	}
	return w
}

// TestIdempotentProducersPipelineAndRetry: with a slow disk the idempotent
// producers reach 5 batches in flight on a partition and never more, and a
// leader crash makes them resend batches with their sequences; the history
// still checks out. (Whether a crash catches batches in flight depends on
// the seed's timing: one crash at 3s did on seed 1 until the simulated host
// loop turn took 100us, and misses on seeds 1 and 5 since; two leader
// crashes catch some on each of seeds 1..6.)
func TestIdempotentProducersPipelineAndRetry(t *testing.T) {
	w := runWorld(t, Config{Seed: 1, Duration: 10 * time.Second, Quiet: 6 * time.Second,
		Topics:    []TopicSpec{{Name: "a", Partitions: 2}, {Name: "b", Partitions: 1}},
		Producers: 3, IdempotentProducers: 2, Consumers: 2,
		Disk: DiskConfig{SyncLatencyMean: 8 * time.Millisecond},
		Faults: []Fault{{At: 2 * time.Second, For: 2 * time.Second, Kind: Crash},
			{At: 5 * time.Second, For: 2 * time.Second, Kind: Crash}}})
	var most, resends, inits int
	for _, c := range w.clients {
		if c.prod == nil || !c.prod.idempotent {
			continue
		}
		st := c.prod.stats
		if st.maxInflight > inflightPerPartitionMax {
			t.Errorf("client %d had %d batches in flight on one partition, the limit is %d", c.id, st.maxInflight, inflightPerPartitionMax)
		}
		most, resends, inits = max(most, st.maxInflight), resends+st.resends, inits+st.inits
	}
	if most < inflightPerPartitionMax {
		t.Errorf("no idempotent producer reached %d in flight (most %d)", inflightPerPartitionMax, most)
	}
	if resends == 0 || inits == 0 {
		t.Errorf("resends %d, InitProducerId answers %d: want both above 0", resends, inits)
	}
	t.Logf("most in flight %d, resends %d, inits %d, ops %d", most, resends, inits, len(w.history))
}

// TestOutOfOrderSequenceBumps follows one partition's buffer through an
// OUT_OF_ORDER_SEQUENCE_NUMBER on its first batch, as kgo handles it: the
// producer id is failed, the answers behind it are ignored, nothing is
// recorded, InitProducerId carries the failed id and epoch, and the buffer
// is renumbered from 0 under the new id, one batch in flight first.
func TestOutOfOrderSequenceBumps(t *testing.T) {
	cfg := Config{Seed: 1, Duration: 2 * time.Second, Quiet: time.Second, Producers: 1, IdempotentProducers: 1, Consumers: 1}
	cfg.defaults()
	w := newWorld(cfg)
	c := w.clients[0]
	p := c.prod
	ts := w.topics[0]
	ts.setLive(0, nil)
	p.pid, p.epoch, p.pidState = 7, 3, pidOK
	pb := p.buf(partRef{ts: ts, inc: 1, p: 0})
	var bs []*pbatch
	for i := int32(0); i < 3; i++ {
		b := &pbatch{ops: []*checker.Op{{Client: c.id, Kind: checker.Produce, Value: "v" + string(rune('a'+i)), Partition: "sim/0"}},
			deadline: int64(time.Minute), pinned: true, pid: 7, epoch: 3, seq: 10 + i, inflight: true, tries: 1}
		bs = append(bs, b)
	}
	pb.batches, pb.inflight, pb.okOnce = append([]*pbatch(nil), bs...), 3, true
	answer := func(code int16) *kmsg.ProduceResponse {
		resp := kmsg.NewPtrProduceResponse()
		rt := kmsg.NewProduceResponseTopic()
		rp := kmsg.NewProduceResponseTopicPartition()
		rp.ErrorCode, rp.BaseOffset = code, -1
		if code == 0 {
			rp.BaseOffset = 40
		}
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		return resp
	}
	c.onProduceAnswer(pb, bs[0], answer(kerr.OutOfOrderSequenceNumber.Code))
	c.onProduceAnswer(pb, bs[1], answer(0)) // behind a failed batch: ignored, resent later
	c.onProduceAnswer(pb, bs[2], answer(kerr.OutOfOrderSequenceNumber.Code))
	if p.pidState == pidOK || p.lastPID != 7 || p.lastEp != 3 {
		t.Fatalf("after OOOSN: pid state %d, last failed %d/%d; want failed 7/3", p.pidState, p.lastPID, p.lastEp)
	}
	if len(w.history) != 0 || len(pb.batches) != 3 {
		t.Fatalf("after OOOSN: %d ops recorded, %d batches buffered; want 0 and 3", len(w.history), len(pb.batches))
	}
	for i, b := range pb.batches {
		if b.pinned || b != bs[i] {
			t.Fatalf("batch %d: pinned %v, in order %v; want unpinned, in order", i, b.pinned, b == bs[i])
		}
	}
	if req := p.initRequest(4); req.ProducerID != 7 || req.ProducerEpoch != 3 {
		t.Errorf("InitProducerId v4 carries %d/%d, want 7/3", req.ProducerID, req.ProducerEpoch)
	}
	if req := p.initRequest(2); req.ProducerID != -1 || req.ProducerEpoch != -1 {
		t.Errorf("InitProducerId v2 carries %d/%d, want -1/-1", req.ProducerID, req.ProducerEpoch)
	}
	// The new id arrives; the buffer resumes after its refresh.
	p.pid, p.epoch, p.pidState = 8, 0, pidOK
	pb.failing, pb.resuming = false, false
	c.leaders[tp{"sim", 0}] = 1
	c.drain(pb)
	if b := pb.batches[0]; !b.pinned || b.pid != 8 || b.epoch != 0 || b.seq != 0 || !b.inflight {
		t.Fatalf("first batch after the bump: pinned %v pid %d epoch %d seq %d in flight %v; want pid 8 epoch 0 seq 0 in flight",
			b.pinned, b.pid, b.epoch, b.seq, b.inflight)
	}
	if pb.batches[1].inflight || pb.inflight != 1 {
		t.Fatalf("%d in flight before the first answer under the new id; want 1", pb.inflight)
	}
}
