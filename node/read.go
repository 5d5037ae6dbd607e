package node

// Confirmed reads: requests other than Fetch that answer from a partition's
// state (ListOffsets, OffsetForLeaderEpoch) pass the same ReadIndex barrier
// as a fetch (safety rule 9), so a deposed leader that still believes it
// leads cannot answer from stale state: they are fetchWaits with an answer
// function, armed, confirmed and failed by fetch.go's machinery, but never
// parked.

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// newRead starts a confirmed read on a connection; the caller adds its
// partitions with addTopic and addPart, sets answer, and calls startRead.
func (n *Node) newRead(cn *conn, corr int32) *fetchWait {
	return &fetchWait{cn: cn, s: n.newSlot(cn), corr: corr, deadline: n.now}
}

// addTopic opens the next row of partitions.
func (fw *fetchWait) addTopic(partitions int) {
	fw.codes = append(fw.codes, make([]int16, partitions))
	fw.groups = append(fw.groups, make([]uint64, partitions))
}

// addPart records partition j of the last topic: an error decided up front,
// or the group whose leadership the answer needs confirmed.
func (fw *fetchWait) addPart(j int, g *group, code int16) {
	i := len(fw.codes) - 1
	fw.codes[i][j] = code
	if code != 0 {
		fw.anyError = true
		return
	}
	fw.groups[i][j] = g.id
	for _, id := range fw.distinct {
		if id == g.id {
			return
		}
	}
	fw.distinct = append(fw.distinct, g.id)
}

// startRead answers at once if no partition needs a confirmation, and
// otherwise queues the barriers. The wait counts toward fetchWaitsMax's
// count, but is never refused for it: answering unconfirmed is not an
// option, and the wait lasts one barrier round (or fetchBarrierGrace).
func (n *Node) startRead(fw *fetchWait) {
	if len(fw.distinct) == 0 {
		fw.done = true
		n.fill(fw.cn, fw.s, fw.corr, fw.answer())
		return
	}
	sortU64(fw.distinct)
	n.fetches++
	n.trackFetch(fw) // a closed connection releases it, as it does a fetch
	if n.cfg.Bug == BugStaleRead {
		fw.waiting = 1
		n.evaluateFetch(fw) // planted bug: no leadership confirmation
		return
	}
	n.armFetch(fw)
}

// readGroup is the group a confirmed read answers from; a nil group (removed
// while the read waited) answers NOT_LEADER_OR_FOLLOWER.
func (n *Node) readGroup(fw *fetchWait, i, j int) (*group, int16) {
	if code := fw.codes[i][j]; code != 0 {
		return nil, code
	}
	g := n.groups[fw.groups[i][j]]
	if g == nil || g.part == nil {
		return nil, kerr.NotLeaderForPartition.Code
	}
	return g, 0
}

// epochOf is the leader epoch this node stamps, reports and checks for a
// group: its raft term (safety rule 6). With the planted BugEpochNotTerm it
// is the leader's own counter, and a follower repeats the leader's report.
func (n *Node) epochOf(g *group) uint64 {
	if n.cfg.Bug == BugEpochNotTerm {
		if g.leader {
			return g.epoch
		}
		return n.meta.leaders[g.id].term
	}
	return g.term
}

// checkEpoch is epochCheck unless the planted fetch-ignores-epoch bug is on.
func (n *Node) checkEpoch(g *group, epoch int32) int16 {
	if n.cfg.Bug == BugFetchIgnoresEpoch {
		return 0 // planted bug: the client's CurrentLeaderEpoch is not checked
	}
	return epochCheck(n.epochOf(g), epoch)
}
