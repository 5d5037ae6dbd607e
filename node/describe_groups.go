package node

// DescribeGroups (key 15), v0–v6: each group routed to its coordinator and
// described from its session state, as Kafka's ClassicGroup.describe: the
// protocol and each member's subscription and assignment only while Stable
// (during a rebalance they are not settled). A group with only offsets is
// Empty; an unknown one is Dead, and from v6 GROUP_ID_NOT_FOUND (KIP-1043).
// Authorized operations, when asked, are every group operation: ketch has
// no authorizer, and Kafka without one allows all.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOpsAll is READ|DELETE|DESCRIBE, the operations on a group resource
// (ACL operation codes 3, 6 and 8), as a bit set.
const groupOpsAll = 1<<3 | 1<<6 | 1<<8

// groupView is what a coordinator says of a group: its state and protocol
// type, and its session state if it has one. ok is false for a group it
// does not know.
func groupView(cs *coordState, name string) (state groupState, protocolType string, lg *liveGroup, ok bool) {
	r := cs.group(name)
	if lg := cs.live[name]; lg != nil {
		protocolType = lg.protocolType
		if protocolType == "" && r != nil && r.meta != nil {
			// The session state forgets an emptied group's protocol
			// type; Kafka keeps reporting it, and so does the log.
			protocolType = r.meta.ProtocolType
		}
		return lg.state, protocolType, lg, true
	}
	if r == nil {
		return stateDead, "", nil, false
	}
	if r.meta != nil {
		protocolType = r.meta.ProtocolType
	}
	return stateEmpty, protocolType, nil, true
}

func (n *Node) handleDescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = name
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOpsAll
		}
		resp.Groups = append(resp.Groups, n.describeGroup(dg, req.Version))
	}
	return resp
}

func (n *Node) describeGroup(dg kmsg.DescribeGroupsResponseGroup, version int16) kmsg.DescribeGroupsResponseGroup {
	_, cs, code := n.groupCoordinator(dg.Group)
	if code != 0 {
		dg.ErrorCode = code
		return dg
	}
	state, protocolType, lg, ok := groupView(cs, dg.Group)
	dg.State, dg.ProtocolType = state.String(), protocolType
	if cs.consumer[dg.Group] != nil {
		// A KIP-848 group is not classic: Kafka describes it as unknown.
		state, ok = stateDead, false
		dg.State, dg.ProtocolType = state.String(), ""
	}
	if !ok {
		if version >= 6 {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			dg.ErrorMessage = kmsg.StringPtr("group " + dg.Group + " not found")
		}
		return dg
	}
	if lg == nil {
		return dg
	}
	stable := lg.state == stateStable
	if stable {
		dg.Protocol = lg.protocol
	}
	for _, m := range lg.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		if stable {
			dm.ProtocolMetadata = m.metadataFor(lg.protocol)
			dm.MemberAssignment = m.assignment
		}
		dg.Members = append(dg.Members, dm)
	}
	return dg
}
