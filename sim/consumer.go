package sim

// The simulated consumers: fetches at their position, from the start or at
// random offsets below the high watermark seen.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/wire"
)

func (c *client) nextFetch() {
	if !c.running() {
		return
	}
	pr, ok := c.pickPartition()
	if !ok {
		c.later(int64(50*time.Millisecond), "next-fetch(client)", c.nextFetch)
		return
	}
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
		c.refresh(c.nextFetch)
		return
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(c.rng.IntN(300))
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = pr.topic()
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = pr.p
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 4 << 10
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	op := checker.Op{Client: c.id, Kind: checker.Fetch, Partition: p, Call: c.w.now, Offset: offset}
	hwBefore := c.seenHW[p]
	c.w.sendFor(cn, pr.ts, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			c.refresh(c.nextFetch)
			return
		}
		fp := resp.Topics[0].Partitions[0]
		if fp.ErrorCode != 0 {
			if fp.ErrorCode == kerr.OffsetOutOfRange.Code && offset <= hwBefore {
				c.w.violate("c%d: fetch of %s at %d answered OFFSET_OUT_OF_RANGE (hw %d), but this client was already told hw %d",
					c.id, op.Partition, offset, fp.HighWatermark, hwBefore)
			}
			c.refresh(c.nextFetch)
			return
		}
		recs, err := decodeRecords(fp.RecordBatches, offset)
		if err != nil {
			c.w.violate("c%d: fetch of %s at %d returned undecodable records: %v", c.id, op.Partition, offset, err)
		}
		op.Return, op.OK, op.Records, op.HighWatermark = c.w.now, true, recs, fp.HighWatermark
		c.w.history = append(c.w.history, op)
		if fp.HighWatermark > c.seenHW[p] {
			c.seenHW[p] = fp.HighWatermark
		}
		if n := len(recs); n > 0 {
			c.pos[p] = recs[n-1].Offset + 1
		}
		c.later(c.rng.Int64N(int64(30*time.Millisecond)), "next-fetch(client)", c.nextFetch)
	}, func() { c.refresh(c.nextFetch) })
}

// decodeRecords turns a fetch's batches into (offset, value) records at or
// after the fetch offset (a batch may start before it; clients skip those).
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
				out = append(out, checker.Record{Offset: off, Value: string(r.Value)})
			}
		}
	}
	return out, nil
}
