package node

// InitProducerId (key 22), v0–v4, for idempotent producers. Every call
// allocates a fresh producer id through the metadata group (epoch 0), so ids
// are unique across the cluster and failovers. Any broker serves it: a
// follower forwards the allocation to the metadata leader and answers when
// the entry applies. With no metadata leader known it answers
// COORDINATOR_NOT_AVAILABLE, which clients retry. A transactional id is
// refused: transactions are not supported (and FindCoordinator, which a
// transactional client needs first, is not served).

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleInitProducerID(cn *conn, corr int32, req *kmsg.InitProducerIDRequest) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	s := n.newSlot(cn)
	mg := n.groups[metaGroup]
	switch {
	case req.TransactionalID != nil:
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case mg.lead == 0:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	default:
		n.propose(mg, cmdAllocProducer, nil, n.now.Add(30*time.Second),
			func(res any) {
				resp.ProducerID = res.(metaResult).producerID
				resp.ProducerEpoch = 0
				n.fill(cn, s, corr, resp)
			},
			func(code int16) {
				if code == kerr.NotLeaderForPartition.Code {
					code = kerr.CoordinatorNotAvailable.Code // the metadata leader changed
				}
				resp.ErrorCode = code
				n.fill(cn, s, corr, resp)
			})
		return
	}
	n.fill(cn, s, corr, resp)
}
