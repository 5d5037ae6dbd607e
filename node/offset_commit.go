package node

// OffsetCommit (key 8), v0–v10 (topic ids from v10). The committer is
// checked against the coordinator's session state first, as Kafka's
// ClassicGroup.validateOffsetCommit does (checkCommitter); then every
// partition of the request that passed its own checks goes into ONE guarded
// group write (guardCommit: the same generation and member, checked again at
// apply against the log), and the request is answered once it applied. A
// commit is never acknowledged before the log holds it, and a commit of a
// generation the log has moved past appends nothing.
//
// A member's commit keeps its session alive while the group is Stable or
// rebalancing, as a heartbeat would.
//
// Generation -1 with no member is a commit from outside the group protocol
// (an admin tool, a consumer assigning partitions itself): allowed only
// while the group has no members. v1's per-partition timestamp is the
// commit time; v2–v4's retention time gives the offset an expire time of
// its own (an OffsetCommitValue v1, Kafka's pre-2.1 semantics).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

func (n *Node) handleOffsetCommit(cn *conn, corr int32, req *kmsg.OffsetCommitRequest) {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	s := n.newSlot(cn)
	// codes[i][j] answers req.Topics[i].Partitions[j]; -1 is "to write".
	codes := make([][]int16, len(req.Topics))
	names := make([]string, len(req.Topics))
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
	}
	answer := func() {
		for i, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for j, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codes[i][j]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		n.fill(cn, s, corr, resp)
	}
	// setPending sets every partition still to write.
	setPending := func(code int16) {
		for i := range codes {
			for j := range codes[i] {
				if codes[i][j] == -1 {
					codes[i][j] = code
				}
			}
		}
	}

	// Topics first, as Kafka's KafkaApis checks them before the
	// coordinator sees the request.
	for i, t := range req.Topics {
		var tm *topicMeta
		code := int16(kerr.UnknownTopicOrPartition.Code)
		if req.Version >= 10 {
			tm = n.topicByID(t.TopicID)
			code = kerr.UnknownTopicID.Code
		} else {
			tm = n.meta.topics[t.Topic]
		}
		if tm != nil {
			names[i] = tm.name
		}
		for j, p := range t.Partitions {
			switch {
			case tm == nil:
				codes[i][j] = code
			case p.Partition < 0 || int(p.Partition) >= len(tm.partitions):
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
			default:
				codes[i][j] = -1
			}
		}
	}
	g, cs, code := n.groupCoordinator(req.Group)
	if code != 0 {
		setPending(code)
		answer()
		return
	}
	gen, member := req.Generation, req.MemberID
	if req.Version == 0 {
		gen, member = -1, "" // v0 has neither: a commit from outside the protocol
	}
	if n.cfg.Bug != BugCommitAnyGeneration {
		if code := n.checkCommitter(cs, req.Group, member, req.InstanceID, gen, req.Version); code != 0 {
			setPending(code)
			answer()
			return
		}
	}
	if lg := cs.live[req.Group]; lg != nil && (lg.state == stateStable || lg.state == statePreparingRebalance) {
		// A commit keeps the member's session, as a heartbeat does
		// (Kafka's classic coordinator reschedules its expiry).
		if m := lg.members[member]; m != nil && m.join == nil && m.sync == nil {
			m.expires = n.now.Add(m.sessionTimeout)
		}
	}
	r := cs.group(req.Group)
	if r == nil && len(cs.groups) >= groupsPerPartitionMax {
		setPending(kerr.CoordinatorNotAvailable.Code)
		answer()
		return
	}
	nowMs := n.now.UnixMilli()
	expireTS := int64(-1)
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis >= 0 {
		expireTS = nowMs + req.RetentionTimeMillis
	}
	var recs []wire.Record
	added := 0
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if codes[i][j] != -1 {
				continue
			}
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if len(md) > offsetMetadataBytesMax {
				codes[i][j] = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			if _, ok := r.offsetOf(names[i], p.Partition); !ok {
				added++
				if r.offsetCount()+added > offsetsPerGroupMax {
					codes[i][j] = kerr.InvalidCommitOffsetSize.Code
					continue
				}
			}
			o := offsetRec{offset: p.Offset, leaderEpoch: p.LeaderEpoch, metadata: md, commitTS: nowMs, expireTS: expireTS}
			if tm := n.meta.topics[names[i]]; tm != nil {
				o.topicID = tm.id
			}
			if req.Version == 1 && p.Timestamp != -1 {
				o.commitTS = p.Timestamp
			}
			if req.Version < 6 {
				o.leaderEpoch = -1
			}
			recs = append(recs, wire.Record{Key: offsetCommitKey(req.Group, names[i], p.Partition), Value: offsetCommitValue(o)})
		}
	}
	if len(recs) == 0 {
		answer()
		return
	}
	if len(groupRecordsBatch(nowMs, recs)) > n.cfg.MessageMaxBytes {
		// Kafka answers a commit too large to append so.
		setPending(kerr.InvalidCommitOffsetSize.Code)
		answer()
		return
	}
	cs.commitsInFlight[req.Group]++
	gd := groupGuard{kind: guardCommit, group: req.Group, gen: gen, member: member}
	n.writeGroup(g, gd, recs, func(code int16) {
		setPending(code)
		answer()
		cs.commitDone(req.Group)
	})
}

// checkCommitter is Kafka's ClassicGroup.validateOffsetCommit against the
// coordinator's session state: 0 if member may commit for generation gen
// now. A group the coordinator does not know takes commits only from
// outside the protocol (gen < 0); else GROUP_ID_NOT_FOUND from v9,
// ILLEGAL_GENERATION before. A commit with a generation, a member or an
// instance id must come from a member of the current generation
// (UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION); one with
// none only while the group is empty. A member of a generation whose
// assignment is not out yet (CompletingRebalance) is answered
// REBALANCE_IN_PROGRESS, which sends it to finish the rebalance first.
//
// A KIP-848 group's commits take the member epoch as generation
// (consumerGroupCommitCheck).
func (n *Node) checkCommitter(cs *coordState, group, member string, instance *string, gen int32, version int16) int16 {
	if isConsumer, code := cs.consumerGroupCommitCheck(group, member, gen, version); isConsumer {
		return code
	}
	lg := cs.live[group]
	if lg == nil {
		if cs.group(group) == nil {
			switch {
			case gen < 0:
				return 0 // a simple group, created by this commit
			case version >= 9:
				return kerr.GroupIDNotFound.Code
			default:
				return kerr.IllegalGeneration.Code
			}
		}
		// A group with only offsets: empty, without members.
		if gen < 0 {
			return 0
		}
		return kerr.UnknownMemberID.Code
	}
	if lg.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if gen < 0 && lg.state == stateEmpty {
		return 0
	}
	if gen >= 0 || member != "" || instance != nil {
		if instance != nil {
			id, ok := lg.instances[*instance]
			switch {
			case !ok:
				return kerr.UnknownMemberID.Code
			case id != member:
				return kerr.FencedInstanceID.Code
			}
		} else if lg.members[member] == nil {
			return kerr.UnknownMemberID.Code
		}
		if gen != lg.generation {
			return kerr.IllegalGeneration.Code
		}
	} else if lg.state != stateEmpty {
		return kerr.UnknownMemberID.Code
	}
	if lg.state == stateCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// topicByID finds a topic by its id (nil if none has it, or for the zero id).
func (n *Node) topicByID(id [16]byte) *topicMeta {
	if id == ([16]byte{}) {
		return nil
	}
	return n.meta.byID[id]
}

// commitDone counts a group's commit answered and, once none is in flight,
// runs what waited for that.
func (cs *coordState) commitDone(group string) {
	if cs.commitsInFlight[group]--; cs.commitsInFlight[group] > 0 {
		return
	}
	delete(cs.commitsInFlight, group)
	waiting := cs.afterCommits[group]
	delete(cs.afterCommits, group)
	for _, f := range waiting {
		f()
	}
}
