package node

// CreateTopics (key 19), v2–v7. Served by the controller (the metadata
// group's leader); elsewhere NOT_CONTROLLER, and clients find the controller
// through Metadata. Each topic is one proposal to the metadata group, answered
// once it applied (or at the request timeout, REQUEST_TIMED_OUT). Partitions
// -1 means num.partitions (Config.DefaultPartitions); replication factor -1
// means min(3, brokers). Explicit replica assignments are refused
// (INVALID_REQUEST). Topic configs are checked (an unknown name or a bad
// value: INVALID_CONFIG with Kafka's message; a name given twice: the last
// value, as Kafka's map of them keeps) and stored with the topic in the
// metadata state (configs.go); from v5 the answer lists the topic's configs
// in effect, with their sources. A topic named twice is answered once,
// INVALID_REQUEST, and not created, as Kafka does.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleCreateTopics(cn *conn, corr int32, req *kmsg.CreateTopicsRequest) {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	more, finish := n.answerWhenDone(cn, corr, resp)
	mg := n.groups[metaGroup]
	deadline := n.now.Add(time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond)
	// A topic named twice is not created: Kafka answers it once,
	// INVALID_REQUEST "Duplicate topic name.", after the others, so a
	// request naming one topic a million times costs one answer.
	count := make(map[string]int, len(req.Topics))
	var dups []string
	for _, rt := range req.Topics {
		count[rt.Topic]++
		if count[rt.Topic] == 2 {
			dups = append(dups, rt.Topic)
		}
	}
	var topics []kmsg.CreateTopicsRequestTopic
	for _, rt := range req.Topics {
		if count[rt.Topic] == 1 {
			topics = append(topics, rt)
		}
	}
	for _, rt := range topics {
		t := kmsg.NewCreateTopicsResponseTopic()
		t.Topic = rt.Topic
		t.NumPartitions, t.ReplicationFactor = -1, -1
		resp.Topics = append(resp.Topics, t)
	}
	for _, name := range dups {
		t := kmsg.NewCreateTopicsResponseTopic()
		t.Topic = name
		t.NumPartitions, t.ReplicationFactor = -1, -1
		t.ErrorCode = kerr.InvalidRequest.Code
		msg := "Duplicate topic name."
		t.ErrorMessage = &msg
		resp.Topics = append(resp.Topics, t)
	}
	for i, rt := range topics {
		out := &resp.Topics[i]
		parts, rf := rt.NumPartitions, int32(rt.ReplicationFactor)
		if parts == -1 {
			parts = n.cfg.DefaultPartitions
		}
		if rf == -1 {
			rf = n.defaultReplicationFactor()
		}
		code, msg := int16(0), ""
		configs, ccode, cmsg := topicConfigsOf(rt.Configs)
		switch {
		case !mg.serving():
			code = kerr.NotController.Code
		case isInternalTopic(rt.Topic):
			// Created by the coordinator on first use, with its own
			// partition count; as Kafka refuses it.
			code, msg = kerr.InvalidRequest.Code, "Creation of internal topic "+rt.Topic+" is prohibited."
		case !validTopicName(rt.Topic):
			code = kerr.InvalidTopicException.Code
		case len(rt.ReplicaAssignment) > 0:
			code, msg = kerr.InvalidRequest.Code, "explicit replica assignment is not supported"
		case parts < 1 || parts > topicPartitionsMax:
			code = kerr.InvalidPartitions.Code
		case rf < 1 || int(rf) > len(n.voters) || rf > replicationFactorMax:
			code = kerr.InvalidReplicationFactor.Code
		case ccode != 0:
			code, msg = ccode, cmsg
		}
		if code != 0 {
			out.ErrorCode = code
			if msg != "" {
				out.ErrorMessage = &msg
			}
			continue
		}
		out.NumPartitions, out.ReplicationFactor = parts, int16(rf)
		if req.ValidateOnly {
			if n.meta.topics[rt.Topic] != nil {
				out.ErrorCode = kerr.TopicAlreadyExists.Code
				continue
			}
			out.Configs = n.topicConfigEntries(&topicMeta{name: rt.Topic, configs: configs})
			continue
		}
		// Whether the topic exists is decided when the entry applies, never
		// from this node's state now: a deposed controller that has not
		// noticed would answer TOPIC_ALREADY_EXISTS for a topic the cluster
		// deleted (a stale read; swarm seed 70 found it).
		more()
		n.propose(mg, cmdCreateTopic, appendCreateTopicConfigs(nil, rt.Topic, parts, rf, configs), deadline,
			func(res any) {
				r := res.(metaResult)
				out.ErrorCode = r.code
				if r.msg != "" {
					out.ErrorMessage = &r.msg
				}
				if r.topic != nil {
					out.TopicID = r.topic.id
					out.Configs = n.topicConfigEntries(r.topic)
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

// topicConfigsOf checks the configs a CreateTopics topic asks for.
func topicConfigsOf(cs []kmsg.CreateTopicsRequestTopicConfig) (map[string]string, int16, string) {
	if len(cs) == 0 {
		return nil, 0, ""
	}
	if len(cs) > configsPerResourceMax {
		return nil, kerr.InvalidRequest.Code, "too many configs"
	}
	m := make(map[string]string, len(cs))
	for _, c := range cs {
		if msg := checkTopicConfig(c.Name, c.Value); msg != "" {
			return nil, kerr.InvalidConfig.Code, msg
		}
		m[c.Name] = normalizeConfig(*c.Value)
	}
	return m, 0, ""
}
