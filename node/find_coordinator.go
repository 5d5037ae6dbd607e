package node

// FindCoordinator (key 10), v0–v6, batched keys from v4 (KIP-699). A
// group's coordinator is the leader of its __consumer_offsets partition
// (coordinator.go); the topic is created on the first ask, answering
// COORDINATOR_NOT_AVAILABLE until a leader is known, which clients retry.
// Transactions are not supported: a transaction coordinator is refused with
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED (as InitProducerId refuses a
// transactional id), so a transactional client fails at once rather than
// retrying forever. Share groups (type 2) are not supported: INVALID_REQUEST.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleFindCoordinator(req *kmsg.FindCoordinatorRequest) *kmsg.FindCoordinatorResponse {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version <= 3 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Port = -1, -1
		var msg string
		switch {
		case req.CoordinatorType == 1:
			c.ErrorCode, msg = kerr.TransactionalIDAuthorizationFailed.Code, "transactions are not supported"
		case req.CoordinatorType != 0:
			c.ErrorCode, msg = kerr.InvalidRequest.Code, "unsupported coordinator type"
		case key == "":
			c.ErrorCode, msg = kerr.InvalidRequest.Code, "group id must not be empty"
		default:
			id, code := n.coordinatorNode(key)
			c.ErrorCode = code
			if code == 0 {
				c.NodeID = id
				c.Host, c.Port = n.brokerAddr(id)
			}
		}
		if msg != "" {
			c.ErrorMessage = &msg
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version <= 3 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
		resp.Coordinators = nil
	}
	return resp
}

// brokerAddr is where clients reach a broker (this node's own advertised
// address for itself).
func (n *Node) brokerAddr(id int32) (string, int32) {
	if id == int32(n.cfg.ID) {
		return n.cfg.AdvertisedHost, n.cfg.AdvertisedPort
	}
	b := n.meta.brokers[id]
	return b.host, b.port
}
