package node

// Broker sessions. Kafka's Metadata lists only brokers that are alive: a
// broker whose heartbeats to the controller stop for
// broker.session.timeout.ms (9 s) is fenced and left out, and clients that
// keep a broker because Metadata still lists it (sarama's ConsumerGroup
// keeps its coordinator so) find another. ketch's controller is the
// metadata group's leader, and every broker is a voter of that group, so a
// live broker's raft messages reach the leader every heartbeat tick: a
// broker the leader has not heard from for brokerSessionTimeout (and that
// it has led long enough to judge) is fenced, through the metadata log, and
// unfenced when it is heard again. Metadata leaves fenced brokers out
// (a node still lists itself: whoever reached it can), and FindCoordinator
// names none.

import (
	"encoding/binary"
	"time"
)

// brokerSessionTimeout is Kafka's broker.session.timeout.ms.
const brokerSessionTimeout = 9 * time.Second

func appendFence(dst []byte, id int32, fenced bool) []byte {
	dst = binary.AppendVarint(dst, int64(id))
	if fenced {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// heardFrom notes a metadata-group message from a peer (on the leader it
// is its liveness).
func (n *Node) heardFrom(peer uint64) {
	if n.peerHeard == nil {
		n.peerHeard = map[uint64]time.Time{}
	}
	n.peerHeard[peer] = n.now
}

// checkBrokerSessions, on the metadata leader, fences the brokers it has
// not heard from within the session timeout and unfences those it hears
// again. A proposal is repeated at most every reportInterval per broker.
func (n *Node) checkBrokerSessions() {
	mg := n.groups[metaGroup]
	if !mg.serving() || n.metaLeaderSince.IsZero() {
		return
	}
	for _, v := range n.voters {
		if v == n.cfg.ID {
			continue
		}
		id := int32(v)
		last := n.peerHeard[v]
		if last.Before(n.metaLeaderSince) {
			last = n.metaLeaderSince
		}
		fenced := n.now.Sub(last) > brokerSessionTimeout
		if fenced == n.meta.fenced[id] || n.now.Before(n.fenceProposedAt[v].Add(reportInterval)) {
			continue
		}
		if n.fenceProposedAt == nil {
			n.fenceProposedAt = map[uint64]time.Time{}
		}
		n.fenceProposedAt[v] = n.now
		n.logger.Info("broker session", "broker", id, "fenced", fenced)
		n.propose(mg, cmdFence, appendFence(nil, id, fenced), n.now.Add(reportInterval), func(any) {}, func(int16) {})
	}
}
