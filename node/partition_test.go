package node

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

func seqBatch(pid int64, seq int32, n int) []byte {
	spec := wire.BatchSpec{ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq, FirstTimestamp: 1000}
	for i := 0; i < n; i++ {
		spec.Records = append(spec.Records, wire.Record{Value: []byte{byte(i)}})
	}
	return wire.AppendBatch(nil, spec)
}

// TestSequenceWraps: an idempotent producer's sequence goes from 2^31-1 to 0,
// as Kafka (DefaultRecordBatch.incrementSequence) and franz-go (sink.go) wrap
// it, inside one batch and between batches; a retry of the batch that crossed
// the wrap is recognised, and a real gap is still OUT_OF_ORDER.
func TestSequenceWraps(t *testing.T) {
	for _, c := range []struct{ a, b, want int32 }{
		{0, 1, 1}, {math.MaxInt32 - 1, 1, math.MaxInt32}, {math.MaxInt32, 1, 0},
		{math.MaxInt32 - 2, 4, 1}, {math.MaxInt32, 5, 4},
	} {
		if got := seqAdd(c.a, c.b); got != c.want {
			t.Errorf("seqAdd(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}

	p := newPartState("t", 0, 1)
	const pid = 7
	if r := p.applyProduce(1, 1, seqBatch(pid, 0, 1), ""); r.code != 0 {
		t.Fatalf("first batch: code %d", r.code)
	}
	// The state a producer reaches after 2^31-4 records: its last batch
	// ended at sequence MaxInt32-4 (reaching it honestly takes 2^31 records).
	p.producers[pid].batches[0].firstSeq = math.MaxInt32 - 4
	p.producers[pid].batches[0].lastSeq = math.MaxInt32 - 4

	index := uint64(2)
	produce := func(seq int32, n int) produceResult {
		index++
		return p.applyProduce(index, 1, seqBatch(pid, seq, n), "")
	}
	// Sequences MaxInt32-3 .. MaxInt32: up to the last positive sequence.
	r := produce(math.MaxInt32-3, 4)
	if r.code != 0 {
		t.Fatalf("batch ending at 2^31-1: code %d", r.code)
	}
	// 0, 1, 2: the next expected sequence after MaxInt32 is 0.
	crossed := produce(0, 3)
	if crossed.code != 0 {
		t.Fatalf("batch after the wrap at 0: code %s", kerr.ErrorForCode(crossed.code))
	}
	// 5 leaves out 3 and 4: a gap, not the next batch.
	if r := produce(5, 1); r.code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap after the wrap: code %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", r.code)
	}
	// Across the wrap inside one batch: after MaxInt32-2, a batch of 4
	// records uses MaxInt32-1, MaxInt32, 0, 1.
	q := newPartState("t", 0, 2)
	if r := q.applyProduce(1, 1, seqBatch(pid, 0, 1), ""); r.code != 0 {
		t.Fatalf("first batch: code %d", r.code)
	}
	q.producers[pid].batches[0].firstSeq = math.MaxInt32 - 2
	q.producers[pid].batches[0].lastSeq = math.MaxInt32 - 2
	in := q.applyProduce(2, 1, seqBatch(pid, math.MaxInt32-1, 4), "")
	if in.code != 0 {
		t.Fatalf("batch crossing the wrap: code %d", in.code)
	}
	if got := q.producers[pid].batches[1].lastSeq; got != 1 {
		t.Fatalf("batch crossing the wrap ends at sequence %d, want 1", got)
	}
	if r := q.applyProduce(3, 1, seqBatch(pid, math.MaxInt32-1, 4), ""); r.code != 0 || r.base != in.base {
		t.Fatalf("retry of the batch crossing the wrap: code %d base %d, want 0 and %d", r.code, r.base, in.base)
	}
	next := q.applyProduce(4, 1, seqBatch(pid, 2, 1), "")
	if next.code != 0 || next.base != in.base+4 {
		t.Fatalf("batch after the one crossing the wrap: code %d base %d, want 0 and %d", next.code, next.base, in.base+4)
	}
}

// TestProduceAcrossSequenceWrap: through the produce path, a producer whose
// sequence nears 2^31-1 sends a batch crossing the wrap, retries it (same
// offsets), and carries on from the wrapped sequence; the log holds each
// record once.
func TestProduceAcrossSequenceWrap(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "wrap")
	var pid *kmsg.InitProducerIDResponse
	h.until(5*time.Second, "a producer id", func() bool {
		r := kmsg.NewPtrInitProducerIDRequest()
		r.Version = 4
		pid = h.do(1, r).(*kmsg.InitProducerIDResponse)
		return pid.ErrorCode == 0
	})
	p := &producer{id: pid.ProducerID, epoch: pid.ProducerEpoch}
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "wrap", &producer{id: p.id, epoch: p.epoch}, "a").ErrorCode == 0
	})
	// The producer state after 2^31-2 records (sequences 0 .. MaxInt32-2):
	// reaching it honestly takes 2^31 records.
	var part *partState
	for _, ps := range h.nodes[1].n.parts {
		if ps.topic == "wrap" {
			part = ps
		}
	}
	ps := part.producers[p.id]
	ps.batches[len(ps.batches)-1].firstSeq = math.MaxInt32 - 2
	ps.batches[len(ps.batches)-1].lastSeq = math.MaxInt32 - 2
	p.seq = math.MaxInt32 - 1
	first := produceOne(t, h, 1, "wrap", p, "b", "c", "d", "e") // MaxInt32-1, MaxInt32, 0, 1
	if first.ErrorCode != 0 {
		t.Fatalf("batch across the wrap: code %d", first.ErrorCode)
	}
	if p.seq != 2 {
		t.Fatalf("the producer's next sequence is %d, want 2", p.seq)
	}
	p.seq = math.MaxInt32 - 1
	again := produceOne(t, h, 1, "wrap", p, "b", "c", "d", "e")
	if again.ErrorCode != 0 || again.BaseOffset != first.BaseOffset {
		t.Fatalf("retry across the wrap: code %d offset %d, want 0 and %d", again.ErrorCode, again.BaseOffset, first.BaseOffset)
	}
	if next := produceOne(t, h, 1, "wrap", p, "f"); next.ErrorCode != 0 || next.BaseOffset != first.BaseOffset+4 {
		t.Fatalf("batch after the wrap: code %d offset %d, want 0 and %d", next.ErrorCode, next.BaseOffset, first.BaseOffset+4)
	}
	_, got := fetchAll(t, h, 1, "wrap")
	if diff := cmp.Diff([]string{"0:a", "1:b", "2:c", "3:d", "4:e", "5:f"}, got); diff != "" {
		t.Fatalf("log (-want +got):\n%s", diff)
	}
}

// TestDedupWindowOneRetry: with five batches applied, a retry of the oldest
// is answered with its original offsets; planted dedup-window-one answers it
// OUT_OF_ORDER_SEQUENCE_NUMBER (the client then bumps and appends it again),
// planted dedup-wrong-offset answers it success at the log end.
func TestDedupWindowOneRetry(t *testing.T) {
	const pid = 9
	for _, c := range []struct {
		bug      string
		code     int16
		wantBase func(p *partState) int64
	}{
		{"", 0, func(*partState) int64 { return 0 }},
		{BugDedupWindowOne, kerr.OutOfOrderSequenceNumber.Code, func(*partState) int64 { return -1 }},
		{BugDedupWrongOffset, 0, func(p *partState) int64 { return p.next }},
	} {
		p := newPartState("t", 0, 1)
		for i := 0; i < producerBatchesKept; i++ {
			if r := p.applyProduce(uint64(i+1), 1, seqBatch(pid, int32(2*i), 2), c.bug); r.code != 0 || r.base != int64(2*i) {
				t.Fatalf("%q: batch %d: code %d base %d", c.bug, i, r.code, r.base)
			}
		}
		r := p.applyProduce(producerBatchesKept+1, 1, seqBatch(pid, 0, 2), c.bug)
		if r.code != c.code || r.base != c.wantBase(p) {
			t.Errorf("%q: retry of the oldest batch: code %d base %d, want code %d base %d", c.bug, r.code, r.base, c.code, c.wantBase(p))
		}
	}
}
