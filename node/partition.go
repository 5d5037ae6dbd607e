package node

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ketch-dev/ketch/wire"
)

// producerBatchesKept is how many recent batches per producer a partition
// remembers to answer retries with their original offsets (Kafka keeps 5, the
// most a client pipelines with idempotence on).
const producerBatchesKept = 5

// partState is one partition's replicated state: which raft entries hold which
// offsets, the high watermark, and idempotent producers' recent batches. It
// changes only by applying committed entries, so every replica agrees.
type partState struct {
	topic string
	index int32
	group uint64

	logStart  int64
	next      int64 // the next offset to assign: the high watermark
	idx       offsetIndex
	producers map[int64]*producerState
	// coord is the group state of a __consumer_offsets partition (nil for
	// other topics).
	coord *coordState
	// bugAppendTime: planted BugAppendTimeAtApply stamped this replica's
	// clock on a batch of this partition.
	bugAppendTime bool
	// cleanGen counts the compactions applied (a proposal made against
	// another generation is refused); cleanedEnd is where the last one's
	// region ended: the log below it holds one record per key
	// (compaction.go).
	cleanGen   uint64
	cleanedEnd int64
	// cleanHorizon is the earliest delete horizon of the tombstones the
	// cleaned part keeps, -1 if none.
	cleanHorizon int64
}

type producerState struct {
	epoch   int16
	batches []producerBatch // oldest first, at most producerBatchesKept
	// lastSeen is when, by the partition's replicated clock, the producer
	// last appended (the first expiry check after its last batch: the time
	// that check's entry carries); touched says it appended since that
	// check. Its expiry counts from lastSeen (producer_expiry.go).
	lastSeen int64
	touched  bool
}

type producerBatch struct {
	firstSeq, lastSeq int32
	base              int64
}

func newPartState(topic string, index int32, group uint64) *partState {
	p := &partState{topic: topic, index: index, group: group, producers: map[int64]*producerState{}, cleanHorizon: -1}
	if topic == offsetsTopic {
		p.coord = newCoordState()
	}
	return p
}

// produceResult is what applying a produce entry tells its proposer.
type produceResult struct {
	code int16
	base int64
}

// applyProduce appends one batch (or recognises a retry). It never fails: a
// batch that breaks a rule yields an error code, the same on every replica.
// bug is the node's Config.Bug: the produce-path bugs planted here say so
// where they act.
func (p *partState) applyProduce(raftIndex, term uint64, batch []byte, bug string) produceResult {
	bugNoDedupe := bug == BugNoDedupe
	h, err := wire.ParseBatchHeader(batch)
	if err != nil || h.TotalBytes() != len(batch) {
		// Validated before proposing; reaching here means a bug or a bad log.
		return produceResult{code: kerr.CorruptMessage.Code, base: -1}
	}
	count := h.LastOffsetDelta + 1
	base := p.next
	if bug == BugOffsetBeforePropose {
		base = h.BaseOffset // planted bug: written where the leader stamped it
	}
	// With BugProducerStateLeaderOnly the replicated state holds no producer
	// table: the leader's handler keeps one in memory (Node.bugProducers).
	if h.ProducerID >= 0 && bug != BugProducerStateLeaderOnly {
		ps := p.producers[h.ProducerID]
		lastSeq := seqAdd(h.BaseSequence, h.LastOffsetDelta)
		switch {
		case ps == nil:
			if h.BaseSequence != 0 {
				return produceResult{code: kerr.OutOfOrderSequenceNumber.Code, base: -1}
			}
			ps = &producerState{epoch: h.ProducerEpoch}
			p.producers[h.ProducerID] = ps
		case h.ProducerEpoch < ps.epoch:
			return produceResult{code: kerr.InvalidProducerEpoch.Code, base: -1}
		case h.ProducerEpoch > ps.epoch:
			if h.BaseSequence != 0 {
				return produceResult{code: kerr.OutOfOrderSequenceNumber.Code, base: -1}
			}
			ps.epoch = h.ProducerEpoch
			ps.batches = ps.batches[:0]
		default:
			for _, b := range ps.batches {
				if bugNoDedupe {
					break
				}
				if b.firstSeq == h.BaseSequence && b.lastSeq == lastSeq {
					if bug == BugDedupWrongOffset {
						// Planted bug: the retry is recognised, but
						// answered with the log end, not its offsets.
						return produceResult{code: 0, base: p.next}
					}
					return produceResult{code: 0, base: b.base} // a retry: same answer
				}
			}
			if n := len(ps.batches); n > 0 && h.BaseSequence != seqAdd(ps.batches[n-1].lastSeq, 1) && !bugNoDedupe {
				return produceResult{code: kerr.OutOfOrderSequenceNumber.Code, base: -1}
			}
		}
		ps.batches = append(ps.batches, producerBatch{firstSeq: h.BaseSequence, lastSeq: lastSeq, base: base})
		ps.touched = true
		if bug == BugProducerExpiryByTimestamp {
			// Planted (KAFKA-6817): last seen when the client says.
			ps.lastSeen, ps.touched = h.MaxTimestamp, false
		}
		kept := producerBatchesKept
		if bug == BugDedupWindowOne {
			kept = 1 // planted bug: only the last batch is remembered
		}
		if len(ps.batches) > kept {
			ps.batches = append(ps.batches[:0], ps.batches[1:]...)
		}
	}
	p.idx.append(base, count, raftIndex, term, h.MaxTimestamp, int32(len(batch)))
	p.next = max(p.next, base+int64(count))
	return produceResult{base: base}
}

// seqAdd advances an idempotent producer's sequence by delta as Kafka
// (DefaultRecordBatch.incrementSequence) and franz-go do: past 2^31-1 it
// wraps to 0, never to a negative number, so a producer that has sent 2^31
// records keeps producing.
func seqAdd(seq, delta int32) int32 {
	if seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// checkProduce is the leader's early look at a batch's producer fields, so an
// obvious sequence error is answered without a round of raft. The answer that
// counts is applyProduce's.
func (p *partState) checkProduce(h wire.BatchHeader) int16 {
	if h.ProducerID < 0 {
		return 0
	}
	ps := p.producers[h.ProducerID]
	if ps != nil && h.ProducerEpoch < ps.epoch {
		return kerr.InvalidProducerEpoch.Code
	}
	return 0
}

// speculate copies the state applyProduce reads (the next offset and the
// producers' recent batches, not the batch index) for BugQuorumOfLive's
// guess at the offsets entries not yet committed will get.
func (p *partState) speculate() *partState {
	q := &partState{topic: p.topic, index: p.index, group: p.group, logStart: p.logStart, next: p.next,
		producers: make(map[int64]*producerState, len(p.producers))}
	for pid, ps := range p.producers {
		q.producers[pid] = &producerState{epoch: ps.epoch, batches: append([]producerBatch(nil), ps.batches...), lastSeen: ps.lastSeen, touched: ps.touched}
	}
	return q
}
