package node

// ListOffsets (key 2), v1–v8 (v7 added max timestamp, -3; v8 the local log
// start, -4, which without tiered storage is the log start):
//   - latest (-1): the high watermark, with the leader's epoch;
//   - earliest (-2, and -4 from v8): the log start;
//   - max timestamp (-3, v7+): the first record carrying the largest
//     timestamp (the earliest batch on a tie);
//   - a timestamp >= 0: the first record at or after it, in the first
//     batch whose max timestamp reaches it (Kafka's search; timestamps need
//     not grow along the log). Since every batch's max timestamp is the
//     one its records carry (recomputed at produce), no earlier record is
//     as late: this is the first record of the log at or after it.
//
// Nothing matching (an empty log, a timestamp after every record) answers
// offset -1, timestamp -1, epoch -1, as Kafka does. A special value below
// the version that added it is UNSUPPORTED_VERSION; any other negative
// timestamp INVALID_REQUEST. Timestamps are found by record, compressed
// batches decompressed to read theirs.
//
// Served by a leader only; a leader that has not yet committed an entry of
// its term answers OFFSET_NOT_AVAILABLE (safety rule 1). The current leader
// epoch is checked from v4 (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH). The
// answer is read after a ReadIndex barrier (read.go), as a fetch's is, so a
// deposed leader cannot answer latest from a high watermark the new leader
// has left behind.
//
// The leader epoch answered is Kafka's: for latest the leader's epoch; for
// the others the epoch of the batch at the offset answered (earliest on an
// empty log: the leader's), so a consumer that seeks there validates its
// position against the epoch its records really carry.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

func (n *Node) handleListOffsets(cn *conn, corr int32, req *kmsg.ListOffsetsRequest) {
	fw := n.newRead(cn, corr)
	for _, rt := range req.Topics {
		fw.addTopic(len(rt.Partitions))
		for j, rp := range rt.Partitions {
			g, code := n.listOffsetsGroup(rt.Topic, rp, req.Version)
			fw.addPart(j, g, code)
		}
	}
	fw.answer = func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for i, rt := range req.Topics {
			t := kmsg.NewListOffsetsResponseTopic()
			t.Topic = rt.Topic
			for j, rp := range rt.Partitions {
				p := kmsg.NewListOffsetsResponseTopicPartition()
				p.Partition = rp.Partition
				p.Timestamp, p.Offset, p.LeaderEpoch = -1, -1, -1
				if g, code := n.readGroup(fw, i, j); code != 0 {
					p.ErrorCode = code
				} else {
					n.listOffset(g, rp.Timestamp, &p)
				}
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	}
	n.startRead(fw)
}

// listOffsetsGroup decides what can be decided before the barrier: the
// partition, its leadership, the query, the client's epoch.
func (n *Node) listOffsetsGroup(topic string, rp kmsg.ListOffsetsRequestTopicPartition, version int16) (*group, int16) {
	t := n.meta.topics[topic]
	if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.partitions) {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	g := n.groups[t.partitions[rp.Partition].group]
	switch {
	case g == nil || !g.leader:
		return nil, kerr.NotLeaderForPartition.Code
	case !g.serving():
		return nil, kerr.OffsetNotAvailable.Code
	case rp.Timestamp == -3 && version < 7, rp.Timestamp == -4 && version < 8:
		return nil, kerr.UnsupportedVersion.Code
	case rp.Timestamp < -4:
		return nil, kerr.InvalidRequest.Code
	}
	if version >= 4 {
		if code := n.checkEpoch(g, rp.CurrentLeaderEpoch); code != 0 {
			return nil, code
		}
	}
	return g, 0
}

// listOffset answers one query from the confirmed state of a group.
func (n *Node) listOffset(g *group, ts int64, p *kmsg.ListOffsetsResponseTopicPartition) {
	query := ts
	part := g.part
	var b batchLoc
	var ok bool
	var err error
	switch ts {
	case -1:
		p.Offset, p.LeaderEpoch = part.next, int32(n.epochOf(g))
		return
	case -2, -4:
		p.Offset, p.LeaderEpoch = part.logStart, int32(n.epochOf(g))
		if t, ok := part.idx.termAt(part.logStart); ok {
			p.LeaderEpoch = int32(t)
		}
		return
	case -3:
		if b, ok, err = part.idx.maxTimestamp(); ok {
			ts = b.maxTS
		}
	default:
		b, ok, err = part.idx.firstAtOrAfterTS(ts)
	}
	if err != nil {
		n.stop(err)
		return
	}
	if !ok {
		return
	}
	p.Offset, p.Timestamp, p.LeaderEpoch = b.base, b.maxTS, int32(b.term)
	if off, rts, ok := n.recordAtOrAfter(g, b, ts, query == -3); ok {
		p.Offset, p.Timestamp = off, rts
	}
}

// recordAtOrAfter reads a stored batch back, decompressing it if it is
// compressed, and finds its first record with a timestamp at or after ts;
// ok is false if none is (the batch's max timestamp, recomputed from its
// records when it was produced, rules that out) or the stored batch does
// not decode. maxQuery says the query was for the max timestamp (-3), for
// the planted BugMaxTimestampLastOffset.
func (n *Node) recordAtOrAfter(g *group, b batchLoc, ts int64, maxQuery bool) (int64, int64, bool) {
	body, err := g.batchBytes(b)
	if err != nil {
		n.stop(err)
		return 0, 0, false
	}
	if n.cfg.Bug == BugMaxTimestampLastOffset && maxQuery {
		if bh, err := wire.ParseBatchHeader(body); err == nil && bh.Codec() != wire.CodecNone {
			// Planted (KAFKA-16342): a compressed batch's offset of
			// max timestamp is taken to be its last offset.
			return b.base + int64(b.count) - 1, b.maxTS, true
		}
	}
	// The batch was validated, within the limits of its day, when it was
	// produced: decode it up to the ceiling, not today's limit.
	// A compacted batch has gaps: each record's offset is its own delta's.
	h, recs, deltas, err := wire.ParseLogRecords(body, wire.DecodedBytesCeiling)
	if err != nil {
		return 0, 0, false
	}
	for i, r := range recs {
		if b.base+int64(deltas[i]) < g.part.logStart {
			// Below the log start (a batch it falls inside): deleted,
			// as Kafka's search starts at the log start.
			continue
		}
		if rts := h.RecordTimestamp(r); rts >= ts {
			return b.base + int64(deltas[i]), rts, true
		}
	}
	return 0, 0, false
}
