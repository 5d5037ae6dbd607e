package node

// OffsetFetch (key 9), v0–v10: one group (v0–v7) or several (v8+), each
// routed to its coordinator, answered from the fold of the serving leader
// only: a leader still loading answers COORDINATOR_LOAD_IN_PROGRESS, never
// what it has applied so far (KAFKA-16030). Topics null (v2+) asks for
// every committed partition. A partition without a commit, or a group the
// coordinator does not know, answers offset -1 without an error, as Kafka
// 4.x does. RequireStable (v7+) waits for pending transactional commits:
// ketch has no transactions, so it never answers UNSTABLE_OFFSET_COMMIT.
// A classic group's offsets are fetched without member checks (v9's member
// id and epoch matter only to KIP-848 groups). The answer passes a ReadIndex
// barrier on each coordinator partition first, as Fetch does (read.go): a
// deposed coordinator that still believes it leads must not answer from a
// fold the new one has moved past (a consumer would resume below an
// acknowledged commit); a failed confirmation answers NOT_COORDINATOR.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleOffsetFetch(cn *conn, corr int32, req *kmsg.OffsetFetchRequest) {
	names := []string{req.Group}
	if req.Version >= 8 {
		names = names[:0]
		for _, rg := range req.Groups {
			names = append(names, rg.Group)
		}
	}
	fw := n.newRead(cn, corr)
	fw.addTopic(len(names))
	upfront := make([]int16, len(names))
	for j, name := range names {
		code := kerr.InvalidGroupID.Code
		var g *group
		if name != "" && len(name) <= groupIDBytesMax {
			g, _, code = n.coordinatorFor(name)
		}
		upfront[j] = code
		fw.addPart(j, g, code)
	}
	fw.answer = func() kmsg.Response {
		// A group whose coordinator was confirmed is answered from the
		// fold now (at or past the read index); one decided up front
		// is decided again the same way.
		unconfirmed := map[string]bool{}
		for j, name := range names {
			if _, code := n.readGroup(fw, 0, j); code != 0 && upfront[j] == 0 {
				unconfirmed[name] = true
			}
		}
		return n.offsetFetchAnswer(req, unconfirmed)
	}
	n.startRead(fw)
}

// offsetFetchAnswer builds the answer; groups in unconfirmed answer
// NOT_COORDINATOR.
func (n *Node) offsetFetchAnswer(req *kmsg.OffsetFetchRequest, unconfirmed map[string]bool) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	fetch := func(rg kmsg.OffsetFetchRequestGroup) kmsg.OffsetFetchResponseGroup {
		if unconfirmed[rg.Group] {
			out := kmsg.NewOffsetFetchResponseGroup()
			out.Group, out.ErrorCode = rg.Group, kerr.NotCoordinator.Code
			return out
		}
		return n.fetchGroupOffsets(rg, req.Version)
	}
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			resp.Groups = append(resp.Groups, fetch(rg))
		}
		return resp
	}
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = req.Group
	if req.Topics != nil || req.Version < 2 {
		rg.Topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(req.Topics))
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = t.Topic, t.Partitions
		rg.Topics = append(rg.Topics, rt)
	}
	out := fetch(rg)
	if out.ErrorCode != 0 {
		if req.Version >= 2 {
			resp.ErrorCode = out.ErrorCode
			return resp
		}
		// v0–v1 have no group error: every partition asked carries it.
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.Metadata, rp.ErrorCode = p, -1, kmsg.StringPtr(""), out.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, t := range out.Topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// fetchGroupOffsets answers one group of an OffsetFetch.
func (n *Node) fetchGroupOffsets(rg kmsg.OffsetFetchRequestGroup, version int16) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = rg.Group
	if rg.Group == "" || len(rg.Group) > groupIDBytesMax {
		out.ErrorCode = kerr.InvalidGroupID.Code
		return out
	}
	_, cs, code := n.coordinatorFor(rg.Group)
	if code == kerr.CoordinatorLoadInProgress.Code && n.cfg.Bug == BugOffsetsWhileLoading {
		// Planted: the new leader answers from what it applied so far.
		cs, code = n.loadingFold(rg.Group), 0
	}
	if code != 0 {
		out.ErrorCode = code
		return out
	}
	if version >= 9 {
		// A KIP-848 group checks the member id and epoch v9 carries.
		if _, code := cs.consumerGroupFetchCheck(rg.Group, deref(rg.MemberID), rg.MemberEpoch); code != 0 {
			out.ErrorCode = code
			return out
		}
	}
	r := cs.group(rg.Group)
	part := func(o offsetRec, ok bool, p int32) kmsg.OffsetFetchResponseGroupTopicPartition {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = p, -1, kmsg.StringPtr("")
		if ok {
			md := o.metadata
			rp.Offset, rp.LeaderEpoch, rp.Metadata = o.offset, o.leaderEpoch, &md
		}
		return rp
	}
	if rg.Topics == nil {
		var rt *kmsg.OffsetFetchResponseGroupTopic
		for _, k := range r.sortedOffsets() {
			tm := n.meta.topics[k.topic]
			if version >= 10 && tm == nil {
				continue // no id to name it by
			}
			if rt == nil || rt.Topic != k.topic {
				t := kmsg.NewOffsetFetchResponseGroupTopic()
				t.Topic = k.topic
				if version >= 10 {
					t.TopicID = tm.id
				}
				out.Topics = append(out.Topics, t)
				rt = &out.Topics[len(out.Topics)-1]
			}
			o, ok := n.currentOffset(r, k.topic, k.partition)
			rt.Partitions = append(rt.Partitions, part(o, ok, k.partition))
		}
		return out
	}
	for _, t := range rg.Topics {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		name := t.Topic
		if version >= 10 {
			name = ""
			if tm := n.topicByID(t.TopicID); tm != nil {
				name = tm.name
			}
		}
		for _, p := range t.Partitions {
			o, ok := n.currentOffset(r, name, p)
			unknownID := version >= 10 && name == ""
			rp := part(o, ok && !unknownID, p)
			if unknownID {
				rp.ErrorCode = kerr.UnknownTopicID.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		out.Topics = append(out.Topics, rt)
	}
	return out
}

// loadingFold is the fold of a group's partition at a leader that has not
// finished loading it (only BugOffsetsWhileLoading reads it).
func (n *Node) loadingFold(groupID string) *coordState {
	gid, _, _ := n.coordinatorGroup(groupID)
	return n.groups[gid].part.coord
}

// currentOffset is a group's committed offset of a partition of the topic
// that exists now: one committed to an earlier incarnation of the name (the
// topic was deleted and created again, and its tombstones did not reach this
// coordinator partition, which had no leader then) is none, as Kafka's
// topic ids tell them apart.
func (n *Node) currentOffset(r *groupRec, topic string, p int32) (offsetRec, bool) {
	o, ok := r.offsetOf(topic, p)
	if !ok {
		return o, false
	}
	if tm := n.meta.topics[topic]; tm != nil && o.topicID != ([16]byte{}) && o.topicID != tm.id {
		return offsetRec{}, false
	}
	return o, true
}
