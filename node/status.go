package node

// Introspection for tests, the simulator's invariant checks and the host's
// logs. None of it changes the node.

import "github.com/ketch-dev/ketch/wal"

// GroupStatus is one raft group as this node sees it.
type GroupStatus struct {
	Group         uint64
	Topic         string // empty for the metadata group
	Partition     int32
	Term          uint64
	Lead          uint64 // 0 if unknown
	Leader        bool
	Serving       bool // leader with an entry of its term applied (safety rule 1)
	Commit        uint64
	Applied       uint64
	HighWatermark int64 // partitions only
	Voters        []uint64
}

// Status lists every group this node hosts, in group order.
func (n *Node) Status() []GroupStatus { return n.AppendStatus(nil) }

// AppendStatus appends Status to dst, so a caller asking after every step
// (the simulator's invariant checks) can reuse one slice.
func (n *Node) AppendStatus(dst []GroupStatus) []GroupStatus {
	out := dst
	for _, id := range n.groupOrder {
		g := n.groups[id]
		st := GroupStatus{Group: id, Term: g.term, Lead: g.lead, Leader: g.leader, Serving: g.serving(),
			Commit: g.rn.BasicStatus().HardState.GetCommit(), Applied: g.applied, Voters: g.voters, HighWatermark: -1}
		if g.part != nil {
			st.Topic, st.Partition, st.HighWatermark = g.part.topic, g.part.index, g.part.next
		}
		out = append(out, st)
	}
	return out
}

// ID is the node's id.
func (n *Node) ID() uint64 { return n.cfg.ID }

// Recovering lists the groups still recovering (see Config.Recover), sorted.
func (n *Node) Recovering() []uint64 {
	var out []uint64
	for _, id := range n.groupOrder {
		if n.groups[id].recovering {
			out = append(out, id)
		}
	}
	return out
}

// Observer hears every entry a node applies, in order per group. The
// simulator uses it to check that replicas apply the same entries at the same
// indexes. It must not call back into the node.
type Observer interface {
	Applied(group, index, term uint64, data []byte)
}

// Bugs that can be planted in a node so the simulator can show its checks
// catch them. Only the simulator and the chaos build set Config.Bug; nothing
// in an ordinary build of cmd/node can.
const (
	// BugAckBeforeCommit answers a produce as soon as it is proposed, with a
	// guessed offset, before the entry commits.
	BugAckBeforeCommit = "ack-before-commit"
	// BugStaleRead serves fetch without confirming leadership (no ReadIndex).
	BugStaleRead = "stale-read"
	// BugSkipFsync acknowledges without making the log durable.
	BugSkipFsync = "skip-fsync"
	// BugNoDedupe forgets idempotent producers' recent batches, so a retry
	// is appended again.
	BugNoDedupe = "no-dedupe"
	// BugFsyncRetry and BugTruncateOnCorruption are planted in the log: the
	// host passes Config.Bug on as wal.Options.Bug.
	BugFsyncRetry           = wal.BugFsyncRetry
	BugTruncateOnCorruption = wal.BugTruncateOnCorruption
)

// Bugs lists the plantable bugs.
func Bugs() []string {
	return []string{BugAckBeforeCommit, BugFsyncRetry, BugNoDedupe, BugSkipFsync, BugStaleRead, BugTruncateOnCorruption}
}

// ReportUnreachable tells every group that messages to peer could not be
// delivered (the transport dropped them), so raft probes it instead of
// streaming to it.
func (n *Node) ReportUnreachable(peer uint64) {
	for _, id := range n.groupOrder {
		n.groups[id].rn.ReportUnreachable(peer)
	}
}

// TransferLeadership asks every group this node leads to hand leadership to
// its most caught-up other voter, so that a node shutting down cleanly does
// not leave its partitions leaderless for an election timeout. It returns how
// many groups this node still leads; a caller shutting down calls it, keeps
// processing, and stops once it returns 0 or its patience runs out.
func (n *Node) TransferLeadership() int {
	leading := 0
	for _, id := range n.groupOrder {
		g := n.groups[id]
		if !g.leader || len(g.voters) < 2 {
			continue // a sole voter has no one to hand over to
		}
		leading++
		st := g.rn.Status()
		var best, match uint64
		for _, v := range g.voters {
			if pr, ok := st.Progress[v]; ok && v != n.cfg.ID && (best == 0 || pr.Match > match) {
				best, match = v, pr.Match
			}
		}
		if best != 0 && st.LeadTransferee != best {
			g.rn.TransferLeader(best)
		}
	}
	return leading
}
