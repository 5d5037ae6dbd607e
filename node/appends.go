package node

import (
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// etcd raft sends a follower an empty MsgApp every time the leader's commit
// index advances (bcastAppend), on top of the MsgApp that carries entries,
// and the follower answers each: a produced batch costs about ten peer
// messages. Within one Process a leader often hands a follower two MsgApps
// of one group and term back to back, one of them empty:
//
//   - the commit-only MsgApp of one round, then, for the next proposal, a
//     MsgApp at an index no lower with a commit no lower: the later one tells
//     the follower everything the empty one would (raft's follower commits
//     min(commit, index+len(entries))), so the empty one is left out;
//   - a MsgApp with entries, then the commit-only MsgApp that follows it
//     once the leader's own append and a follower's answer committed them,
//     at the index just past those entries: the entries' message takes the
//     later commit, which the follower again caps at its last new entry, the
//     index the empty one names, and the empty one is left out.
//
// Either way the follower learns the same from the frame, and does not step,
// nor answer, a message that would tell it nothing new. Leaving a message
// out is what a lossy network may do to any raft message, so safety is
// raft's own, and the commit index still travels; an empty MsgApp is not
// counted in the leader's in-flight window (raft's Progress.SentEntries adds
// only entries), so no window slot waits on an answer that will not come.
// raft's Config has no switch for this; the node does it on the way out.

// appKey names a follower's copy of a group: the messages to it, in order.
type appKey struct{ group, to uint64 }

// appMark is the last MsgApp kept to a key, scanning from the end: its
// position, term, index (where its entries start, less one), entries and
// commit.
type appMark struct {
	at                        int
	term, index, ents, commit uint64
}

// droppedApp marks, by its address, a message mergeAppends drops.
var droppedApp = &raftpb.Message{}

// mergeAppends drops from msgs, in place, the empty MsgApps a neighbour
// MsgApp to the same node and group makes redundant (see above); the others
// keep their order. later is scratch, cleared on return.
func mergeAppends(msgs []PeerMessage, later map[appKey]appMark) []PeerMessage {
	empties := 0
	for i := range msgs {
		if isEmptyApp(msgs[i].Msg) {
			empties++
		}
	}
	if empties == 0 {
		return msgs
	}
	defer clear(later)
	dropped := 0
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i].Msg
		if m == nil || m.GetType() != raftpb.MessageType_MsgApp {
			continue
		}
		k := appKey{msgs[i].Group, msgs[i].To}
		mark := appMark{at: i, term: m.GetTerm(), index: m.GetIndex(), ents: uint64(len(m.GetEntries())), commit: m.GetCommit()}
		if l, ok := later[k]; ok && l.term == mark.term {
			if mark.ents == 0 && l.index >= mark.index && l.commit >= mark.commit {
				msgs[i].Msg = droppedApp // superseded by the later one
				dropped++
				continue
			}
			if l.ents == 0 && l.index == mark.index+mark.ents && l.commit >= mark.commit {
				// The later one only carries the commit: this one takes it.
				m.Commit = msgs[l.at].Msg.Commit
				mark.commit = l.commit
				msgs[l.at].Msg = droppedApp
				dropped++
			}
		}
		later[k] = mark
	}
	if dropped == 0 {
		return msgs
	}
	k := 0
	for i := range msgs {
		if msgs[i].Msg == droppedApp {
			continue
		}
		msgs[k] = msgs[i]
		k++
	}
	clear(msgs[k:])
	return msgs[:k]
}

func isEmptyApp(m *raftpb.Message) bool {
	return m != nil && m.GetType() == raftpb.MessageType_MsgApp && len(m.GetEntries()) == 0
}

// commitHoldMax is how long the node holds a commit-only MsgApp back before
// sending it. Under load the leader proposes again within a few
// milliseconds, and the MsgApp carrying those entries carries the commit
// too: the empty one, its follower's Step and its answer are saved (about a
// third of a loaded cluster's peer messages). A follower so learns a
// commit at most this much later, which only delays its apply (a Kafka
// follower learns the high watermark on its next fetch, up to
// replica.fetch.wait.max.ms, 500 ms, later); the leader's commit, and so
// every acknowledgement and read, is not delayed at all.
const commitHoldMax = 20 * time.Millisecond

// sendAppends prepares Process's peer messages: the commit-only MsgApps held
// go first (they are the oldest), mergeAppends drops those a later MsgApp
// makes redundant, and until heldUntil the commit-only ones left are held
// again; once it passed, all leave.
func (n *Node) sendAppends() {
	if n.laterApps == nil {
		n.laterApps = map[appKey]appMark{}
	}
	msgs := n.out.Messages
	if held := n.heldApps; len(held) > 0 {
		// msgs leave with the Output, so they get an array of their own;
		// held's stays for the next ones held (not one growth per Process).
		msgs = append(append(make([]PeerMessage, 0, len(held)+len(msgs)), held...), msgs...)
		clear(held)
		n.heldApps = held[:0]
	}
	msgs = mergeAppends(msgs, n.laterApps)
	if !n.heldUntil.IsZero() && !n.now.Before(n.heldUntil) {
		n.heldUntil = time.Time{}
		n.out.Messages = msgs
		return
	}
	k := 0
	for _, pm := range msgs {
		if isEmptyApp(pm.Msg) {
			n.heldApps = append(n.heldApps, pm)
			continue
		}
		msgs[k] = pm
		k++
	}
	clear(msgs[k:])
	n.out.Messages = msgs[:k]
	switch {
	case len(n.heldApps) == 0:
		n.heldUntil = time.Time{} // nothing to wake up for
	case n.heldUntil.IsZero():
		n.heldUntil = n.now.Add(commitHoldMax)
	}
}
