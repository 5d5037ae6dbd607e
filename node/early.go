package node

// Raft messages for partition groups not created here yet.
//
// A partition's group is created on each replica when the metadata entry
// naming it applies there, and the replicas apply it at different times:
// the metadata leader first, its followers once they hear of the commit.
// The preferred replica campaigns as it creates the group, so a peer that
// had not applied the entry yet dropped its pre-vote, and the group waited
// for a retry: a third of every CreateTopics' partitions (those whose
// preferred replica is the metadata leader), and on a loaded node the
// retry also threw away the next round's votes in flight. Such a message
// is held instead, and stepped once the group exists here: to raft it is a
// message the network delayed. It is dropped once the metadata applied
// here shows that the group is not this node's (or went away), and beyond
// the bounds below (raft's own retries then stand in for it, as for any
// message lost).

// Bounds on the messages held: a creation of 1,000 partitions holds about
// 2,000 pre-votes on a peer one entry behind, so a few CreateTopics'
// worth, and the bytes of a few appends.
const (
	earlyMsgsMax  = 32768
	earlyBytesMax = 16 << 20
)

// earlyMsgs are the messages held, by group.
type earlyMsgs struct {
	byGroup      map[uint64][]PeerMessage
	count, bytes int
}

// holdEarly keeps a raft message for a group this node does not have, if
// the metadata applied here has not named that group yet; it reports
// whether it kept it.
func (n *Node) holdEarly(m PeerMessage) bool {
	if m.Msg == nil || m.Group < n.meta.nextGroup {
		return false // created and not ours, or gone: drop it
	}
	size := earlyMsgBytes(m)
	e := &n.early
	if e.count >= earlyMsgsMax || e.bytes+size > earlyBytesMax {
		return false
	}
	if e.byGroup == nil {
		e.byGroup = map[uint64][]PeerMessage{}
	}
	e.byGroup[m.Group] = append(e.byGroup[m.Group], m)
	e.count++
	e.bytes += size
	return true
}

// stepEarly steps the messages held for a group just created, in the order
// they came.
func (n *Node) stepEarly(id uint64) {
	msgs, ok := n.early.byGroup[id]
	if !ok {
		return
	}
	delete(n.early.byGroup, id)
	for _, m := range msgs {
		n.early.count--
		n.early.bytes -= earlyMsgBytes(m)
		n.step(m)
	}
}

// dropEarly forgets the messages held for groups the metadata applied here
// has named by now without this node creating them.
func (n *Node) dropEarly() {
	for id, msgs := range n.early.byGroup {
		if id >= n.meta.nextGroup {
			continue
		}
		if _, ok := n.groups[id]; ok {
			continue // created: stepEarly takes them
		}
		for _, m := range msgs {
			n.early.count--
			n.early.bytes -= earlyMsgBytes(m)
		}
		delete(n.early.byGroup, id)
	}
}

// earlyMsgBytes is about what a held message keeps in memory.
func earlyMsgBytes(m PeerMessage) int {
	size := 128
	for _, e := range m.Msg.GetEntries() {
		size += 64 + len(e.GetData())
	}
	if s := m.Msg.GetSnapshot(); s != nil {
		size += len(s.GetData())
	}
	return size
}
