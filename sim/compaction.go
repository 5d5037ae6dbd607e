package sim

// The compaction workload (Config.Compaction): a topic of its own with
// cleanup.policy=compact and a short delete.retention.ms, written with keyed
// records (a few keys, some tombstones) by one client of its own while the
// faults run. Compaction removes records by design, so the topic is kept out
// of the history porcupine and the queue checks judge, and checked here: at
// the end the client reads the log whole from its start and
//
//   - offsets in the read rise strictly (gaps allowed), and a record at an
//     acknowledged offset carries the value acknowledged there;
//   - for every key, the log holds the newest acknowledged record of the key
//     or a newer one (a write that was not answered may have landed); the
//     key may be missing only if a tombstone of it was written (acknowledged
//     or possibly applied) whose delete.retention.ms has passed: the
//     tombstone's delete horizon is set by a clean after it was applied, by
//     a leader's clock that read at least the lowest node clock at its send,
//     so its removal needs some node's clock to have reached that plus
//     delete.retention.ms by the end;
//   - a tombstone stays for delete.retention.ms (Kafka's guarantee to a
//     consumer reading from the start): some tombstones go to keys of their
//     own, never written again, and carry an old timestamp (a producer's
//     CreateTime in the past, as mirrored or replayed data has); a while
//     after one is acknowledged the client fetches its offset, and it must
//     be there unless some node's clock has passed the lowest node clock at
//     its send (each less the backward clock jumps that node took since)
//     plus delete.retention.ms;
//   - a fetch below the high watermark gets a batch (the one ending at or
//     past its offset), so a consumer reading from the start reaches the
//     end: a log ending in a cleaned gap once answered nothing there.
//
// That the replicas agree on the cleaned log is the digest invariant's
// (invariants.go): the cleaned state and batches are in the digest.

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// CompactionConfig is Config.Compaction.
type CompactionConfig struct {
	Enabled bool
	// Keys is how many distinct keys the client writes.
	Keys int
	// DeleteRetentionMs is the topic's delete.retention.ms.
	DeleteRetentionMs int64
	// CleanerInterval is every node's CleanerInterval
	// (log.cleaner.backoff.ms), also without the workload (groups'
	// __consumer_offsets is compacted); 0: the node's default.
	CleanerInterval time.Duration
}

// compactionTopic is the compaction workload's topic.
const compactionTopic = "compacted"

const tombValue = "<tombstone>"

type compactClient struct {
	t     *topicState
	parts int32
	seq   int
	// newest is, per partition, the newest acknowledged write of every
	// key; byOffset every acknowledged value by offset; maybeTomb the
	// lowest node clock at the send of any tombstone of a key that was
	// not acknowledged (it may have applied anyway).
	newest    []map[string]compactAck
	byOffset  []map[int64]string
	maybeTomb []map[string]int64
	final     []map[string]compactAck
	finalLast []int64
	finalDone []bool
	records   int
}

type compactAck struct {
	offset int64
	value  string
	// sendClockMin is the lowest node clock, ms, when the write was sent.
	sendClockMin int64
}

func (c *client) compactionStart() {
	w := c.w
	cc := &compactClient{t: w.cmpTopic, parts: w.cmpTopic.spec.Partitions}
	c.cmp = cc
	n := int(cc.parts)
	cc.newest, cc.byOffset, cc.maybeTomb = make([]map[string]compactAck, n), make([]map[int64]string, n), make([]map[string]int64, n)
	cc.final, cc.finalLast, cc.finalDone = make([]map[string]compactAck, n), make([]int64, n), make([]bool, n)
	for i := 0; i < n; i++ {
		cc.newest[i], cc.byOffset[i], cc.maybeTomb[i] = map[string]compactAck{}, map[int64]string{}, map[string]int64{}
	}
	c.createCompacted(c.cmpProduceLoop)
	w.at(w.end()-finalReadBefore, "compaction-final-read(client)", int64(c.id), 0, 0, func() {
		for p := int32(0); p < cc.parts; p++ {
			cc.final[p], cc.finalLast[p] = map[string]compactAck{}, -1
			c.cmpFinalRead(p, 0)
		}
	})
}

func (c *client) createCompacted(then func()) {
	cc := c.cmp
	cfg := c.w.cfg.Compaction
	c.adminRequest(func(cn *simConn, retry func()) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = 7
		req.TimeoutMillis = 2000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = compactionTopic, cc.parts, int16(min(3, len(c.w.nodes)))
		for _, kv := range [][2]string{{"cleanup.policy", "compact"}, {"delete.retention.ms", strconv.FormatInt(cfg.DeleteRetentionMs, 10)}} {
			tc := kmsg.NewCreateTopicsRequestTopicConfig()
			tc.Name, tc.Value = kv[0], kmsg.StringPtr(kv[1])
			rt.Configs = append(rt.Configs, tc)
		}
		req.Topics = append(req.Topics, rt)
		c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
			resp := r.(*kmsg.CreateTopicsResponse)
			if len(resp.Topics) == 1 && (resp.Topics[0].ErrorCode == 0 || resp.Topics[0].ErrorCode == kerr.TopicAlreadyExists.Code) {
				c.w.setLive(cc.t, cn.sn)
				then()
				return
			}
			retry()
		}, retry)
	})
}

// clockMinMs is the lowest any node's clock reads now.
func (w *World) clockMinMs() int64 {
	low := int64(0)
	for i, sn := range w.nodes {
		if ms := sn.clock().UnixMilli(); i == 0 || ms < low {
			low = ms
		}
	}
	return low
}

// cmpWritesEnd is when the compaction client stops writing: a delete
// retention and two cleaner intervals before the final read, so passes run
// on logs that no longer grow, and one past a trailing tombstone's delete
// horizon finds it the newest batch (the case that once ended a log in a
// cleaned gap below its high watermark, where a consumer stalled).
func (w *World) cmpWritesEnd() int64 {
	cfg := w.cfg.Compaction
	return w.end() - finalReadBefore - cfg.DeleteRetentionMs*int64(time.Millisecond) - 2*int64(cfg.CleanerInterval)
}

func (c *client) cmpProduceLoop() {
	if !c.running() || c.w.now >= c.w.cmpWritesEnd() {
		return
	}
	cc := c.cmp
	next := func() {
		c.later(c.w.work.between(int64(10*time.Millisecond), int64(50*time.Millisecond)), "compaction-produce(client)", c.cmpProduceLoop)
	}
	p := int32(c.rng.IntN(int(cc.parts)))
	pr := partRef{ts: cc.t, inc: cc.t.inc, p: p}
	cn := c.conn(c.leader(pr))
	if cn == nil {
		c.refresh(func() {})
		next()
		return
	}
	cc.seq++
	key := fmt.Sprintf("key-%02d", c.rng.IntN(c.w.cfg.Compaction.Keys))
	value := fmt.Sprintf("cmp-%02d-%08d", c.id, cc.seq)
	rec := wire.Record{Key: []byte(key), Value: []byte(value)}
	ts := simEpoch.UnixMilli() + c.w.now/1e6
	gone := false
	sent := c.w.clocksNow()
	switch c.rng.IntN(8) {
	case 0:
		rec.Value, value = nil, tombValue
	case 1:
		// A tombstone of a key of its own, stamped an hour or so ago.
		gone = true
		key = fmt.Sprintf("gone-%08d", cc.seq)
		rec.Key, rec.Value, value = []byte(key), nil, tombValue
		ts -= int64(time.Hour/time.Millisecond) + c.rng.Int64N(int64(time.Hour/time.Millisecond))
	}
	sendMin := c.w.clockMinMs()
	spec := wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: ts, Records: []wire.Record{rec}}
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = 2000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = compactionTopic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = p
	rp.Records = wire.AppendBatch(nil, spec)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	unsure := func() {
		if value == tombValue {
			if t, ok := cc.maybeTomb[p][key]; !ok || sendMin < t {
				cc.maybeTomb[p][key] = sendMin
			}
		}
	}
	c.w.sendFor(cn, cc.t, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.ProduceResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			unsure()
			next()
			return
		}
		out := resp.Topics[0].Partitions[0]
		if out.ErrorCode != 0 {
			unsure()
			if out.ErrorCode == kerr.NotLeaderForPartition.Code {
				c.refresh(func() {})
			}
			next()
			return
		}
		if prev, ok := cc.byOffset[p][out.BaseOffset]; ok {
			c.w.violate("c%d: %s/%d offset %d acknowledged for %q and for %q", c.id, compactionTopic, p, out.BaseOffset, prev, value)
		}
		cc.byOffset[p][out.BaseOffset] = value
		if a, ok := cc.newest[p][key]; !ok || out.BaseOffset > a.offset {
			cc.newest[p][key] = compactAck{offset: out.BaseOffset, value: value, sendClockMin: sendMin}
		}
		c.w.stat("compaction.acked", 1)
		if gone {
			// Late in delete.retention.ms, so a cleaner pass or two ran
			// first: whether it may be gone is judged by the clocks.
			dr := c.w.cfg.Compaction.DeleteRetentionMs * int64(time.Millisecond)
			off, at := out.BaseOffset, c.w.work.between(dr/2, dr*9/10)
			c.later(at, "compaction-tombstone-check(client)", func() { c.cmpTombstoneCheck(pr, off, key, sent) })
		}
		next()
	}, func() { unsure(); next() })
}

// cmpTombstoneCheck fetches a tombstone of a key written once and checks
// it is still there, unless its delete.retention.ms may have passed (see
// the file's comment).
func (c *client) cmpTombstoneCheck(pr partRef, off int64, key string, sent []nodeClock) {
	cc := c.cmp
	cn := c.conn(c.leader(pr))
	if cn == nil || !c.running() {
		return
	}
	req := c.w.fetchOne(pr, fetchVersion, off, 64<<10, -1)
	req.MaxBytes = 1 << 20
	c.w.sendFor(cn, cc.t, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			c.w.stat("compaction.tombstone-check-failed", 1)
			return
		}
		fp := resp.Topics[0].Partitions[0]
		batches, err := wire.SplitBatches(fp.RecordBatches)
		if err != nil {
			return // the final read reports a bad answer
		}
		if len(batches) == 0 && off < fp.HighWatermark {
			// As in the final read: a consumer at off never gets past it.
			c.w.violate("c%d: fetch of %s/%d at %d, below the high watermark %d, answered no batch: a consumer never reaches the end", c.id, compactionTopic, pr.p, off, fp.HighWatermark)
			return
		}
		for _, b := range batches {
			h, recs, deltas, err := wire.ParseLogRecords(b, wire.DecodedBytesCeiling)
			if err != nil {
				return
			}
			for i, r := range recs {
				if h.BaseOffset+int64(deltas[i]) == off {
					if string(r.Key) != key || r.Value != nil {
						c.w.violate("c%d: %s/%d offset %d holds %q=%q, acknowledged as a tombstone of %q", c.id, compactionTopic, pr.p, off, r.Key, r.Value, key)
					}
					c.w.stat("compaction.tombstone-seen", 1)
					return
				}
			}
		}
		clockMax := int64(0)
		for _, sn := range c.w.nodes {
			clockMax = max(clockMax, sn.clock().UnixMilli())
		}
		dr := c.w.cfg.Compaction.DeleteRetentionMs
		// The lowest a cleaner's clock can have read at its first clean
		// after the send: a node's clock then, less its jumps back since.
		floor := int64(0)
		for i, sn := range c.w.nodes {
			f := sent[i].ms - (sn.backJumped-sent[i].backJumped)/int64(time.Millisecond)
			if i == 0 || f < floor {
				floor = f
			}
		}
		if clockMax < floor+dr {
			c.w.violate("c%d: %s/%d tombstone of %q at offset %d is gone %dms after its send (by the clocks), inside delete.retention.ms %d",
				c.id, compactionTopic, pr.p, key, off, clockMax-floor, dr)
		}
		c.w.stat("compaction.tombstone-gone", 1)
	}, func() { c.w.stat("compaction.tombstone-check-failed", 1) })
}

// nodeClock is what a node's clock read, ms, and how far it had been
// jumped back by then.
type nodeClock struct{ ms, backJumped int64 }

// clocksNow samples every node's clock.
func (w *World) clocksNow() []nodeClock {
	out := make([]nodeClock, len(w.nodes))
	for i, sn := range w.nodes {
		out[i] = nodeClock{ms: sn.clock().UnixMilli(), backJumped: sn.backJumped}
	}
	return out
}

// cmpFinalRead reads a partition whole from offset to its high watermark.
func (c *client) cmpFinalRead(p int32, offset int64) {
	cc := c.cmp
	if c.w.now >= c.w.end()-int64(50*time.Millisecond) {
		return
	}
	pr := partRef{ts: cc.t, inc: cc.t.inc, p: p}
	retry := func() { c.refresh(func() { c.cmpFinalRead(p, offset) }) }
	cn := c.conn(c.leader(pr))
	if cn == nil {
		retry()
		return
	}
	req := c.w.fetchOne(pr, fetchVersion, offset, 1<<20, -1)
	req.MaxBytes = 8 << 20
	c.w.sendFor(cn, cc.t, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			retry()
			return
		}
		fp := resp.Topics[0].Partitions[0]
		batches, err := wire.SplitBatches(fp.RecordBatches)
		if err != nil {
			c.w.violate("c%d: fetch of %s/%d at %d: %v", c.id, compactionTopic, p, offset, err)
			return
		}
		next := offset
		for _, b := range batches {
			h, recs, deltas, err := wire.ParseLogRecords(b, wire.DecodedBytesCeiling)
			if err != nil {
				c.w.violate("c%d: fetch of %s/%d at %d returned an undecodable batch: %v", c.id, compactionTopic, p, offset, err)
				return
			}
			for i, r := range recs {
				off := h.BaseOffset + int64(deltas[i])
				if off < offset {
					continue // before the fetch offset, in the batch holding it
				}
				if off <= cc.finalLast[p] {
					c.w.violate("c%d: %s/%d read offset %d after %d", c.id, compactionTopic, p, off, cc.finalLast[p])
				}
				cc.finalLast[p] = off
				v := string(r.Value)
				if r.Value == nil {
					v = tombValue
				}
				if a, ok := cc.byOffset[p][off]; ok && a != v {
					c.w.violate("c%d: %s/%d offset %d read %q, acknowledged %q", c.id, compactionTopic, p, off, v, a)
				}
				cc.final[p][string(r.Key)] = compactAck{offset: off, value: v}
				cc.records++
			}
			next = h.BaseOffset + int64(h.LastOffsetDelta) + 1
		}
		if len(batches) == 0 && offset < fp.HighWatermark {
			// Kafka answers a fetch below the high watermark with the
			// batch ending at or past its offset: with none, a consumer
			// asks again at the same offset for ever (a log ending in a
			// cleaned gap left kcat so).
			c.w.violate("c%d: fetch of %s/%d at %d, below the high watermark %d, answered no batch: a consumer never reaches the end", c.id, compactionTopic, p, offset, fp.HighWatermark)
			return
		}
		if next >= fp.HighWatermark || len(batches) == 0 {
			cc.finalDone[p] = true
			return
		}
		c.cmpFinalRead(p, next)
	}, retry)
}

// cmpFinish judges the final read (see the file's comment).
func (c *client) cmpFinish() {
	cc := c.cmp
	dr := c.w.cfg.Compaction.DeleteRetentionMs
	clockMax := int64(0)
	for _, sn := range c.w.nodes {
		clockMax = max(clockMax, sn.clock().UnixMilli())
	}
	acked := 0
	for p := int32(0); p < cc.parts; p++ {
		acked += len(cc.byOffset[p])
		if !cc.finalDone[p] {
			c.w.stat("compaction.final-read-incomplete", 1)
			continue
		}
		keys := make([]string, 0, len(cc.newest[p]))
		for k := range cc.newest[p] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			a := cc.newest[p][k]
			f, ok := cc.final[p][k]
			switch {
			case ok && f.offset >= a.offset:
			case ok:
				c.w.violate("c%d: %s/%d key %s: newest acknowledged %q at offset %d, the compacted log holds %q at offset %d", c.id, compactionTopic, p, k, a.value, a.offset, f.value, f.offset)
			default:
				removable := false
				if a.value == tombValue && clockMax >= a.sendClockMin+dr {
					removable = true
				}
				if t, ok := cc.maybeTomb[p][k]; ok && clockMax >= t+dr {
					removable = true
				}
				if !removable {
					c.w.violate("c%d: %s/%d key %s: newest acknowledged %q at offset %d is missing from the compacted log, and no tombstone of it is past delete.retention.ms %d (clocks read at most %d)",
						c.id, compactionTopic, p, k, a.value, a.offset, dr, clockMax)
				}
			}
		}
	}
	c.w.stat("compaction.final-records", cc.records)
	c.w.stat("compaction.final-removed", max(0, acked-cc.records))
}
