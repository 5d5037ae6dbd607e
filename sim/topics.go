package sim

// The workload's topics and the admin client that creates, deletes and
// re-creates them while faults run.
//
// A deleted topic's log is gone, and a topic created again under the same
// name is a new log starting at offset 0: judging both as one partition
// would call every write of the first a lost write. So each incarnation of a
// topic gets partition names of its own in the history ("t1/0" for the
// first, "t1#2/0" for the second), and the simulator keeps the names true:
//
//   - clients send requests naming a topic only while it is live (created,
//     no delete begun): the world knows, real clients would not, and the
//     history must say which log an operation touched;
//   - a broker resolves a topic name to its partition groups when it handles
//     the request (groups are never reused), so a request handled before the
//     topic is created again can only touch the old incarnation;
//   - the admin creates a deleted topic again only when no request naming it
//     is still unhandled: every such request was handled by a node, or
//     dropped with its connection (simConn counts them).
//
// An operation of a deleted incarnation that was still in flight ends as
// ambiguous (it may have been written before the delete); reads of the old
// incarnation stop at the delete, so nothing after it judges its writes.

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/wire"
)

// topicState is one topic of the workload, across its incarnations.
type topicState struct {
	spec       TopicSpec
	inc        int      // the current (or last) incarnation, 1 for the first creation
	live       bool     // created and no delete begun: clients may send requests naming it
	liveSince  int64    // when the current incarnation became live
	unhandled  int      // requests naming it that no node has handled or dropped yet
	unanswered int      // requests naming it (acks=0 produces aside) not yet answered or failed
	names      []string // the current incarnation's partition names in the history
	// maxBytesHigh is the largest max.message.bytes any creation or alter
	// of the topic asked for (TopicConfigs), over every incarnation (an
	// alter that timed out may still apply to the next one): a batch above
	// it must be refused whichever of them a leader has applied.
	maxBytesHigh int
	// ids[k] is incarnation k+1's topic ID once the world knows it, and
	// creators[k] the node that answered its creation (topicID).
	ids      [][16]byte
	creators []*simNode
}

// setLive makes the next incarnation the live one; creator is the node
// that answered its creation.
func (t *topicState) setLive(now int64, creator *simNode) {
	t.inc++
	t.ids = append(t.ids, [16]byte{})
	t.creators = append(t.creators, creator)
	t.live, t.liveSince = true, now
	t.names = make([]string, t.spec.Partitions)
	for p := range t.names {
		t.names[p] = partitionName(t.spec.Name, t.inc, int32(p))
	}
}

// topicID is the topic ID of pr's incarnation, as the world knows it (the
// zero ID, which every broker answers UNKNOWN_TOPIC_ID, while it does not).
// A client fetches by ID (Fetch v13+, KIP-516), so a broker whose metadata
// is behind the topic's deletion and re-creation cannot serve it the old
// log: which log a fetch read must be what the history says it read. Real
// clients take the ID from Metadata; the world takes it, for the newest
// incarnation only (live or being deleted), from the node that answered its
// creation (which had applied it), or failing that from any node whose ID is
// none of the earlier incarnations' once all of those are known (a node that
// is behind may still hold one of them, never a later one: none exists yet,
// and nothing else creates topics). It is first asked when the creation is
// answered (World.setLive).
func (w *World) topicID(pr partRef) [16]byte {
	t := pr.ts
	k := pr.inc - 1
	if k < 0 || k >= len(t.ids) || t.ids[k] != ([16]byte{}) || pr.inc != t.inc {
		if k >= 0 && k < len(t.ids) {
			return t.ids[k]
		}
		return [16]byte{}
	}
	earlier := t.ids[:k]
	fresh := func(sn *simNode) bool {
		if sn == nil || !sn.up || sn.n == nil {
			return false
		}
		id, ok := sn.n.TopicID(t.spec.Name)
		if !ok || id == ([16]byte{}) || slices.Contains(earlier, id) {
			return false
		}
		t.ids[k] = id
		w.record(fmt.Sprintf("topic %s incarnation %d has id %x (node %d)", t.spec.Name, pr.inc, id[:4], sn.id))
		return true
	}
	if fresh(t.creators[k]) || slices.Contains(earlier, [16]byte{}) {
		return t.ids[k]
	}
	for _, sn := range w.nodes {
		if fresh(sn) {
			break
		}
	}
	return t.ids[k]
}

// topicVersion is the version a request drawn at v is sent at: with topic
// churn, at least byID, the first to name topics by ID. By name, a broker
// whose metadata is behind a deletion and re-creation serves the old log
// under the new topic's name (KIP-516's hazard, in Kafka as here), and the
// history could not say which log a request touched.
func (w *World) topicVersion(v, byID int16) int16 {
	if w.cfg.TopicChurn {
		return max(v, byID)
	}
	return v
}

// topicNamed is the name of an answer's topic: its name up to the version
// that names topics, else the topic whose newest incarnation has its ID.
func (w *World) topicNamed(name string, id [16]byte) string {
	if name != "" || id == ([16]byte{}) {
		return name
	}
	for _, t := range w.topics {
		if k := t.inc - 1; k >= 0 && k < len(t.ids) && t.ids[k] == id {
			return t.spec.Name
		}
	}
	return ""
}

// produceTopic is a Produce request's topic for pr at version: by ID from v13.
func (w *World) produceTopic(pr partRef, version int16) kmsg.ProduceRequestTopic {
	rt := kmsg.NewProduceRequestTopic()
	if version >= 13 {
		rt.TopicID = w.topicID(pr)
	} else {
		rt.Topic = pr.topic()
	}
	return rt
}

// setLive makes t's next incarnation the live one, its creation answered by
// creator, and learns its topic ID at once if it can.
func (w *World) setLive(t *topicState, creator *simNode) {
	t.setLive(w.now, creator)
	w.topicID(partRef{ts: t, inc: t.inc})
}

// partRef is one partition of one incarnation of a topic.
type partRef struct {
	ts  *topicState
	inc int
	p   int32
}

// topic is the Kafka topic name.
func (pr partRef) topic() string { return pr.ts.spec.Name }

// live reports whether the incarnation is still the live one.
func (pr partRef) live() bool { return pr.ts.live && pr.ts.inc == pr.inc }

// name is the partition's name in the history: incarnations apart.
func (pr partRef) name() string {
	if pr.inc == pr.ts.inc && int(pr.p) < len(pr.ts.names) {
		return pr.ts.names[pr.p]
	}
	return partitionName(pr.ts.spec.Name, pr.inc, pr.p)
}

func partitionName(topic string, inc int, p int32) string {
	if inc <= 1 {
		return fmt.Sprintf("%s/%d", topic, p)
	}
	return fmt.Sprintf("%s#%d/%d", topic, inc, p)
}

// admin is the admin client's state: one topic operation at a time.
type admin struct {
	// created counts topics the admin has created (first incarnations);
	// until every topic of the config exists the workload waits.
	created int
}

func (c *client) adminStart() {
	c.admin = &admin{}
	for _, t := range c.w.topics {
		c.createTopic(t, func() {})
	}
	for _, t := range c.w.idleTopics {
		c.createTopic(t, func() {})
	}
	if c.w.cfg.TopicChurn {
		c.later(c.w.work.between(int64(2*time.Second), int64(4*time.Second)), "topic-churn(client)", c.churn)
	}
	if c.w.cfg.TopicConfigs {
		c.later(c.w.work.between(int64(time.Second), int64(3*time.Second)), "topic-alter(client)", c.alterLoop)
	}
	// Once the other clients stopped (running() is false from end-1s), read
	// every live partition whole.
	c.w.at(c.w.end()-finalReadBefore, "final-read(client)", int64(c.id), 0, 0, func() {
		for _, t := range c.w.topics {
			if t.live {
				c.readTopic(t, func() {})
			}
		}
	})
}

// finalReadBefore is how long before the end the admin reads every log
// whole: after the other clients stopped, with time for retries.
const finalReadBefore = int64(800 * time.Millisecond)

// readTopic reads every partition of the topic's current incarnation from
// offset 0 to its high watermark, and runs then when all are read (or the
// run is about to end). A history whose every partition ends with a whole
// read accounts for every offset, so porcupine can drop the ambiguous
// produces no read saw (see checker.toPorcupine): without it, thousands of
// acks=0 and timed-out produces would each stay open to the end.
func (c *client) readTopic(t *topicState, then func()) {
	left := int(t.spec.Partitions)
	for p := int32(0); p < t.spec.Partitions; p++ {
		c.readPartition(partRef{ts: t, inc: t.inc, p: p}, 0, func() {
			left--
			if left == 0 {
				then()
			}
		})
	}
}

func (c *client) readPartition(pr partRef, offset int64, then func()) {
	if c.w.now >= c.w.end()-int64(50*time.Millisecond) {
		then()
		return
	}
	retry := func() { c.refresh(func() { c.readPartition(pr, offset, then) }) }
	cn := c.conn(c.leader(pr))
	if cn == nil {
		retry()
		return
	}
	req := c.w.fetchOne(pr, fetchVersion, offset, 1<<20, -1)
	req.MaxBytes = 8 << 20
	op := checker.Op{Client: c.id, Kind: checker.Fetch, Partition: pr.name(), Call: c.w.now, Offset: offset}
	c.w.sendFor(cn, pr.ts, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			retry()
			return
		}
		fp := resp.Topics[0].Partitions[0]
		recs, err := c.w.decodeRecords(fp.RecordBatches, offset)
		if err != nil {
			c.w.violate("c%d: fetch of %s at %d returned undecodable records: %v", c.id, op.Partition, offset, err)
			then()
			return
		}
		op.Return, op.OK, op.Records, op.HighWatermark = c.w.now, true, recs, fp.HighWatermark
		c.record(&op)
		next := offset
		if n := len(recs); n > 0 {
			next = recs[n-1].Offset + 1
		}
		if next >= fp.HighWatermark || len(recs) == 0 {
			then()
			return
		}
		c.readPartition(pr, next, then)
	}, retry)
}

// churn deletes a live topic, waits, and creates it again under the same
// name, while faults run; it stops in time for the quiet period to find every
// topic live.
func (c *client) churn() {
	stopAt := int64(c.w.cfg.Duration) - int64(3*time.Second)
	if c.w.now >= stopAt {
		return
	}
	var live []*topicState
	for _, t := range c.w.topics {
		if t.live {
			live = append(live, t)
		}
	}
	if len(live) == 0 {
		c.later(int64(time.Second), "topic-churn(client)", c.churn)
		return
	}
	t := live[c.rng.IntN(len(live))]
	t.live = false
	c.w.record(fmt.Sprintf("topic %s incarnation %d closing", t.spec.Name, t.inc))
	c.beforeDelete(t, func() {
		c.deleteTopic(t, func() {
			c.later(c.rng.Int64N(int64(time.Second)), "topic-recreate(client)", func() {
				c.createTopic(t, func() {
					c.later(c.w.work.between(int64(2*time.Second), int64(5*time.Second)), "topic-churn(client)", c.churn)
				})
			})
		})
	})
}

// beforeDelete waits until no request naming the topic is unhandled or
// unanswered (an acknowledged produce after the read would leave offsets no
// read accounts for) and produces proposed have had time to commit, then
// reads the incarnation whole, for the reason readTopic gives.
func (c *client) beforeDelete(t *topicState, then func()) {
	if t.unhandled > 0 || t.unanswered > 0 {
		c.later(int64(50*time.Millisecond), "topic-delete-wait(client)", func() { c.beforeDelete(t, then) })
		return
	}
	c.later(int64(300*time.Millisecond), "topic-delete-settle(client)", func() { c.readTopic(t, then) })
}

// createTopic creates the topic's next incarnation (the first if it never
// existed), retrying until the controller says it exists. TOPIC_ALREADY_EXISTS
// after an attempt that may have landed counts as created: nothing else
// creates topics.
func (c *client) createTopic(t *topicState, then func()) {
	if t.unhandled > 0 || t.live {
		// Requests naming the old incarnation may still be handled: wait.
		c.later(int64(50*time.Millisecond), "topic-create-wait(client)", func() { c.createTopic(t, then) })
		return
	}
	// Drawn once, so every attempt asks for the same configs.
	var configs []kmsg.CreateTopicsRequestTopicConfig
	maxBytes := 0
	if c.w.cfg.TopicConfigs {
		for _, kv := range c.drawConfigs() {
			cfg := kmsg.NewCreateTopicsRequestTopicConfig()
			cfg.Name, cfg.Value = kv[0], kmsg.StringPtr(kv[1])
			configs = append(configs, cfg)
			if kv[0] == "max.message.bytes" {
				maxBytes, _ = strconv.Atoi(kv[1])
			}
		}
	}
	c.adminRequest(func(cn *simConn, retry func()) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = int16(2 + c.rng.IntN(6)) // 2..7
		req.TimeoutMillis = 2000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = t.spec.Name
		rt.NumPartitions = t.spec.Partitions
		rt.ReplicationFactor = t.spec.ReplicationFactor
		rt.Configs = configs
		req.Topics = append(req.Topics, rt)
		c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
			resp := r.(*kmsg.CreateTopicsResponse)
			code := int16(-1)
			if len(resp.Topics) == 1 {
				code = resp.Topics[0].ErrorCode
			}
			switch code {
			case 0, kerr.TopicAlreadyExists.Code:
				c.w.setLive(t, cn.sn)
				t.maxBytesHigh = max(t.maxBytesHigh, maxBytes)
				c.w.record(fmt.Sprintf("topic %s incarnation %d live (%d partitions)", t.spec.Name, t.inc, t.spec.Partitions))
				then()
			default:
				retry()
			}
		}, retry)
	})
}

// deleteTopic stops new requests naming the topic and deletes it, retrying
// until the controller says it is gone.
func (c *client) deleteTopic(t *topicState, then func()) {
	c.w.record(fmt.Sprintf("topic %s incarnation %d deleting", t.spec.Name, t.inc))
	c.adminRequest(func(cn *simConn, retry func()) {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Version = int16(1 + c.rng.IntN(6)) // 1..6
		req.TimeoutMillis = 2000
		name := t.spec.Name
		if req.Version >= 6 {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = &name
			req.Topics = append(req.Topics, rt)
		} else {
			req.TopicNames = append(req.TopicNames, name)
		}
		c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
			resp := r.(*kmsg.DeleteTopicsResponse)
			code := int16(-1)
			if len(resp.Topics) == 1 {
				code = resp.Topics[0].ErrorCode
			}
			switch code {
			case 0, kerr.UnknownTopicOrPartition.Code:
				c.w.record(fmt.Sprintf("topic %s incarnation %d deleted", t.spec.Name, t.inc))
				then()
			default:
				retry()
			}
		}, retry)
	})
}

// adminRequest sends one request to the controller (as Metadata names it),
// refreshing and backing off until it gets a definite answer.
func (c *client) adminRequest(do func(cn *simConn, retry func())) {
	if c.w.now >= c.w.end()-int64(time.Second) {
		return
	}
	var retry func()
	retry = func() {
		c.refresh(func() { c.adminRequest(do) })
	}
	cn := c.conn(c.controller)
	if cn == nil {
		retry()
		return
	}
	do(cn, retry)
}

// Topic configs (Config.TopicConfigs). Only values that stay harmless once
// retention and compaction are enforced: retention far past a run,
// cleanup.policy delete, segments of at least 1 MiB. max.message.bytes stays
// far above the producers' batches (a few hundred bytes), so only the probe
// meets it.
const (
	maxBytesLow  = 16 << 10
	maxBytesHigh = 128 << 10
)

// drawConfigs draws a topic's configs, max.message.bytes always among them
// (so that the topic's bound never falls back to the broker's).
func (c *client) drawConfigs() [][2]string {
	out := [][2]string{{"max.message.bytes", strconv.Itoa(maxBytesLow + c.rng.IntN(maxBytesHigh-maxBytesLow))}}
	if c.rng.IntN(2) == 0 {
		out = append(out, [2]string{"message.timestamp.type", []string{"CreateTime", "LogAppendTime"}[c.rng.IntN(2)]})
	}
	if c.rng.IntN(3) == 0 {
		ms := strconv.Itoa(3600000 * (1 + c.rng.IntN(48)))
		if c.w.cfg.Retention.Enabled {
			// Checked every few seconds, it would delete these
			// topics' records (stamped in 1970): for ever instead.
			ms = "-1"
		}
		out = append(out, [2]string{"retention.ms", ms})
	}
	if c.rng.IntN(3) == 0 {
		out = append(out, [2]string{"segment.bytes", strconv.Itoa((1 + c.rng.IntN(64)) << 20)})
	}
	if c.rng.IntN(4) == 0 {
		out = append(out, [2]string{"cleanup.policy", "delete"})
	}
	if c.rng.IntN(3) == 0 {
		// The leader rebuilds every batch in the topic's codec; the
		// consumers decode them all (and fetch at v12, so zstd is theirs).
		codecs := []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}
		out = append(out, [2]string{"compression.type", codecs[c.rng.IntN(len(codecs))]})
	}
	return out
}

// alterLoop changes a live topic's configs every second or three, through a
// broker picked at random (it forwards to the controller), then probes the
// topic's max.message.bytes; it stops in time for the quiet period.
func (c *client) alterLoop() {
	if c.w.now >= int64(c.w.cfg.Duration)-int64(3*time.Second) {
		return
	}
	next := func() {
		c.later(c.w.work.between(int64(time.Second), int64(3*time.Second)), "topic-alter(client)", c.alterLoop)
	}
	var live []*topicState
	for _, t := range c.w.topics {
		if t.live {
			live = append(live, t)
		}
	}
	if len(live) == 0 {
		next()
		return
	}
	t := live[c.rng.IntN(len(live))]
	cn := c.conn(uint64(1 + c.rng.IntN(c.w.cfg.Nodes)))
	if cn == nil {
		next()
		return
	}
	kvs := c.drawConfigs()
	mb, _ := strconv.Atoi(kvs[0][1])
	// In force as soon as it applies, which may be before (or without) an
	// answer.
	t.maxBytesHigh = max(t.maxBytesHigh, mb)
	inc := t.inc
	done := func(code int16) {
		c.w.stat("topic-alter.code-"+strconv.Itoa(int(code)), 1)
		if t.live && t.inc == inc {
			c.probeMaxBytes(t)
		}
		next()
	}
	var req kmsg.Request
	if c.rng.IntN(3) == 0 {
		// The legacy whole-set alter: the configs not listed fall back
		// to the broker's.
		r := kmsg.NewPtrAlterConfigsRequest()
		r.Version = int16(c.rng.IntN(3))
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, t.spec.Name
		for _, kv := range kvs {
			rc := kmsg.NewAlterConfigsRequestResourceConfig()
			rc.Name, rc.Value = kv[0], kmsg.StringPtr(kv[1])
			rr.Configs = append(rr.Configs, rc)
		}
		r.Resources = append(r.Resources, rr)
		req = r
	} else {
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r.Version = int16(c.rng.IntN(2))
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, t.spec.Name
		for _, kv := range kvs {
			rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			rc.Op, rc.Name, rc.Value = kmsg.IncrementalAlterConfigOpSet, kv[0], kmsg.StringPtr(kv[1])
			rr.Configs = append(rr.Configs, rc)
		}
		setsRetention := slices.ContainsFunc(kvs, func(kv [2]string) bool { return kv[0] == "retention.ms" })
		if !setsRetention && c.rng.IntN(3) == 0 {
			rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			rc.Op, rc.Name = kmsg.IncrementalAlterConfigOpDelete, "retention.ms"
			rr.Configs = append(rr.Configs, rc)
		}
		r.Resources = append(r.Resources, rr)
		req = r
	}
	c.w.sendFor(cn, t, req, requestTimeout, func(r kmsg.Response) {
		code := int16(-1)
		switch resp := r.(type) {
		case *kmsg.AlterConfigsResponse:
			if len(resp.Resources) == 1 {
				code = resp.Resources[0].ErrorCode
			}
		case *kmsg.IncrementalAlterConfigsResponse:
			if len(resp.Resources) == 1 {
				code = resp.Resources[0].ErrorCode
			}
		}
		done(code)
	}, func() { done(-1) })
}

// probeMaxBytes produces one batch a little larger than any
// max.message.bytes the topic may have in force to its partition 0's
// leader: it must be refused (MESSAGE_TOO_LARGE). Any other error is a
// routing matter and is let be; success is a violation.
func (c *client) probeMaxBytes(t *topicState) {
	pr := partRef{ts: t, inc: t.inc, p: 0}
	cn := c.conn(c.leader(pr))
	if cn == nil {
		return
	}
	limit := t.maxBytesHigh
	value := make([]byte, limit+1+c.rng.IntN(2048))
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	spec := wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: c.w.now / 1e6,
		Records: []wire.Record{{Value: value}}}
	req := kmsg.NewPtrProduceRequest()
	req.Version = c.w.topicVersion(int16(3+c.rng.IntN(11)), 13)
	req.Acks = -1
	req.TimeoutMillis = 2000
	rt := c.w.produceTopic(pr, req.Version)
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = wire.AppendBatch(nil, spec)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	size := len(rp.Records)
	name := pr.name()
	c.w.sendFor(cn, t, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.ProduceResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return
		}
		p := resp.Topics[0].Partitions[0]
		switch p.ErrorCode {
		case 0:
			c.w.violate("c%d: a produce of a %d-byte batch to %s was acknowledged at offset %d, above max.message.bytes %d", c.id, size, name, p.BaseOffset, limit)
		case kerr.MessageTooLarge.Code:
			c.w.stat("topic-probe.refused", 1)
		default:
			c.w.stat("topic-probe.other", 1)
		}
	}, func() {})
}
