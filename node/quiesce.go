package node

// Quiescence: an idle partition costs almost nothing.
//
// A raft group ticks every TickInterval, and its leader heartbeats every
// follower each tick: with thousands of partitions that is most of an idle
// cluster's work. So an idle partition group stops ticking (as CockroachDB's
// ranges quiesce, cockroach #9315), behind a node-level liveness signal
// that keeps failure detection as fast as the ticking groups' own:
//
//   - A leader whose group is fully replicated and applied (every live
//     voter's match, the commit index and the applied index at the last
//     index; a voter on a node counted down is woken for when it is back), with
//     nothing proposed, read or transferred in flight, and a quorum of its
//     voters' nodes live, marks the group quiescing before a tick. The next
//     heartbeat it sends carries PeerMessage.Quiesce, and from then on the
//     group is not ticked.
//   - A follower that steps such a heartbeat quiesces only if it agrees:
//     same term and leader, its commit index the heartbeat's, and nothing in
//     its log past it. Otherwise it keeps ticking, and its election timer
//     wakes the leader in the end (a pre-vote, even one ignored, is a raft
//     message).
//   - Any raft message (but a heartbeat's answer to a quiesced leader),
//     proposal, read barrier or leadership transfer wakes the group.
//   - Every node sends each peer one small Alive per raft tick: one per peer
//     pair, whatever the number of groups. Any message from a peer counts. A
//     peer silent for ElectionTicks ticks is down; then every quiesced group
//     it leads wakes, and so does every quiesced group led here that lost a
//     quorum of live voters (so CheckQuorum still steps it down). A peer
//     heard again, or restarted (a new incarnation), wakes the quiesced
//     groups led here that it is a voter of (it may need entries, or a
//     repair, and a restarted node leads nothing: groups it led wake too).
//   - A follower that does not tick keeps its electionElapsed where the
//     last heartbeat left it, and etcd raft ignores pre-votes while that is
//     under the election timeout and a leader is known (the leader lease of
//     CheckQuorum). So a follower woken because its leader went away
//     forgets the leader, and the lowest-numbered live voter campaigns at
//     once (wakeLeaderless). A leader woken because its quorum went away
//     catches up the ticks it missed (RawNode.TickQuiesced moves only the
//     election timer), so its next check-quorum round comes at once.
//
// Tick visits only the groups awake (Node.awake), so a quiesced group costs
// a tick nothing. The metadata group never quiesces (broker sessions hang
// on its heartbeats), nor does a recovering replica.

import (
	"cmp"
	"math/bits"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// BugQuiesceDeadLeader (CockroachDB's first quiescence, cockroach #9315 and
// #9383, 2016: "If the leader of a quiesced range dies, followers will not
// notice, though any request directed to the range will eventually end up on
// a follower which will unquiesce the follower"; waking on liveness came
// later, #26911): a quiesced follower is not woken when its leader's node
// goes silent or restarts. ketch's followers answer a produce or fetch
// NOT_LEADER_OR_FOLLOWER without calling raft, so nothing wakes an idle
// partition whose leader died: it stays leaderless until that node is back.
//
// Only idle partitions show it: the scenario many catches it, and swarm on
// its seeds with idle partitions and a lone crash held to the failover
// bound (scenarios/scenarios.go swarmIdleFailover).
const BugQuiesceDeadLeader = "quiesce-dead-leader"

// peerLiveness is what this node knows of one peer's liveness.
type peerLiveness struct {
	silentTicks int    // raft ticks since anything arrived from it
	incarnation uint64 // the last Alive's (0: none yet)
	down        bool   // silent for ElectionTicks ticks
}

// wake makes a group tick again.
func (n *Node) wake(g *group) {
	g.quiescing = false
	g.quiesced = false
	if !g.inAwake {
		g.inAwake = true
		n.awake = append(n.awake, g)
		n.awakeUnsorted = true
	}
}

// wakeLate wakes a group whose leader (or quorum) went silent: its election
// timer takes the ticks it missed meanwhile (see the package comment above).
func (n *Node) wakeLate(g *group) {
	n.wake(g)
	for i := 0; i < n.cfg.ElectionTicks; i++ {
		g.rn.TickQuiesced()
	}
	n.touch(g)
}

// wakeLeaderless wakes a quiesced follower whose leader's node went away.
// It forgets the leader (RawNode.ForgetLeader), so it grants pre-votes at
// once (etcd raft ignores them while a leader is known and the election
// timer is under the timeout: the follower did not tick, so its timer
// still reads the last heartbeat), and the lowest-numbered live voter
// campaigns at once. The others keep their timers: they campaign only if
// nobody won within their own randomized timeout. Catching every
// follower's timer up instead would have them all past the timeout in the
// same tick, and with ElectionTicks values to draw from, one group in
// ElectionTicks would split its vote (and so again): thousands of groups
// waking together would always leave some leaderless for seconds.
//
// The campaigner retries (3, 6, 12, 24 ticks, as a new group's: tickAwake)
// until a leader is known: another voter may not have counted the leader
// down yet when its pre-vote arrives, and ignores it (the lease).
func (n *Node) wakeLeaderless(g *group, gone uint64) {
	n.wake(g)
	_ = g.rn.ForgetLeader()
	n.touch(g)
	if g.recovering {
		return // it may not campaign (Config.Recover)
	}
	for _, v := range g.voters {
		if v != gone && v < n.cfg.ID && (n.live[v] == nil || !n.live[v].down) {
			return // a lower live voter campaigns
		}
	}
	_ = g.rn.Campaign()
	g.campaign, g.campaignedAt = true, 1
}

// tickAwake ticks the groups awake, in group order, dropping those that
// quiesced or went away, and marks the leaders that may quiesce.
func (n *Node) tickAwake() {
	if n.awakeUnsorted {
		slices.SortFunc(n.awake, func(a, b *group) int { return cmp.Compare(a.id, b.id) })
		n.awakeUnsorted = false
	}
	k := 0
	for _, g := range n.awake {
		if n.groups[g.id] != g || g.quiesced {
			g.inAwake = false
			continue
		}
		n.awake[k] = g
		k++
		if g.recovering || g.awaitMeta {
			// A follower's ticks only run its election timer: without
			// them it never campaigns.
			continue
		}
		if !g.quiescing && n.mayQuiesce(g) {
			// This tick's heartbeat carries the request (Process).
			g.quiescing = true
		}
		if g.leader {
			// Twice a round: this count and raft's election timer may
			// be some ticks apart (raft becomes leader in a Step, the
			// node learns it at the next Process, and ticks come
			// between), and every round must contain one.
			if g.quorumTicks++; g.quorumTicks >= max(1, n.cfg.ElectionTicks/2) {
				g.quorumTicks = 0
				n.liveQuorumActive(g)
			}
		} else {
			g.quorumTicks = 0
		}
		g.rn.Tick()
		n.touch(g)
		if g.campaign && g.campaignedAt > 0 {
			g.campaignedAt++
			// Raft's view, not g.lead: that is the leader as of the last
			// Process, and a campaign for a dead leader's group
			// (wakeLeaderless, at a tick) forgot it in raft only, so
			// g.lead named the dead one at the first tick and the
			// retries were cancelled before any ran (swarm seed 109).
			bs := g.rn.BasicStatus()
			switch {
			case bs.Lead != 0 || g.campaignedAt > 3*n.cfg.ElectionTicks:
				g.campaign = false
			case g.campaignedAt%3 == 0 && bits.OnesCount(uint(g.campaignedAt/3)) == 1 &&
				bs.RaftState != raft.StateCandidate:
				// Backing off: retried every few ticks, thousands of
				// groups created at once would flood the peers with
				// pre-votes whenever the election took longer than that.
				// Not while a candidate: it won the pre-vote, and a
				// campaign would start over with another (the votes
				// granted and in flight lost), on a loaded node again
				// at every retry.
				_ = g.rn.Campaign()
			}
		}
	}
	clear(n.awake[k:])
	n.awake = n.awake[:k]
}

// liveQuorumActive tells a leader's raft, twice per check-quorum round (its
// election timeout), that the voters whose nodes are live are active, as an
// answer from them would: raft's CheckQuorum then steps a leader down only
// when a quorum of its voters' nodes went silent, not when one group's
// answers queue behind thousands of others' (10,000 groups created at once
// had leaders stepping down by the thousand, and their new elections made
// the queues longer still). It keeps CheckQuorum's guarantee at the node's
// granularity, the only one a network cuts at (one connection per pair of
// nodes): a leader cut off from its peers hears nothing from them, counts
// them down after ElectionTicks ticks and steps down at its next round, at
// most two election timeouts after the cut, as raft's own check (an answer
// just before the cut counts for the round after it). Reads are untouched:
// ReadIndex still waits for real heartbeat answers, commits for real
// appends.
//
// The answer is an empty MsgAppResp at index 0: raft marks the voter
// active and, since its match is above 0, changes nothing else. A voter
// not matched yet (a new leader's, whose answers are late) gets a
// heartbeat answer instead (no read context): it marks it active too, and
// at worst probes it again, once a round.
func (n *Node) liveQuorumActive(g *group) {
	type answer struct {
		id      uint64
		matched bool
	}
	var live []answer
	g.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if id != n.cfg.ID && n.live[id] != nil && !n.live[id].down {
			live = append(live, answer{id, pr.Match > 0})
		}
	})
	if len(live) == 0 {
		return
	}
	term := g.rn.BasicStatus().HardState.GetTerm()
	for _, a := range live {
		m := &raftpb.Message{Type: raftpb.MessageType_MsgAppResp.Enum(), From: proto.Uint64(a.id),
			To: proto.Uint64(n.cfg.ID), Term: proto.Uint64(term), Index: proto.Uint64(0)}
		if !a.matched {
			m.Type, m.Index = raftpb.MessageType_MsgHeartbeatResp.Enum(), nil
		}
		_ = g.rn.Step(m)
	}
}

// mayQuiesce reports whether a group this node leads is idle: nothing in
// flight, everything replicated to every voter, committed and applied, and
// a quorum of its voters' nodes live. The cheap checks come first: a busy
// group fails them without asking raft.
func (n *Node) mayQuiesce(g *group) bool {
	if g.part == nil || !g.serving() || g.campaign || len(g.pending) > 0 || len(g.barrierQueue) > 0 ||
		len(g.barriers) > 0 || len(g.readWaits) > 0 || len(g.bugEarly) > 0 || len(g.voters) < 2 {
		return false
	}
	if !n.quorumLive(g) || g.rn.HasReady() {
		return false
	}
	bs := g.rn.BasicStatus()
	if bs.RaftState != raft.StateLeader || bs.LeadTransferee != 0 {
		return false
	}
	last, err := g.st.LastIndex()
	if err != nil || bs.HardState.GetCommit() != last || g.applied != last {
		return false
	}
	// A voter on a node counted down need not have everything (cockroach
	// #26911): else a dead node would keep every group it is in ticking.
	// It is heard again before it can matter, and that wakes the group
	// (peerBack), so it is caught up then.
	all := true
	g.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		all = all && (pr.Match == last || n.live[id] != nil && n.live[id].down)
	})
	if !all || len(g.heardInc) != len(g.voters) {
		return false
	}
	// Every live voter's present run must have answered this group: a
	// leader keeps a restarted follower's match index, and a follower wiped
	// and restarting (Config.Recover) creates the group only once its
	// metadata is back, dropping heartbeats until then. A leader that
	// quiesced on the stale match would never heartbeat it again, and the
	// recovering replica, which never campaigns, would wait forever (swarm
	// seed 63).
	//
	// A live voter whose incarnation is not known yet (no Alive from it
	// since this node started) may be a run that never answered: heardInc
	// 0 would match its unknown 0 (swarm seed 63).
	for i, v := range g.voters {
		if pl := n.live[v]; v != n.cfg.ID && pl != nil && !pl.down && (pl.incarnation == 0 || g.heardInc[i] != pl.incarnation) {
			return false
		}
	}
	return true
}

// heardIn notes that a raft message of group g came from peer.
func (n *Node) heardIn(g *group, peer uint64) {
	pl := n.live[peer]
	if pl == nil {
		return
	}
	for i, v := range g.voters {
		if v == peer {
			if len(g.heardInc) != len(g.voters) {
				g.heardInc = make([]uint64, len(g.voters))
			}
			g.heardInc[i] = pl.incarnation
			return
		}
	}
}

// quorumLive reports whether a quorum of the group's voters' nodes (this
// one included) is live.
func (n *Node) quorumLive(g *group) bool {
	live := 0
	for _, v := range g.voters {
		if v == n.cfg.ID || n.live[v] != nil && !n.live[v].down {
			live++
		}
	}
	return live > len(g.voters)/2
}

// quiesceFollower quiesces a follower that stepped its leader's quiescing
// heartbeat, if it agrees that the group is idle.
func (n *Node) quiesceFollower(g *group, m *raftpb.Message) {
	if g.part == nil || g.recovering || g.campaign {
		return
	}
	bs := g.rn.BasicStatus()
	if bs.RaftState != raft.StateFollower || bs.Lead != m.GetFrom() || bs.HardState.GetTerm() != m.GetTerm() ||
		bs.HardState.GetCommit() != m.GetCommit() {
		return
	}
	if last, err := g.st.LastIndex(); err != nil || last != m.GetCommit() {
		return
	}
	g.quiesced, g.quiescing = true, false
}

// heard notes a message from a peer: it is live.
func (n *Node) heard(peer uint64) {
	pl := n.live[peer]
	if pl == nil {
		return
	}
	pl.silentTicks = 0
	if pl.down {
		pl.down = false
		n.peerBack(peer, false)
	}
}

// stepAlive takes a peer's liveness heartbeat.
func (n *Node) stepAlive(a *Alive) {
	pl := n.live[a.From]
	if pl == nil {
		return
	}
	n.heard(a.From)
	if pl.incarnation != a.Incarnation {
		restarted := pl.incarnation != 0
		pl.incarnation = a.Incarnation
		if restarted {
			n.peerBack(a.From, true)
		}
	}
}

// tickLiveness runs once per raft tick: peers silent for an election
// timeout go down.
func (n *Node) tickLiveness() {
	for _, v := range n.voters {
		pl := n.live[v]
		if pl == nil {
			continue
		}
		pl.silentTicks++
		if !pl.down && pl.silentTicks >= n.cfg.ElectionTicks {
			pl.down = true
			n.logger.Info("peer silent: counted down", "peer", v)
			n.peerDown(v)
		}
	}
}

// sendAlive queues this tick's liveness heartbeat for every peer.
func (n *Node) sendAlive() {
	for _, v := range n.voters {
		if v != n.cfg.ID {
			n.out.Messages = append(n.out.Messages, PeerMessage{To: v, Alive: &Alive{From: n.cfg.ID, Incarnation: n.cfg.Incarnation}})
		}
	}
}

// peerDown wakes the groups that a silent peer leads, and the quiesced (or
// quiescing) ones led here that lost a quorum of live voters. A follower that is awake
// forgets the leader too: one woken by another voter's pre-vote just
// before this node counted the leader down (any message wakes a group)
// would otherwise ignore the pre-votes under its lease, its timer fresh,
// and the group would wait out a randomized election timeout or two. A
// scan of the groups, on a peer going down: rare, never per tick.
func (n *Node) peerDown(peer uint64) {
	for _, id := range n.groupOrder {
		g := n.groups[id]
		switch {
		case !g.leader && g.lead == peer && n.cfg.Bug != BugQuiesceDeadLeader:
			n.wakeLeaderless(g, peer)
		case (g.quiesced || g.quiescing) && g.leader && slices.Contains(g.voters, peer) && !n.quorumLive(g):
			n.wakeLate(g)
		}
	}
}

// peerBack wakes the quiesced groups led here that a peer heard again (or
// restarted) is a voter of, so their leaders heartbeat it; a restarted peer
// leads nothing any more, so the groups it led wake too.
//
// A quiescing group counts as quiesced: it was marked at this tick, while
// the peer was still down (so its match and answer were not asked for), and
// its heartbeat, leaving at the next Process, would quiesce it without the
// peer. Skipped, it would never heartbeat the peer again, and a wiped peer's
// recovering replica, which never campaigns, would never learn its leader
// (swarm seed 63).
func (n *Node) peerBack(peer uint64, restarted bool) {
	for _, id := range n.groupOrder {
		g := n.groups[id]
		if !g.quiesced && !g.quiescing {
			continue
		}
		switch {
		case g.leader && slices.Contains(g.voters, peer):
			n.wake(g)
		case restarted && !g.leader && g.lead == peer && n.cfg.Bug != BugQuiesceDeadLeader:
			n.wakeLeaderless(g, peer)
		}
	}
}

// Quiesced is how many of the node's raft groups are quiesced (not ticked).
func (n *Node) Quiesced() int {
	k := 0
	for _, g := range n.groups {
		if g.quiesced {
			k++
		}
	}
	return k
}
