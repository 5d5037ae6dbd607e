package node

// SyncGroup (key 14), v0–v5: the classic protocol's assignment phase. The
// leader's SyncGroup carries every member's assignment; it is written to
// the log with the generation, and only then does any member receive its
// own (a member's SyncGroup waits for the leader's until then). From v5
// the protocol type and name must match the group's
// (INCONSISTENT_GROUP_PROTOCOL).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleSyncGroup(cn *conn, corr int32, req *kmsg.SyncGroupRequest) {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	s := n.newSlot(cn)
	fail := func(code int16) {
		resp.ErrorCode = code
		n.fill(cn, s, corr, resp)
	}
	g, cs, code := n.groupCoordinator(req.Group)
	if code != 0 {
		fail(code)
		return
	}
	lg := cs.live[req.Group]
	if lg == nil {
		fail(kerr.UnknownMemberID.Code)
		return
	}
	size := 0
	for _, a := range req.GroupAssignment {
		size += len(a.MemberID) + len(a.MemberAssignment)
		if len(a.MemberAssignment) > memberMetadataBytesMax {
			size = groupMetadataBytesMax + 1
		}
	}
	if size > groupMetadataBytesMax {
		fail(kerr.InvalidRequest.Code)
		return
	}
	if !lg.whenIdle(func() { n.sync(g, lg, cn, s, corr, req, resp) }) {
		fail(kerr.CoordinatorNotAvailable.Code)
	}
}

func (n *Node) sync(g *group, lg *liveGroup, cn *conn, s *slot, corr int32, req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse) {
	fail := func(code int16) {
		resp.ErrorCode = code
		n.fill(cn, s, corr, resp)
	}
	m := lg.members[req.MemberID]
	if m == nil {
		fail(kerr.UnknownMemberID.Code)
		return
	}
	if code := lg.checkInstance(req.InstanceID, m.id); code != 0 {
		fail(code)
		return
	}
	if req.Generation != lg.generation {
		fail(kerr.IllegalGeneration.Code)
		return
	}
	if req.ProtocolType != nil && *req.ProtocolType != lg.protocolType || req.Protocol != nil && *req.Protocol != lg.protocol {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	answer := func(code int16) {
		resp.ErrorCode = code
		if code == 0 {
			pt, p := lg.protocolType, lg.protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
			resp.MemberAssignment = m.assignment
			if resp.MemberAssignment == nil {
				resp.MemberAssignment = []byte{}
			}
			m.expires = n.now.Add(m.sessionTimeout)
		}
		n.fill(cn, s, corr, resp)
	}
	switch lg.state {
	case stateStable:
		answer(0)
		return
	case stateCompletingRebalance:
	default:
		fail(kerr.RebalanceInProgress.Code)
		return
	}
	if m.sync != nil {
		m.answerSync(kerr.RebalanceInProgress.Code) // superseded
	}
	cn.noteHeld(lg)
	m.sync = &heldAnswer{cn: cn, s: s, corr: corr, answer: answer}
	if m.id != lg.leader {
		return
	}
	assign := make(map[string][]byte, len(req.GroupAssignment))
	for _, a := range req.GroupAssignment {
		assign[a.MemberID] = a.MemberAssignment
	}
	gen := lg.generation
	// The assignment is written as the generation's metadata; members
	// the leader named none for get an empty one.
	for _, o := range lg.members {
		o.assignment = append([]byte{}, assign[o.id]...)
	}
	v := lg.metadataValue(gen, lg.protocol, lg.leader, n.now, true)
	n.groupWrite(g, lg, groupGuard{kind: guardGeneration, group: lg.name, gen: gen}, v, func(code int16) {
		if code != 0 {
			// Not written: the members must rejoin.
			for _, o := range lg.sortedMembers() {
				o.assignment = nil
			}
			n.prepareRebalance(g, lg)
			return
		}
		lg.setState(stateStable, n.now)
		for _, o := range lg.sortedMembers() {
			o.answerSync(0)
		}
	})
	n.scheduleGroup(g, lg)
}
