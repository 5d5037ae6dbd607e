package node

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// producerExpiryHarness is one node expiring producers after a minute, checked
// every 10s, with bug planted, serving topic "px".
func producerExpiryHarness(t *testing.T, bug string) *harness {
	h := newHarness(t, 1, func(c *Config) {
		c.ProducerIDExpiration = time.Minute
		c.ProducerIDExpirationCheckInterval = 10 * time.Second
		c.Bug = bug
	})
	waitTopic(t, h, 1, "px")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "px", nil, "warm").ErrorCode == 0
	})
	return h
}

// TestProducerStateExpires: an idempotent producer's state outlives the
// check interval while it produces, and is dropped once it has not
// appended for the expiration, on the broker's clock (the batches carry a
// CreateTime of 1970: a producer's own timestamps do not decide); its next
// batch is then a new producer's (sequence 0 taken, a later one refused),
// and a retry of a batch appended before the expiry is still answered with
// its offset while the state lives.
func TestProducerStateExpires(t *testing.T) {
	h := producerExpiryHarness(t, "")
	p := &producer{id: 7, epoch: 0}
	first := produceOne(t, h, 1, "px", p, "a")
	if first.ErrorCode != 0 {
		t.Fatalf("first batch: code %d", first.ErrorCode)
	}
	var group uint64
	for _, s := range h.nodes[1].n.Status() {
		if s.Topic == "px" {
			group = s.Group
		}
	}
	producers := func() int { return len(h.nodes[1].n.parts[group].producers) }
	for i := 0; i < 4; i++ {
		h.run(20 * time.Second) // 80s in all, past the expiration, producing every 20s
		if r := produceOne(t, h, 1, "px", p, "b"); r.ErrorCode != 0 {
			t.Fatalf("batch %d: code %d", i, r.ErrorCode)
		}
	}
	if producers() != 1 {
		t.Fatalf("an active producer's state expired: %d producers", producers())
	}
	retry := &producer{id: 7, epoch: 0, seq: p.seq - 1}
	if r := produceOne(t, h, 1, "px", retry, "b"); r.ErrorCode != 0 || r.BaseOffset != int64(first.BaseOffset+4) {
		t.Fatalf("retry of the last batch: code %d base %d, want its offset %d", r.ErrorCode, r.BaseOffset, first.BaseOffset+4)
	}
	h.run(90 * time.Second)
	if producers() != 0 {
		t.Fatalf("a producer silent for 90s (expiration 1m, checks every 10s) kept: %d producers", producers())
	}
	if r := produceOne(t, h, 1, "px", p, "c"); r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("next sequence of an expired producer: code %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", r.ErrorCode)
	}
	p.seq = 0
	if r := produceOne(t, h, 1, "px", p, "d"); r.ErrorCode != 0 {
		t.Fatalf("sequence 0 of an expired producer: code %d", r.ErrorCode)
	}
}

// TestProducerExpiryByTimestampPlanted: with the planted KAFKA-6817 an
// active producer whose batches carry 1970 CreateTimes is forgotten at the
// next check, well within the expiration by the broker's clock, and the
// retry of its first batch, already written, is appended again at a new
// offset (the duplicate swarm finds); the correct broker answers the retry
// with the batch's own offset.
func TestProducerExpiryByTimestampPlanted(t *testing.T) {
	for _, bug := range []string{"", BugProducerExpiryByTimestamp} {
		h := producerExpiryHarness(t, bug)
		p := &producer{id: 7, epoch: 0}
		first := produceOne(t, h, 1, "px", p, "a")
		if first.ErrorCode != 0 {
			t.Fatalf("bug %q: first batch: code %d", bug, first.ErrorCode)
		}
		// The harness clock is of 2023 and the batch says 1970: by its
		// timestamp the producer is long expired; by the broker's checks it
		// was last seen at the first one (10s) and is due at 70s.
		h.run(45 * time.Second)
		retry := &producer{id: 7, epoch: 0, seq: 0}
		r := produceOne(t, h, 1, "px", retry, "a")
		dup := r.ErrorCode == 0 && r.BaseOffset != first.BaseOffset
		if dup != (bug != "") {
			t.Fatalf("bug %q: retry of the first batch 45s on: code %d base %d, first written at %d", bug, r.ErrorCode, r.BaseOffset, first.BaseOffset)
		}
	}
}
