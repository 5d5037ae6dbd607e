package node

// LeaveGroup (key 13), v0–v5: one member (v0–v2) or a batch of members by
// id or group.instance.id (v3+, KIP-345). A member that leaves is removed
// and the group rebalances without waiting for its session to end. A
// static member named by instance id with a member id that is not the one
// holding the instance is FENCED_INSTANCE_ID; an unknown one
// UNKNOWN_MEMBER_ID (per member from v3).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleLeaveGroup(cn *conn, corr int32, req *kmsg.LeaveGroupRequest) {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
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
	members := req.Members
	if req.Version <= 2 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	if len(members) > membersPerGroupMax {
		fail(kerr.InvalidRequest.Code)
		return
	}
	lg := cs.live[req.Group]
	if lg == nil {
		if req.Version <= 2 {
			fail(kerr.UnknownMemberID.Code)
			return
		}
		for _, rm := range members {
			m := kmsg.NewLeaveGroupResponseMember()
			m.MemberID, m.InstanceID, m.ErrorCode = rm.MemberID, rm.InstanceID, kerr.UnknownMemberID.Code
			resp.Members = append(resp.Members, m)
		}
		n.fill(cn, s, corr, resp)
		return
	}
	ok := lg.whenIdle(func() {
		left := false
		for _, rm := range members {
			code := n.leave(lg, rm.MemberID, rm.InstanceID)
			left = left || code == 0
			if req.Version <= 2 {
				resp.ErrorCode = code
				continue
			}
			m := kmsg.NewLeaveGroupResponseMember()
			m.MemberID, m.InstanceID, m.ErrorCode = rm.MemberID, rm.InstanceID, code
			resp.Members = append(resp.Members, m)
		}
		if left {
			n.membershipChanged(g, lg)
			n.scheduleGroup(g, lg)
		}
		n.fill(cn, s, corr, resp)
	})
	if !ok {
		fail(kerr.CoordinatorNotAvailable.Code)
	}
}

// leave removes one member, by instance id if given.
func (n *Node) leave(lg *liveGroup, memberID string, instanceID *string) int16 {
	if instanceID != nil {
		id, ok := lg.instances[*instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case memberID != "" && memberID != id:
			return kerr.FencedInstanceID.Code
		}
		memberID = id
	}
	if _, ok := lg.pendingMembers[memberID]; ok {
		delete(lg.pendingMembers, memberID)
		return 0
	}
	m := lg.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	n.removeMember(lg, m, kerr.UnknownMemberID.Code)
	return 0
}
