package node

// Heartbeat (key 12), v0–v4: keeps a member's session alive; during a
// rebalance it answers REBALANCE_IN_PROGRESS, which sends the member to
// rejoin. Answered at once from the coordinator's session state.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleHeartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	_, cs, code := n.groupCoordinator(req.Group)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	lg := cs.live[req.Group]
	if lg == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	m := lg.members[req.MemberID]
	switch {
	case m == nil:
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	case lg.checkInstance(req.InstanceID, m.id) != 0:
		resp.ErrorCode = lg.checkInstance(req.InstanceID, m.id)
		return resp
	case req.Generation != lg.generation:
		resp.ErrorCode = kerr.IllegalGeneration.Code
		return resp
	}
	switch lg.state {
	case statePreparingRebalance:
		m.expires = n.now.Add(m.sessionTimeout)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	case stateCompletingRebalance, stateStable:
		m.expires = n.now.Add(m.sessionTimeout)
	default:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	}
	return resp
}
