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
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
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
}

// setLive makes the next incarnation the live one.
func (t *topicState) setLive(now int64) {
	t.inc++
	t.live, t.liveSince = true, now
	t.names = make([]string, t.spec.Partitions)
	for p := range t.names {
		t.names[p] = partitionName(t.spec.Name, t.inc, int32(p))
	}
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
	req := fetchOne(pr, offset, 1<<20, -1)
	req.Version = 12
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
	c.adminRequest(func(cn *simConn, retry func()) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = int16(2 + c.rng.IntN(6)) // 2..7
		req.TimeoutMillis = 2000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = t.spec.Name
		rt.NumPartitions = t.spec.Partitions
		rt.ReplicationFactor = t.spec.ReplicationFactor
		req.Topics = append(req.Topics, rt)
		c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
			resp := r.(*kmsg.CreateTopicsResponse)
			code := int16(-1)
			if len(resp.Topics) == 1 {
				code = resp.Topics[0].ErrorCode
			}
			switch code {
			case 0, kerr.TopicAlreadyExists.Code:
				t.setLive(c.w.now)
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
