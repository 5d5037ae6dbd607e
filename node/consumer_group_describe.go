package node

// ConsumerGroupDescribe (key 69), v0–v1: the KIP-848 groups' state, epochs,
// assignor and members with their current and target assignments, answered
// from the coordinator's fold. A group id this coordinator has no consumer
// group for (none, or a classic one) is GROUP_ID_NOT_FOUND, as Kafka
// answers; v1 adds each member's MemberType (1: consumer protocol). Groups
// hashed to partitions this node does not lead answer NOT_COORDINATOR each.
// Authorized operations are not computed (no ACLs): the field stays
// Kafka's "not requested" value.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cgDescribeGroupsMax bounds the groups one request may name.
const cgDescribeGroupsMax = 10000

func (n *Node) handleConsumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for i, name := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group = name
		switch {
		case i >= cgDescribeGroupsMax:
			dg.ErrorCode = kerr.InvalidRequest.Code
		case name == "" || len(name) > groupIDBytesMax:
			dg.ErrorCode = kerr.InvalidGroupID.Code
		default:
			_, cs, code := n.coordinatorFor(name)
			if code != 0 {
				dg.ErrorCode = code
				break
			}
			cg := cs.consumer[name]
			if cg == nil {
				dg.ErrorCode = kerr.GroupIDNotFound.Code
				msg := "Group " + name + " not found."
				dg.ErrorMessage = &msg
				break
			}
			cg.describe(&dg, metaTopics{n.meta})
			if req.Version < 1 {
				for j := range dg.Members {
					dg.Members[j].MemberType = -1
				}
			}
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}
