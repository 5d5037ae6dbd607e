package node

// CreatePartitions (key 37), v0–v3. Any broker takes it: the change is a
// metadata entry (a follower forwards it to the metadata leader, as Kafka 4
// brokers forward to the controller), answered once it applied. Each new
// partition is a new raft group, made exactly as CreateTopics makes a
// topic's: the same replication factor as the topic's partition 0, its
// replicas continuing the topic's rotation over the brokers. Explicit
// assignments are refused (INVALID_REQUEST), as in CreateTopics. A count not
// above the current one is INVALID_PARTITIONS with Kafka's message; the
// internal __consumer_offsets keeps its count (its partition is the hash of a
// group id), so it is refused (INVALID_REQUEST). A topic named twice is
// answered INVALID_REQUEST for each mention, as Kafka does.

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleCreatePartitions(cn *conn, corr int32, req *kmsg.CreatePartitionsRequest) {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	more, finish := n.answerWhenDone(cn, corr, resp)
	mg := n.groups[metaGroup]
	deadline := n.now.Add(time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond)
	count := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	resp.Topics = make([]kmsg.CreatePartitionsResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		out := &resp.Topics[i]
		*out = kmsg.NewCreatePartitionsResponseTopic()
		out.Topic = rt.Topic
		code, msg := int16(0), ""
		t := n.meta.topics[rt.Topic]
		switch {
		case i >= createPartitionsTopics:
			code, msg = kerr.InvalidRequest.Code, fmt.Sprintf("at most %d topics per request", createPartitionsTopics)
		case count[rt.Topic] > 1:
			code, msg = kerr.InvalidRequest.Code, "Duplicate topic names in the request"
		case isInternalTopic(rt.Topic):
			code, msg = kerr.InvalidRequest.Code, "Cannot add partitions to internal topic "+rt.Topic
		case t == nil:
			code, msg = kerr.UnknownTopicOrPartition.Code, "The topic '"+rt.Topic+"' does not exist."
		case rt.Assignment != nil:
			code, msg = kerr.InvalidRequest.Code, "explicit replica assignment is not supported"
		case rt.Count > topicPartitionsMax:
			code, msg = kerr.InvalidPartitions.Code, fmt.Sprintf("at most %d partitions per topic", topicPartitionsMax)
		default:
			code, msg = partitionCountError(len(t.partitions), rt.Count)
		}
		if code != 0 {
			out.ErrorCode, out.ErrorMessage = code, &msg
			continue
		}
		if req.ValidateOnly {
			continue
		}
		// Whether the count is still above the topic's is decided at apply.
		more()
		n.propose(mg, cmdCreatePartitions, appendCreatePartitions(nil, rt.Topic, rt.Count), deadline,
			func(res any) {
				r := res.(metaResult)
				out.ErrorCode = r.code
				if r.msg != "" {
					out.ErrorMessage = &r.msg
				}
				finish()
			},
			func(code int16) {
				if code == kerr.NotLeaderForPartition.Code {
					code = kerr.NotController.Code
				}
				out.ErrorCode = code
				finish()
			})
	}
	finish()
}

func partitionCountError(have int, want int32) (int16, string) {
	switch {
	case int(want) == have:
		return kerr.InvalidPartitions.Code, fmt.Sprintf("Topic already has %d partitions.", have)
	case int(want) < have:
		return kerr.InvalidPartitions.Code, fmt.Sprintf("Topic currently has %d partitions, which is higher than the requested %d.", have, want)
	}
	return 0, ""
}

func appendCreatePartitions(dst []byte, name string, count int32) []byte {
	dst = appendString(dst, name)
	return binary.AppendUvarint(dst, uint64(count))
}

// applyCreatePartitions applies a cmdCreatePartitions entry.
func (m *metaState) applyCreatePartitions(d *dec, voters []uint64, eff *metaEffects) metaResult {
	name := d.string()
	want := d.uvarint()
	if d.err != nil || want > topicPartitionsMax {
		return metaResult{code: kerr.InvalidPartitions.Code}
	}
	t := m.topics[name]
	if t == nil {
		return metaResult{code: kerr.UnknownTopicOrPartition.Code, msg: "The topic '" + name + "' does not exist."}
	}
	if isInternalTopic(name) {
		return metaResult{code: kerr.InvalidRequest.Code, msg: "Cannot add partitions to internal topic " + name}
	}
	if code, msg := partitionCountError(len(t.partitions), int32(want)); code != 0 {
		return metaResult{code: code, msg: msg}
	}
	m.addPartitions(t, int32(want), int32(len(t.partitions[0].replicas)), voters)
	// The node adds the groups it hosts; those it already has stay.
	eff.created = append(eff.created, t)
	return metaResult{topic: t}
}
