package sim

// The simulated consumers, KIP-320 clients as franz-go's kgo is: every
// Fetch and ListOffsets carries the partition's CurrentLeaderEpoch from
// Metadata; FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH sends the client to
// refresh its metadata; after the leader epoch of a partition changes, the
// client validates its position with OffsetForLeaderEpoch (the epoch of the
// last record it consumed) before fetching there again, and an end offset
// below its position is a truncation, recorded in the history for the
// checker to judge. Between fetches (at their position, from the start, or
// at random offsets below the high watermark seen) they ask ListOffsets
// for the earliest, the latest, the max timestamp's and a timestamp's
// offset, and sometimes seek to the answer, as a consumer resetting its
// position does.

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/wire"
)

// Shares of a consumer's requests (the rest are fetches).
const (
	listOffsetsShare = 0.1
	seekShare        = 0.3 // of ListOffsets answers, how many the consumer seeks to
)

// key is how Metadata names the partition (no incarnation).
func (pr partRef) key() tp { return tp{pr.topic(), pr.p} }

// currentEpoch is the leader epoch Metadata last told this client for the
// partition, sent as CurrentLeaderEpoch; -1 (no fencing) before it knows one.
func (c *client) currentEpoch(pr partRef) int32 {
	if e, ok := c.epochs[pr.key()]; ok {
		return e
	}
	return -1
}

// seek moves the position, with the epoch a KIP-320 client keeps with it:
// that of the last record consumed before it, or the one ListOffsets
// answered with it; -1 if it has none to validate against.
func (c *client) seek(pr partRef, offset int64, epoch int32) {
	p := pr.name()
	c.pos[p], c.posEpoch[p] = offset, epoch
}

func (c *client) nextConsume() {
	if !c.running() {
		return
	}
	pr, ok := c.pickPartition()
	if !ok {
		c.later(int64(50*time.Millisecond), "next-consume(client)", c.nextConsume)
		return
	}
	switch e, ok := c.posEpoch[pr.name()]; {
	case c.validate[pr.key()] && ok && e >= 0:
		c.validatePosition(pr)
	case c.rng.Float64() < listOffsetsShare:
		c.listOffsets(pr)
	default:
		c.validate[pr.key()] = false // nothing to validate against
		c.fetch(pr)
	}
}

func (c *client) consumeLater() {
	c.later(c.rng.Int64N(int64(30*time.Millisecond)), "next-consume(client)", c.nextConsume)
}

func (c *client) fetch(pr partRef) {
	p := pr.name()
	var offset int64
	switch r := c.rng.Float64(); {
	case r < 0.6:
		offset = c.pos[p]
	case r < 0.75:
		offset = 0
	default:
		offset = c.rng.Int64N(c.seenHW[p] + 1)
	}
	cn := c.conn(c.leader(pr))
	if cn == nil {
		c.refresh(c.nextConsume)
		return
	}
	req := fetchOne(pr, offset, 4<<10, c.currentEpoch(pr))
	req.Version = 12
	req.MaxWaitMillis = int32(c.rng.IntN(300))
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	rp := &req.Topics[0].Partitions[0]
	op := checker.Op{Client: c.id, Kind: checker.Fetch, Partition: p, Call: c.w.now, Offset: offset,
		CurrentEpoch: rp.CurrentLeaderEpoch}
	hwBefore := c.seenHW[p]
	c.w.sendFor(cn, pr.ts, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			c.refresh(c.nextConsume)
			return
		}
		fp := resp.Topics[0].Partitions[0]
		if fp.ErrorCode != 0 {
			if fp.ErrorCode == kerr.OffsetOutOfRange.Code && offset <= hwBefore {
				c.w.violate("c%d: fetch of %s at %d answered OFFSET_OUT_OF_RANGE (hw %d), but this client was already told hw %d",
					c.id, op.Partition, offset, fp.HighWatermark, hwBefore)
			}
			c.refresh(c.nextConsume)
			return
		}
		recs, err := decodeRecords(fp.RecordBatches, offset)
		if err != nil {
			c.w.violate("c%d: fetch of %s at %d returned undecodable records: %v", c.id, op.Partition, offset, err)
		}
		op.Return, op.OK, op.Records, op.HighWatermark = c.w.now, true, recs, fp.HighWatermark
		c.w.history = append(c.w.history, op)
		c.sawHW(p, fp.HighWatermark)
		if n := len(recs); n > 0 {
			c.seek(pr, recs[n-1].Offset+1, recs[n-1].Epoch)
		}
		c.consumeLater()
	}, func() { c.refresh(c.nextConsume) })
}

func (c *client) sawHW(p string, hw int64) {
	if hw > c.seenHW[p] {
		c.seenHW[p] = hw
	}
}

// validatePosition asks the leader where the epoch of the last record
// consumed ends. An end below the position means the records between were
// truncated away: kgo resets to the end offset (and reports data loss).
func (c *client) validatePosition(pr partRef) {
	p := pr.name()
	cn := c.conn(c.leader(pr))
	if cn == nil {
		c.refresh(c.nextConsume)
		return
	}
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = int16(2 + c.rng.IntN(3)) // v2 brought CurrentLeaderEpoch
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = pr.topic()
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = pr.p, c.currentEpoch(pr), c.posEpoch[p]
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	op := checker.Op{Client: c.id, Kind: checker.OffsetForEpoch, Partition: p, Call: c.w.now,
		Epoch: rp.LeaderEpoch, Position: c.pos[p], CurrentEpoch: rp.CurrentLeaderEpoch}
	c.w.sendFor(cn, pr.ts, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.OffsetForLeaderEpochResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			c.refresh(c.nextConsume)
			return
		}
		ep := resp.Topics[0].Partitions[0]
		if ep.ErrorCode != 0 {
			c.refresh(c.nextConsume)
			return
		}
		op.Return, op.OK, op.Offset, op.LeaderEpoch = c.w.now, true, ep.EndOffset, ep.LeaderEpoch
		c.w.history = append(c.w.history, op)
		c.validate[pr.key()] = false
		if ep.EndOffset >= 0 && ep.EndOffset < op.Position && c.pos[p] == op.Position {
			c.w.record(fmt.Sprintf("c%d: %s truncated below position %d to %d (epoch %d)", c.id, op.Partition, op.Position, ep.EndOffset, op.Epoch))
			c.seek(pr, ep.EndOffset, ep.LeaderEpoch)
		}
		c.consumeLater()
	}, func() { c.refresh(c.nextConsume) })
}

// listOffsets asks for the earliest or latest offset, or a timestamp's.
func (c *client) listOffsets(pr partRef) {
	p := pr.name()
	cn := c.conn(c.leader(pr))
	if cn == nil {
		c.refresh(c.nextConsume)
		return
	}
	var query int64
	version := int16(4 + c.rng.IntN(5)) // v4 brought CurrentLeaderEpoch
	switch r := c.rng.IntN(4); {
	case r == 0:
		query = checker.ListEarliest
	case r == 1:
		query = checker.ListLatest
	case r == 2 && version >= 7:
		query = checker.ListMaxTimestamp
	default:
		// Producers stamp batches with the simulated milliseconds: ask
		// for a moment in the run so far, or a little past it.
		query = c.rng.Int64N(c.w.now/1e6 + 100)
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = version
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = pr.topic()
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = pr.p, c.currentEpoch(pr), query
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	op := checker.Op{Client: c.id, Kind: checker.ListOffsets, Partition: p, Call: c.w.now,
		Query: query, CurrentEpoch: rp.CurrentLeaderEpoch}
	c.w.sendFor(cn, pr.ts, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.ListOffsetsResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			c.refresh(c.nextConsume)
			return
		}
		lp := resp.Topics[0].Partitions[0]
		if lp.ErrorCode != 0 {
			c.refresh(c.nextConsume)
			return
		}
		op.Return, op.OK, op.Offset, op.Timestamp, op.LeaderEpoch = c.w.now, true, lp.Offset, lp.Timestamp, lp.LeaderEpoch
		c.w.history = append(c.w.history, op)
		if query == checker.ListLatest {
			c.sawHW(p, lp.Offset)
		}
		if lp.Offset >= 0 && c.rng.Float64() < seekShare {
			c.seek(pr, lp.Offset, lp.LeaderEpoch)
			c.validate[pr.key()] = false // freshly listed by the current leader
		}
		c.consumeLater()
	}, func() { c.refresh(c.nextConsume) })
}

// decodeRecords turns a fetch's batches into records at or after the fetch
// offset (a batch may start before it; clients skip those), each with its
// batch's leader epoch and its timestamp.
func decodeRecords(b []byte, from int64) ([]checker.Record, error) {
	batches, err := wire.SplitBatches(b)
	if err != nil {
		return nil, err
	}
	var out []checker.Record
	for _, bt := range batches {
		h, recs, err := wire.ParseRecords(bt)
		if err != nil {
			return out, err
		}
		for i, r := range recs {
			if off := h.BaseOffset + int64(i); off >= from {
				out = append(out, checker.Record{Offset: off, Value: string(r.Value), Epoch: h.PartitionLeaderEpoch,
					Timestamp: h.FirstTimestamp + r.TimestampDelta})
			}
		}
	}
	return out, nil
}
