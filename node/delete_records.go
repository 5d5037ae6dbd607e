package node

// DeleteRecords (key 21), v0–v2 (flexible from v2): move partitions' log
// start offsets forward, as Kafka's ReplicaManager.deleteRecords does.
//
// For each partition the leader proposes the new log start (retention.go:
// a replicated entry, so every replica moves it at the same index) and
// answers once it applied, with the log start then (the low watermark:
// applied means committed, so a quorum holds it). Offset -1 means the high
// watermark; any other negative offset, or one past the high watermark,
// is OFFSET_OUT_OF_RANGE; an offset at or below the log start is answered
// at once with the log start, as Kafka's maybeIncrementLogStartOffset moves
// nothing. A topic whose cleanup.policy lacks "delete" answers
// POLICY_VIOLATION and an internal topic INVALID_TOPIC_EXCEPTION, as Kafka
// does. Followers answer NOT_LEADER_OR_FOLLOWER. Deadlines as Produce: the
// request's timeout bounds the wait (REQUEST_TIMED_OUT, the outcome then
// unknown); a timeout of 0 or less proposes and answers REQUEST_TIMED_OUT at
// once, as Kafka's DelayedDeleteRecords expires at once. A partition named
// twice is answered once, with its last offset (Kafka keys the request's
// partitions in a map).

import (
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleDeleteRecords(cn *conn, corr int32, req *kmsg.DeleteRecordsRequest) {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	more, finish := n.answerWhenDone(cn, corr, resp)
	type tp struct {
		topic string
		part  int32
	}
	type place struct{ ti, pj int }
	where := map[tp]place{}
	topicAt := map[string]int{}
	var order []tp
	offsets := map[tp]int64{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			k := tp{rt.Topic, rp.Partition}
			offsets[k] = rp.Offset
			if _, ok := where[k]; ok {
				continue
			}
			ti, ok := topicAt[rt.Topic]
			if !ok {
				ti = len(resp.Topics)
				topicAt[rt.Topic] = ti
				t := kmsg.NewDeleteRecordsResponseTopic()
				t.Topic = rt.Topic
				resp.Topics = append(resp.Topics, t)
			}
			p := kmsg.NewDeleteRecordsResponseTopicPartition()
			p.Partition, p.LowWatermark = rp.Partition, -1
			where[k] = place{ti, len(resp.Topics[ti].Partitions)}
			resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, p)
			order = append(order, k)
		}
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	expireAtOnce := timeout <= 0
	deadline := n.now.Add(timeout)
	for _, k := range order {
		pl := where[k]
		out := &resp.Topics[pl.ti].Partitions[pl.pj]
		if isInternalTopic(k.topic) {
			out.ErrorCode = kerr.InvalidTopicException.Code
			continue
		}
		g, part, code := n.leaderFor(k.topic, k.part)
		if code != 0 {
			out.ErrorCode = code
			continue
		}
		if !strings.Contains(n.topicString(n.meta.topics[k.topic], "cleanup.policy"), "delete") {
			out.ErrorCode = kerr.PolicyViolation.Code
			continue
		}
		off := offsets[k]
		if off == -1 {
			off = part.next
		}
		if off < 0 || off > part.next {
			out.ErrorCode = kerr.OffsetOutOfRange.Code
			continue
		}
		if off <= part.logStart {
			out.LowWatermark = part.logStart
			continue
		}
		if expireAtOnce {
			refused := int16(0)
			n.proposeLogStart(g, off, deadline, func(any) {}, func(code int16) { refused = code })
			out.ErrorCode = kerr.RequestTimedOut.Code
			if refused != 0 {
				out.ErrorCode = refused
			}
			continue
		}
		more()
		n.proposeLogStart(g, off, deadline,
			func(res any) {
				out.LowWatermark = res.(logStartResult).logStart
				finish()
			},
			func(code int16) {
				out.ErrorCode = code
				finish()
			})
	}
	finish()
}
