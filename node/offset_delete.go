package node

// OffsetDelete (key 47), v0 (KIP-496): deletes a group's committed offsets
// of some partitions, by tombstones in one write, answered once applied.
// A group with members may lose only the offsets of topics none of them
// subscribes to (GROUP_SUBSCRIBED_TO_TOPIC otherwise), which Kafka decides
// from the consumer protocol's subscriptions of the current generation; a
// group with members of another protocol type keeps all (NON_EMPTY_GROUP),
// and so does one whose subscriptions do not parse (every topic counts as
// subscribed). A partition without a commit answers NONE. It waits for the
// group's commits in flight, so that what it deletes includes them.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

func (n *Node) handleOffsetDelete(cn *conn, corr int32, req *kmsg.OffsetDeleteRequest) {
	n.offsetDelete(cn, n.newSlot(cn), corr, req)
}

func (n *Node) offsetDelete(cn *conn, s *slot, corr int32, req *kmsg.OffsetDeleteRequest) {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	fail := func(code int16) {
		resp.ErrorCode = code
		n.fill(cn, s, corr, resp)
	}
	g, cs, code := n.groupCoordinator(req.Group)
	if code != 0 {
		fail(code)
		return
	}
	if cs.commitsInFlight[req.Group] > 0 {
		// As a delete of the group: the commits before it count.
		if len(cs.afterCommits[req.Group]) >= groupAfterWriteMax {
			fail(kerr.CoordinatorNotAvailable.Code)
			return
		}
		cs.afterCommits[req.Group] = append(cs.afterCommits[req.Group], func() { n.offsetDelete(cn, s, corr, req) })
		return
	}
	state, protocolType, _, ok := groupView(cs, req.Group)
	if !ok {
		fail(kerr.GroupIDNotFound.Code)
		return
	}
	r := cs.group(req.Group)
	var subscribed map[string]bool
	all := false // every topic counts as subscribed
	if state != stateEmpty {
		if protocolType != consumerProtocolType {
			fail(kerr.NonEmptyGroup.Code)
			return
		}
		subscribed, ok = r.subscribedTopics()
		all = !ok
	}
	var recs []wire.Record
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		known := n.meta.topics[t.Topic] != nil
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			switch _, has := r.offsetOf(t.Topic, p.Partition); {
			case !known:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case all || subscribed[t.Topic]:
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			case has:
				recs = append(recs, wire.Record{Key: offsetCommitKey(req.Group, t.Topic, p.Partition)})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(recs) == 0 {
		n.fill(cn, s, corr, resp)
		return
	}
	n.writeGroup(g, groupGuard{kind: guardNone, group: req.Group}, recs, func(code int16) {
		if code != 0 {
			resp.Topics = nil
			resp.ErrorCode = code
		}
		n.fill(cn, s, corr, resp)
	})
}

// consumerProtocolType is the protocol type of Kafka's consumers, whose
// member metadata is a ConsumerMemberMetadata naming the topics subscribed.
const consumerProtocolType = "consumer"

// subscribedTopics are the topics the members of the group's current
// generation subscribe to, from the consumer protocol's metadata in the
// log; ok is false if the group is not a consumer group with members or a
// subscription does not parse (then nobody knows what it subscribes to).
func (r *groupRec) subscribedTopics() (map[string]bool, bool) {
	if r == nil || r.meta == nil || r.meta.ProtocolType != consumerProtocolType || len(r.meta.Members) == 0 {
		return nil, false
	}
	out := map[string]bool{}
	for _, m := range r.meta.Members {
		var md kmsg.ConsumerMemberMetadata
		if md.ReadFrom(m.Subscription) != nil {
			return nil, false
		}
		for _, t := range md.Topics {
			out[t] = true
		}
	}
	return out, true
}
