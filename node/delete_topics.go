package node

// DeleteTopics (key 20), v1–v6 (by name, or by topic id from v6). Served by
// the controller; elsewhere NOT_CONTROLLER. Each topic is one proposal to the
// metadata group; when it applies, every replica drops the partition groups
// and their logs. A topic named twice is answered once, INVALID_REQUEST, and
// not deleted, as Kafka does.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleDeleteTopics(cn *conn, corr int32, req *kmsg.DeleteTopicsRequest) {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	more, finish := n.answerWhenDone(cn, corr, resp)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for _, name := range req.TopicNames {
			targets = append(targets, target{name: &name})
		}
	}
	// A topic named (or identified) twice is not deleted: Kafka answers it
	// once, INVALID_REQUEST, after the others, so a request naming one topic
	// a million times costs one answer.
	names := make(map[string]int, len(targets))
	ids := map[[16]byte]int{}
	var dups []target
	for _, tg := range targets {
		if tg.name != nil {
			names[*tg.name]++
			if names[*tg.name] == 2 {
				dups = append(dups, tg)
			}
		} else {
			ids[tg.id]++
			if ids[tg.id] == 2 {
				dups = append(dups, tg)
			}
		}
	}
	if len(dups) > 0 {
		k := 0
		for _, tg := range targets {
			if tg.name != nil && names[*tg.name] == 1 || tg.name == nil && ids[tg.id] == 1 {
				targets[k] = tg
				k++
			}
		}
		targets = targets[:k]
	}
	for _, tg := range targets {
		t := kmsg.NewDeleteTopicsResponseTopic()
		t.Topic, t.TopicID = tg.name, tg.id
		resp.Topics = append(resp.Topics, t)
	}
	for _, tg := range dups {
		t := kmsg.NewDeleteTopicsResponseTopic()
		t.Topic, t.TopicID = tg.name, tg.id
		t.ErrorCode = kerr.InvalidRequest.Code
		msg := "Duplicate topic name."
		if tg.name == nil {
			msg = "Duplicate topic id."
		}
		t.ErrorMessage = &msg
		resp.Topics = append(resp.Topics, t)
	}
	mg := n.groups[metaGroup]
	deadline := n.now.Add(time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond)
	for i, tg := range targets {
		out := &resp.Topics[i]
		var tm *topicMeta
		if tg.name != nil {
			tm = n.meta.topics[*tg.name]
		} else {
			tm = n.meta.byID[tg.id]
		}
		switch {
		case !mg.serving():
			out.ErrorCode = kerr.NotController.Code
			continue
		case tm == nil && tg.name == nil:
			out.ErrorCode = kerr.UnknownTopicID.Code
			continue
		case tm != nil && isInternalTopic(tm.name) || tg.name != nil && isInternalTopic(*tg.name):
			// The groups' state lives there: deleting it would drop
			// every committed offset at once.
			out.ErrorCode = kerr.InvalidTopicException.Code
			msg := "Cannot delete internal topic " + offsetsTopic + "."
			out.ErrorMessage = &msg
			continue
		}
		// A name this node does not know is proposed all the same: whether
		// the topic exists is decided when the entry applies, never from a
		// state a deposed controller may hold (see create_topics.go).
		var name string
		if tm != nil {
			name = tm.name
			out.Topic, out.TopicID = &name, tm.id
		} else {
			name = *tg.name
		}
		more()
		n.propose(mg, cmdDeleteTopic, appendString(nil, name), deadline,
			func(res any) {
				out.ErrorCode = res.(metaResult).code
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
