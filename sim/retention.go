package sim

// The retention workload (Config.Retention): a topic of its own with a small
// retention.ms and retention.bytes, written and read by one client of its
// own, which also deletes records (DeleteRecords) through random brokers
// while the faults run. Its records may vanish by design, so it is kept out
// of the history that porcupine and the queue checks judge (their model has
// no log start) and checked here instead:
//
//   - no acknowledged record inside retention is lost: at the end the client
//     reads the log whole from its start; every acknowledged record at or
//     above the final log start must be there with its value, and every one
//     below it must have had a cause to go: a DeleteRecords that asked for
//     an offset above it (answered or not: one that timed out may have
//     applied), or its timestamp older than retention.ms by some node's
//     clock (the highest any node's clock read, sampled, plus a second), or
//     retention.bytes (the batches after it, all of this client's one size,
//     reach it by the final high watermark);
//   - a log start acknowledged is never gone back on: a fetch sent after a
//     DeleteRecords answered low watermark W, at an offset below W, must
//     answer OFFSET_OUT_OF_RANGE, and every fetch answer's LogStartOffset is
//     at least W;
//   - its consumer, refused below the log start (OFFSET_OUT_OF_RANGE), resets
//     to the earliest offset (ListOffsets -2) as franz-go does, and every
//     record it reads at an offset acknowledged carries that value.
//
// The replicas' log starts are checked as the run goes (invariants.go).

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// RetentionConfig is Config.Retention.
type RetentionConfig struct {
	Enabled bool
	// Ms and Bytes are the topic's retention.ms and retention.bytes (-1:
	// none).
	Ms, Bytes int64
	// DeleteRecords: the client deletes records as it runs.
	DeleteRecords bool
	// CheckInterval is every node's RetentionCheckInterval
	// (log.retention.check.interval.ms).
	CheckInterval time.Duration
}

// retentionTopic is the retention workload's topic.
const retentionTopic = "retained"

type retentionClient struct {
	t     *topicState
	parts int32
	seq   int
	// acked is, per partition, every acknowledged record: offset to value,
	// and its timestamp.
	acked []map[int64]retainedRec
	// deleteAsked is the highest offset any DeleteRecords asked for, per
	// partition; deleteAcked the highest low watermark answered.
	deleteAsked, deleteAcked []int64
	pos                      []int64
	batchBytes               int   // the size of every batch this client writes
	clockMaxMs               int64 // the highest any node's clock was seen to read
	final                    []map[int64]string
	finalStart               []int64
	finalHW                  []int64
	finalDone                []bool
}

type retainedRec struct {
	value string
	ts    int64
}

func (c *client) retentionStart() {
	w := c.w
	rc := &retentionClient{t: w.retTopic, parts: w.retTopic.spec.Partitions}
	c.ret = rc
	n := int(rc.parts)
	rc.acked = make([]map[int64]retainedRec, n)
	for i := range rc.acked {
		rc.acked[i] = map[int64]retainedRec{}
	}
	rc.deleteAsked, rc.deleteAcked, rc.pos = make([]int64, n), make([]int64, n), make([]int64, n)
	rc.final, rc.finalStart, rc.finalHW, rc.finalDone = make([]map[int64]string, n), make([]int64, n), make([]int64, n), make([]bool, n)
	c.createRetained(func() {
		c.retProduceLoop()
		c.retConsumeLoop()
		if w.cfg.Retention.DeleteRecords {
			c.later(w.work.between(int64(time.Second), int64(2*time.Second)), "retention-delete(client)", c.retDeleteLoop)
		}
	})
	w.at(w.end()-finalReadBefore, "retention-final-read(client)", int64(c.id), 0, 0, func() {
		for p := int32(0); p < rc.parts; p++ {
			rc.final[p] = map[int64]string{}
			c.retFinalRead(p, 0)
		}
	})
}

func (c *client) createRetained(then func()) {
	rc := c.ret
	cfg := c.w.cfg.Retention
	c.adminRequest(func(cn *simConn, retry func()) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = 7
		req.TimeoutMillis = 2000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = retentionTopic, rc.parts, rc.t.spec.ReplicationFactor
		if rt.ReplicationFactor == 0 {
			rt.ReplicationFactor = int16(min(3, len(c.w.nodes)))
		}
		for _, kv := range [][2]string{{"retention.ms", strconv.FormatInt(cfg.Ms, 10)}, {"retention.bytes", strconv.FormatInt(cfg.Bytes, 10)}} {
			tc := kmsg.NewCreateTopicsRequestTopicConfig()
			tc.Name, tc.Value = kv[0], kmsg.StringPtr(kv[1])
			rt.Configs = append(rt.Configs, tc)
		}
		req.Topics = append(req.Topics, rt)
		c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
			resp := r.(*kmsg.CreateTopicsResponse)
			if len(resp.Topics) == 1 && (resp.Topics[0].ErrorCode == 0 || resp.Topics[0].ErrorCode == kerr.TopicAlreadyExists.Code) {
				c.w.setLive(rc.t, cn.sn)
				then()
				return
			}
			retry()
		}, retry)
	})
}

// sampleClocks raises clockMaxMs to what every node's clock reads now.
func (rc *retentionClient) sampleClocks(w *World) {
	for _, sn := range w.nodes {
		rc.clockMaxMs = max(rc.clockMaxMs, sn.clock().UnixMilli())
	}
}

func (c *client) retProduceLoop() {
	if !c.running() {
		return
	}
	rc := c.ret
	rc.sampleClocks(c.w)
	next := func() {
		c.later(c.w.work.between(int64(20*time.Millisecond), int64(80*time.Millisecond)), "retention-produce(client)", c.retProduceLoop)
	}
	p := int32(c.rng.IntN(int(rc.parts)))
	pr := partRef{ts: rc.t, inc: rc.t.inc, p: p}
	cn := c.conn(c.leader(pr))
	if cn == nil {
		c.refresh(func() {})
		next()
		return
	}
	rc.seq++
	value := fmt.Sprintf("ret-%02d-%08d", c.id, rc.seq) // one size: retention.bytes is judged by count
	ts := simEpoch.UnixMilli() + c.w.now/1e6            // a real clock's time, as retention reads it
	spec := wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: ts,
		Records: []wire.Record{{Value: []byte(value)}}}
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = 2000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = retentionTopic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = p
	rp.Records = wire.AppendBatch(nil, spec)
	rc.batchBytes = max(rc.batchBytes, len(rp.Records))
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.w.sendFor(cn, rc.t, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.ProduceResponse)
		if len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
			out := resp.Topics[0].Partitions[0]
			switch out.ErrorCode {
			case 0:
				if prev, ok := rc.acked[p][out.BaseOffset]; ok {
					c.w.violate("c%d: %s/%d offset %d acknowledged for %q and for %q", c.id, retentionTopic, p, out.BaseOffset, prev.value, value)
				}
				rc.acked[p][out.BaseOffset] = retainedRec{value, ts}
				c.w.stat("retention.acked", 1)
			case kerr.NotLeaderForPartition.Code:
				c.refresh(func() {})
			}
		}
		next()
	}, next)
}

func (c *client) retConsumeLoop() {
	if !c.running() {
		return
	}
	rc := c.ret
	next := func() {
		c.later(c.w.work.between(int64(50*time.Millisecond), int64(150*time.Millisecond)), "retention-consume(client)", c.retConsumeLoop)
	}
	p := int32(c.rng.IntN(int(rc.parts)))
	pr := partRef{ts: rc.t, inc: rc.t.inc, p: p}
	cn := c.conn(c.leader(pr))
	if cn == nil {
		next()
		return
	}
	offset, acked := rc.pos[p], rc.deleteAcked[p]
	req := c.w.fetchOne(pr, fetchVersion, offset, 64<<10, -1)
	req.MaxBytes = 1 << 20
	c.w.sendFor(cn, rc.t, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			next()
			return
		}
		fp := resp.Topics[0].Partitions[0]
		switch fp.ErrorCode {
		case 0:
		case kerr.OffsetOutOfRange.Code:
			c.w.stat("retention.fetch-out-of-range", 1)
			c.retReset(pr, next)
			return
		default:
			next()
			return
		}
		if fp.LogStartOffset < acked {
			c.w.violate("c%d: a fetch of %s/%d sent after a DeleteRecords answered low watermark %d says the log starts at %d", c.id, retentionTopic, p, acked, fp.LogStartOffset)
		}
		if offset < acked {
			c.w.violate("c%d: a fetch of %s/%d at %d, sent after a DeleteRecords answered low watermark %d, was served", c.id, retentionTopic, p, offset, acked)
		}
		recs, err := c.w.decodeRecords(fp.RecordBatches, offset)
		if err != nil {
			c.w.violate("c%d: fetch of %s/%d at %d returned undecodable records: %v", c.id, retentionTopic, p, offset, err)
			next()
			return
		}
		for _, r := range recs {
			if a, ok := rc.acked[p][r.Offset]; ok && a.value != r.Value {
				c.w.violate("c%d: %s/%d offset %d read %q, acknowledged %q", c.id, retentionTopic, p, r.Offset, r.Value, a.value)
			}
		}
		if n := len(recs); n > 0 {
			rc.pos[p] = recs[n-1].Offset + 1
		}
		next()
	}, next)
}

// retReset moves the consumer's position to the log start, as franz-go does
// on OFFSET_OUT_OF_RANGE with its default reset (the start).
func (c *client) retReset(pr partRef, then func()) {
	rc := c.ret
	cn := c.conn(c.leader(pr))
	if cn == nil {
		then()
		return
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = retentionTopic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = pr.p, -1, -2
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.w.sendFor(cn, rc.t, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.ListOffsetsResponse)
		if len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 && resp.Topics[0].Partitions[0].ErrorCode == 0 {
			rc.pos[pr.p] = resp.Topics[0].Partitions[0].Offset
			c.w.stat("retention.consumer-reset", 1)
		}
		then()
	}, then)
}

// retDeleteLoop deletes records below an offset drawn among those
// acknowledged, through a broker drawn at random (one that does not lead the
// partition answers NOT_LEADER_OR_FOLLOWER), and checks the low watermark
// answered reaches the offset.
func (c *client) retDeleteLoop() {
	if !c.running() {
		return
	}
	rc := c.ret
	next := func() {
		c.later(c.w.work.between(int64(500*time.Millisecond), int64(2*time.Second)), "retention-delete(client)", c.retDeleteLoop)
	}
	p := int32(c.rng.IntN(int(rc.parts)))
	pr := partRef{ts: rc.t, inc: rc.t.inc, p: p}
	top := int64(-1)
	for o := range rc.acked[p] { // a max: order-free
		top = max(top, o)
	}
	if top < 0 {
		next()
		return
	}
	off := rc.deleteAcked[p] + c.rng.Int64N(max(1, top+2-rc.deleteAcked[p]))
	to := c.leader(pr)
	if c.rng.IntN(2) == 0 || to == 0 {
		to = uint64(1 + c.rng.IntN(len(c.w.nodes)))
	}
	cn := c.conn(to)
	if cn == nil {
		next()
		return
	}
	rc.deleteAsked[p] = max(rc.deleteAsked[p], off) // it may apply, answered or not
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.Version = int16(c.rng.IntN(3))
	req.TimeoutMillis = 2000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = retentionTopic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = p, off
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.w.sendFor(cn, rc.t, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.DeleteRecordsResponse)
		if len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
			out := resp.Topics[0].Partitions[0]
			c.w.stat("retention.delete-records."+errName(out.ErrorCode), 1)
			if out.ErrorCode == 0 {
				if out.LowWatermark < off {
					c.w.violate("c%d: DeleteRecords of %s/%d to %d answered low watermark %d", c.id, retentionTopic, p, off, out.LowWatermark)
				}
				rc.deleteAcked[p] = max(rc.deleteAcked[p], out.LowWatermark)
			}
		}
		next()
	}, next)
}

// retFinalRead reads a partition whole from its log start to its high
// watermark; a log start that moves past the read restarts it there.
func (c *client) retFinalRead(p int32, offset int64) {
	rc := c.ret
	if c.w.now >= c.w.end()-int64(50*time.Millisecond) {
		return
	}
	rc.sampleClocks(c.w)
	pr := partRef{ts: rc.t, inc: rc.t.inc, p: p}
	retry := func() { c.refresh(func() { c.retFinalRead(p, offset) }) }
	cn := c.conn(c.leader(pr))
	if cn == nil {
		retry()
		return
	}
	req := c.w.fetchOne(pr, fetchVersion, offset, 1<<20, -1)
	req.MaxBytes = 8 << 20
	c.w.sendFor(cn, rc.t, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			retry()
			return
		}
		fp := resp.Topics[0].Partitions[0]
		if fp.ErrorCode == kerr.OffsetOutOfRange.Code && fp.LogStartOffset > offset {
			c.retFinalRead(p, fp.LogStartOffset)
			return
		}
		if fp.ErrorCode != 0 {
			retry()
			return
		}
		recs, err := c.w.decodeRecords(fp.RecordBatches, offset)
		if err != nil {
			c.w.violate("c%d: fetch of %s/%d at %d returned undecodable records: %v", c.id, retentionTopic, p, offset, err)
			return
		}
		for _, r := range recs {
			rc.final[p][r.Offset] = r.Value
		}
		rc.finalStart[p], rc.finalHW[p] = max(fp.LogStartOffset, rc.finalStart[p]), fp.HighWatermark
		next := offset
		if n := len(recs); n > 0 {
			next = recs[n-1].Offset + 1
		}
		if next >= fp.HighWatermark || len(recs) == 0 {
			rc.finalDone[p] = true
			return
		}
		c.retFinalRead(p, next)
	}, retry)
}

// retFinish judges the final read (see the file's comment).
func (c *client) retFinish() {
	rc := c.ret
	cfg := c.w.cfg.Retention
	for p := int32(0); p < rc.parts; p++ {
		if !rc.finalDone[p] {
			c.w.stat("retention.final-read-incomplete", 1)
			continue
		}
		start, hw := rc.finalStart[p], rc.finalHW[p]
		lost, deleted, kept, uncaused := 0, 0, 0, 0
		offsets := make([]int64, 0, len(rc.acked[p]))
		for o := range rc.acked[p] {
			offsets = append(offsets, o)
		}
		slices.Sort(offsets)
		for _, o := range offsets {
			a := rc.acked[p][o]
			if v, ok := rc.final[p][o]; ok {
				kept++
				if v != a.value {
					c.w.violate("c%d: %s/%d offset %d holds %q at the end, acknowledged %q", c.id, retentionTopic, p, o, v, a.value)
				}
				continue
			}
			if o >= start {
				lost++
				if lost <= 3 {
					c.w.violate("c%d: %s/%d acknowledged %q at offset %d, inside the log [%d, %d), and the final read lacks it", c.id, retentionTopic, p, a.value, o, start, hw)
				}
				continue
			}
			deleted++
			byDelete := o < rc.deleteAsked[p]
			byTime := cfg.Ms >= 0 && rc.clockMaxMs+1000-a.ts > cfg.Ms
			bySize := cfg.Bytes >= 0 && (hw-o-1)*int64(rc.batchBytes) >= cfg.Bytes
			if !byDelete && !byTime && !bySize {
				if uncaused++; uncaused > 3 {
					continue
				}
				c.w.violate("c%d: %s/%d acknowledged %q at offset %d (timestamp %d) is below the final log start %d with no cause: DeleteRecords asked at most %d, clocks read at most %d, retention.ms %d, retention.bytes %d",
					c.id, retentionTopic, p, a.value, o, a.ts, start, rc.deleteAsked[p], rc.clockMaxMs, cfg.Ms, cfg.Bytes)
			}
		}
		c.w.stat("retention.final-kept", kept)
		c.w.stat("retention.final-deleted", deleted)
	}
}

// brokerConfigs are every node's static broker configs: with the retention
// workload on, no retention by time unless a topic asks (the other topics'
// records carry 1970 timestamps, which Kafka's default of 7 days would
// delete at the first check); log.roll.ms if Config.LogRollMs says.
func (w *World) brokerConfigs() map[string]string {
	var out map[string]string
	if w.cfg.Retention.Enabled {
		out = map[string]string{"log.retention.ms": "-1"}
	}
	if w.cfg.LogRollMs > 0 {
		if out == nil {
			out = map[string]string{}
		}
		out["log.roll.ms"] = strconv.FormatInt(w.cfg.LogRollMs, 10)
	}
	return out
}
