package node

// CreateTopics (key 19), v2–v7. Served by the controller (the metadata
// group's leader); elsewhere NOT_CONTROLLER, and clients find the controller
// through Metadata. Each topic is one proposal to the metadata group, answered
// once it applied (or at the request timeout, REQUEST_TIMED_OUT). Partitions
// -1 means num.partitions (Config.DefaultPartitions); replication factor -1
// means min(3, brokers). Explicit replica assignments are refused
// (INVALID_REQUEST); topic configs are accepted and not stored: ketch has no
// per-topic configuration yet.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleCreateTopics(cn *conn, corr int32, req *kmsg.CreateTopicsRequest) {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	s := n.newSlot(cn)
	outstanding := 1
	finish := func() {
		outstanding--
		if outstanding == 0 {
			n.fill(cn, s, corr, resp)
		}
	}
	mg := n.groups[metaGroup]
	deadline := n.now.Add(time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond)
	seen := map[string]bool{}
	for _, rt := range req.Topics {
		t := kmsg.NewCreateTopicsResponseTopic()
		t.Topic = rt.Topic
		t.NumPartitions, t.ReplicationFactor = -1, -1
		resp.Topics = append(resp.Topics, t)
	}
	for i, rt := range req.Topics {
		out := &resp.Topics[i]
		parts, rf := rt.NumPartitions, int32(rt.ReplicationFactor)
		if parts == -1 {
			parts = n.cfg.DefaultPartitions
		}
		if rf == -1 {
			rf = n.defaultReplicationFactor()
		}
		code, msg := int16(0), ""
		switch {
		case seen[rt.Topic]:
			code, msg = kerr.InvalidRequest.Code, "topic listed twice"
		case !mg.serving():
			code = kerr.NotController.Code
		case !validTopicName(rt.Topic):
			code = kerr.InvalidTopicException.Code
		case len(rt.ReplicaAssignment) > 0:
			code, msg = kerr.InvalidRequest.Code, "explicit replica assignment is not supported"
		case n.meta.topics[rt.Topic] != nil:
			code = kerr.TopicAlreadyExists.Code
		case parts < 1 || parts > topicPartitionsMax:
			code = kerr.InvalidPartitions.Code
		case rf < 1 || int(rf) > len(n.voters) || rf > replicationFactorMax:
			code = kerr.InvalidReplicationFactor.Code
		}
		seen[rt.Topic] = true
		if code != 0 {
			out.ErrorCode = code
			if msg != "" {
				out.ErrorMessage = &msg
			}
			continue
		}
		out.NumPartitions, out.ReplicationFactor = parts, int16(rf)
		if req.ValidateOnly {
			continue
		}
		outstanding++
		n.propose(mg, cmdCreateTopic, appendCreateTopic(nil, rt.Topic, parts, rf), deadline,
			func(res any) {
				r := res.(metaResult)
				out.ErrorCode = r.code
				if r.topic != nil {
					out.TopicID = r.topic.id
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
