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
	"encoding/binary"
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
	req := c.w.fetchOne(pr, fetchVersion, offset, 4<<10, c.currentEpoch(pr))
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
		recs, err := c.w.decodeRecords(fp.RecordBatches, offset)
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
//
// Consumers read the same batches again and again (from their position,
// from the start, at random offsets), so each batch is decoded once: a
// batch's records are a function of its bytes alone, and a cached batch is
// used only when the fetched bytes are the cached bytes, so a hit is exactly
// what parsing again would give (and the records' values are shared
// strings, not one allocation per read).
func (w *World) decodeRecords(b []byte, from int64) ([]checker.Record, error) {
	// Whole answers repeat too (a read from the start, a consumer caught
	// up): one lookup for them all.
	var whole uint64
	if len(b) >= wire.BatchHeaderBytes {
		whole = uint64(len(b))<<32 | uint64(binary.BigEndian.Uint32(b[17:]))
		if d, ok := w.fetchCache[whole]; ok && d.raw == string(b) {
			return recordsFrom(d.recs, from), nil
		}
	}
	all := b
	w.batchRecs = w.batchRecs[:0]
	n := 0
	var err error
	var prev *decoded
	// The walk of wire.SplitBatches, without its slice of batches.
	for len(b) >= batchLengthSpanBytes {
		total := int64(batchLengthSpanBytes) + int64(int32(binary.BigEndian.Uint32(b[batchLengthOffset:])))
		if total < wire.BatchHeaderBytes {
			_, err := wire.SplitBatches(all) // its error, and no records, as it gives them
			return nil, err
		}
		if total > int64(len(b)) {
			break // a partial batch ends the fetch
		}
		var d *decoded
		if d, err = w.decodedBatch(b[:total:total], prev); err != nil {
			break
		}
		if prev != nil {
			prev.next = d
		}
		prev = d
		w.batchRecs = append(w.batchRecs, d.recs)
		n += len(d.recs)
		b = b[total:]
	}
	if err != nil {
		var out []checker.Record
		for _, recs := range w.batchRecs {
			out = append(out, recordsFrom(recs, from)...)
		}
		return out, err
	}
	var every []checker.Record
	if n > 0 {
		every = make([]checker.Record, 0, n)
		for _, recs := range w.batchRecs {
			every = append(every, recs...)
		}
	}
	if whole != 0 {
		if w.fetchCache == nil || w.fetchCacheBytes > cacheBytesMax {
			w.fetchCache, w.fetchCacheBytes = map[uint64]*decoded{}, 0
		}
		w.fetchCacheBytes += len(all)
		w.fetchCache[whole] = &decoded{raw: string(all), recs: every}
	}
	return recordsFrom(every, from), nil
}

// recordsFrom returns the records at or after offset from (nil for none).
// The history shares the cache's slices, which nothing writes to; the
// capacity is cut so that an append copies.
func recordsFrom(recs []checker.Record, from int64) []checker.Record {
	i := 0
	for i < len(recs) && recs[i].Offset < from {
		i++
	}
	if i == len(recs) {
		return nil
	}
	return recs[i:len(recs):len(recs)]
}

// A record batch starts with its base offset (8 bytes) and its length (4),
// which counts the bytes after those twelve.
const (
	batchLengthOffset    = 8
	batchLengthSpanBytes = 12
)

// cacheBytesMax bounds each decoded cache (the bytes it keeps); past it the
// cache starts over. A 30 s failover run keeps under 10 MiB (some 2,000
// distinct answers of at most ~4 KiB, 8,000 batches).
const cacheBytesMax = 64 << 20

type decoded struct {
	raw  string // the batch's bytes
	recs []checker.Record
	// next is the batch that followed this one in the last answer that
	// held it: the log's next batch, almost always, found without a
	// lookup.
	next *decoded
}

// decodedBatch parses one batch, or finds it parsed before: after prev (the
// batch before it in the answer), or in the cache, keyed by the batch's CRC
// and base offset. The whole bytes decide whether it is the same batch (a
// batch changed after its CRC was computed, as by a bit flip, is parsed
// anew; two batches sharing a key just take turns).
func (w *World) decodedBatch(bt []byte, prev *decoded) (*decoded, error) {
	if prev != nil && prev.next != nil && prev.next.raw == string(bt) {
		return prev.next, nil
	}
	var k uint64
	if len(bt) >= wire.BatchHeaderBytes {
		k = uint64(binary.BigEndian.Uint32(bt[17:]))<<32 | uint64(binary.BigEndian.Uint32(bt[4:]))
		if d, ok := w.batchCache[k]; ok && d.raw == string(bt) {
			return d, nil
		}
	}
	h, recs, err := wire.ParseRecords(bt)
	if err != nil {
		return nil, err
	}
	out := make([]checker.Record, len(recs))
	for i, r := range recs {
		out[i] = checker.Record{Offset: h.BaseOffset + int64(i), Value: string(r.Value), Epoch: h.PartitionLeaderEpoch,
			Timestamp: h.RecordTimestamp(r)}
	}
	if w.batchCache == nil || w.batchCacheBytes > cacheBytesMax {
		w.batchCache, w.batchCacheBytes = map[uint64]*decoded{}, 0
	}
	w.batchCacheBytes += len(bt)
	d := &decoded{raw: string(bt), recs: out}
	w.batchCache[k] = d
	return d, nil
}
