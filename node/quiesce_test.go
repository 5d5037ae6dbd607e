package node

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/ketch-dev/ketch/wal"
)

const quiesceParts = 30

// quiesceCluster starts three nodes with one topic of quiesceParts
// partitions (replication factor 3) and waits until every partition group
// is quiesced on every node.
func quiesceCluster(t *testing.T, bug string) *harness {
	t.Helper()
	h := newHarness(t, 3, func(c *Config) { c.Bug = bug })
	h.until(10*time.Second, "the topic created", func() bool {
		lead := h.nodes[1].n.groups[metaGroup].lead
		if lead == 0 {
			return false
		}
		resp := h.do(lead, createReq("q", quiesceParts, 3)).(*kmsg.CreateTopicsResponse)
		return resp.Topics[0].ErrorCode == 0
	})
	h.until(20*time.Second, "every partition quiesced on every node", func() bool {
		for _, id := range h.ids {
			if h.nodes[id].n.Quiesced() != quiesceParts {
				return false
			}
		}
		return true
	})
	return h
}

// partLeaders counts the partition groups that some live node leads and
// serves, and returns the leaders by group.
func partLeaders(h *harness) map[uint64]uint64 {
	out := map[uint64]uint64{}
	for _, id := range h.ids {
		tn := h.nodes[id]
		if tn.down {
			continue
		}
		for gid, g := range tn.n.groups {
			if g.part != nil && g.serving() {
				out[gid] = id
			}
		}
	}
	return out
}

// A group that does not quiesce (the metadata group; a busy partition)
// heartbeats each follower every HeartbeatTicks ticks, by default 3 (300ms):
// with a thousand busy partitions a heartbeat and its answer per follower
// every tick were most of the peer messages (186k of 432k in the 1 KiB
// bench over 1,000 partitions).
func TestAwakeGroupHeartbeatsEveryThirdTick(t *testing.T) {
	h := newHarness(t, 3)
	h.until(10*time.Second, "a metadata leader", func() bool { return h.nodes[1].n.groups[metaGroup].lead != 0 })
	h.run(time.Second)
	beats := 0
	h.drop = func(from uint64, m PeerMessage) bool {
		if m.Group == metaGroup && m.Msg != nil && m.Msg.GetType() == raftpb.MessageType_MsgHeartbeat && len(m.Msg.GetContext()) == 0 {
			beats++
		}
		return false
	}
	h.run(3 * time.Second)
	// 30 ticks, a heartbeat to each of 2 followers every third.
	if beats < 18 || beats > 22 {
		t.Fatalf("%d metadata heartbeats in 3s (30 ticks, 2 followers), want about 20", beats)
	}
}

// An idle cluster's partition groups quiesce: no raft message of theirs
// moves, only the metadata group's and one liveness heartbeat per peer
// pair per tick. Without quiescence every partition leader heartbeats each
// follower every tick (30 × 2 × 2 messages and answers per tick here).
func TestIdlePartitionsQuiesce(t *testing.T) {
	h := quiesceCluster(t, "")
	h.run(100 * time.Millisecond) // the answers to the quiescing heartbeats
	partMsgs, alive := 0, 0
	h.drop = func(from uint64, m PeerMessage) bool {
		switch {
		case m.Alive != nil:
			alive++
		case m.Msg != nil && m.Group != metaGroup:
			partMsgs++
		}
		return false
	}
	h.run(3 * time.Second)
	if partMsgs != 0 {
		t.Fatalf("%d partition raft messages in 3s of an idle, quiesced cluster", partMsgs)
	}
	// 3 nodes × 2 peers × 10 ticks a second × 3 s.
	if alive < 150 || alive > 200 {
		t.Fatalf("%d liveness heartbeats in 3s, want about 180", alive)
	}
	// A produce wakes its partition, and it quiesces again once idle.
	h.drop = nil
	var p kmsg.ProduceResponseTopicPartition
	h.until(5*time.Second, "a produce to a quiesced partition", func() bool {
		p = produceOne(t, h, uint64(h.leaderOf(t, 0)), "q", nil, "v")
		return p.ErrorCode == 0
	})
	h.until(5*time.Second, "quiesced again", func() bool {
		for _, id := range h.ids {
			if h.nodes[id].n.Quiesced() != quiesceParts {
				return false
			}
		}
		return true
	})
}

func (h *harness) leaderOf(t *testing.T, partition int32) int32 {
	var l int32 = -1
	h.until(5*time.Second, "a leader", func() bool {
		l, _ = h.partitionLeader(1, "q", partition)
		return l > 0
	})
	return l
}

// quiescedFailover kills the node leading the most partitions of an idle,
// quiesced cluster and returns how long until every partition is served by
// a live node again (or limit, if some is not by then).
func quiescedFailover(t *testing.T, bug string, limit time.Duration) (time.Duration, int) {
	h := quiesceCluster(t, bug)
	led := map[uint64]int{}
	for _, l := range partLeaders(h) {
		led[l]++
	}
	dead := uint64(1)
	for _, id := range h.ids {
		if led[id] > led[dead] {
			dead = id
		}
	}
	if led[dead] == 0 {
		t.Fatalf("no node leads a partition: %v", led)
	}
	h.crash(dead)
	start := h.now
	for h.now.Sub(start) < limit {
		h.step()
		if len(partLeaders(h)) == quiesceParts {
			return h.now.Sub(start), 0
		}
	}
	return limit, quiesceParts - len(partLeaders(h))
}

// The partitions of a dead leader elect new leaders about as fast as a
// ticking group would (an election timeout of silence, then one randomized
// timeout at most), although they were quiesced when it died.
func TestQuiescedLeaderDiesFailsOver(t *testing.T) {
	took, left := quiescedFailover(t, "", 10*time.Second)
	if left > 0 || took > 3500*time.Millisecond {
		t.Fatalf("%d partitions without a leader %v after their quiesced leader died", left, took)
	}
	t.Logf("all partitions served again %v after the leader died", took)
}

// Planted (BugQuiesceDeadLeader, cockroach #9315): quiesced followers do not
// notice their leader died, and nothing else calls into their raft.
func TestQuiesceDeadLeaderStaysLeaderless(t *testing.T) {
	took, left := quiescedFailover(t, BugQuiesceDeadLeader, 10*time.Second)
	if left == 0 {
		t.Fatalf("every partition had a leader %v after the leader died: the bug is not planted", took)
	}
}

// A quiesced leader that loses its quorum wakes and steps down
// (CheckQuorum), though none of its groups has anything to do.
func TestQuiescedLeaderCutOffStepsDown(t *testing.T) {
	h := quiesceCluster(t, "")
	var cut uint64
	for gid, l := range partLeaders(h) {
		_ = gid
		cut = l
		break
	}
	h.isolate(cut)
	h.until(5*time.Second, "the cut-off node leading no partition", func() bool {
		for _, g := range h.nodes[cut].n.groups {
			if g.part != nil && g.leader {
				return false
			}
		}
		return true
	})
}

// CheckQuorum counts node liveness (liveQuorumActive): a leader whose
// followers' nodes are live keeps leading while its own group's answers do
// not arrive (they queue behind thousands of others' on a real node), and a
// leader cut off from its peers still steps down.
func TestCheckQuorumCountsLiveNodes(t *testing.T) {
	h := newHarness(t, 3, nil)
	var lead uint64
	h.until(10*time.Second, "a metadata leader", func() bool {
		lead = h.nodes[1].n.groups[metaGroup].lead
		return lead != 0 && h.nodes[lead].n.groups[metaGroup].leader
	})
	term := h.nodes[lead].n.groups[metaGroup].term
	// Every answer to the metadata leader is lost; the liveness
	// heartbeats and everything else still arrive.
	h.drop = func(from uint64, m PeerMessage) bool {
		return m.To == lead && m.Group == metaGroup && m.Msg != nil
	}
	h.run(5 * time.Second) // five election timeouts: raft's own check steps down within two
	g := h.nodes[lead].n.groups[metaGroup]
	if !g.leader || g.term != term {
		t.Fatalf("node %d stepped down (leader %v, term %d, was %d) with every peer's node live", lead, g.leader, g.term, term)
	}
	// Cut off entirely: it must step down, within about two election
	// timeouts of the peers counting down (one more).
	h.drop = nil
	h.isolate(lead)
	h.run(3500 * time.Millisecond)
	if g.leader {
		t.Fatalf("node %d still leads the metadata group 3.5s after it was cut off", lead)
	}
}

// A peer heard again in the loop turn where a leader marked a group
// quiescing (while it still counted the peer down, so it asked nothing of
// it) wakes that group too: else the quiescing heartbeat leaves at the next
// Process without the peer, the leader never heartbeats it again, and a
// wiped peer's recovering replica, which neither campaigns nor votes, never
// learns its leader nor is repaired (swarm seed 63).
func TestPeerBackWakesQuiescingLeader(t *testing.T) {
	h := quiesceCluster(t, "")
	lead := uint64(h.leaderOf(t, 0))
	part := h.nodes[lead].n.meta.topics["q"].partitions[0].group
	metaLead, _ := metaLeaderOf(h)
	f := uint64(0)
	for _, id := range h.ids {
		if id != lead && (f == 0 || id != metaLead) {
			f = id
		}
	}
	// The wiped node rejoins every group as a recovering replica, each
	// with the highest term a peer knows for it as its floor.
	floors := map[uint64]uint64{}
	for _, id := range h.ids {
		for gid, g := range h.nodes[id].n.groups {
			floors[gid] = max(floors[gid], g.term)
		}
	}
	h.crash(f)
	h.until(3*time.Second, "the peer counted down", func() bool { return h.nodes[lead].n.live[f].down })
	// A write wakes the group; once it is idle again its leader marks it
	// quiescing at a tick, the peer down.
	h.until(5*time.Second, "a produce", func() bool { return produceOne(t, h, lead, "q", nil, "v").ErrorCode == 0 })
	g := h.nodes[lead].n.groups[part]
	h.until(5*time.Second, "the group quiescing", func() bool { return g.quiescing })
	h.configure = func(c *Config) {
		if c.ID == f {
			c.Recover = floors
		}
	}
	h.start(f, wal.NewMemFS()) // wiped
	// Its first liveness heartbeat arrives before the leader's next
	// Process, as the host's loop drains its queue first.
	h.nodes[lead].n.Step(PeerMessage{To: lead, Alive: &Alive{From: f, Incarnation: h.nodes[f].n.cfg.Incarnation}})
	h.until(30*time.Second, "the wiped replica of the idle partition repaired", func() bool {
		_, hosted := h.nodes[f].n.groups[part]
		return hosted && !slices.Contains(h.nodes[f].n.Recovering(), part)
	})
}

// The voter that campaigns for a dead leader's quiesced groups retries
// until a leader is known: the other voter may count the leader down a
// tick later (its last liveness heartbeat from it came later), and until
// then it ignores the pre-votes under its leader's lease. The retry asks
// raft whether a leader is known, not the node's copy of the leader,
// which reads the dead one until the next Process (ForgetLeader's change
// comes out in the next Ready), and so cancelled every retry at the tick
// of the campaign: the groups waited out a randomized election timeout or
// more, with split votes (swarm seed 109 with s13-p: 6.2s).
func TestLeaderlessCampaignRetriesPastTheLease(t *testing.T) {
	h := quiesceCluster(t, "")
	led := map[uint64]int{}
	for _, l := range partLeaders(h) {
		led[l]++
	}
	dead := uint64(1)
	for _, id := range h.ids {
		if led[id] > led[dead] {
			dead = id
		}
	}
	var others []uint64
	for _, id := range h.ids {
		if id != dead {
			others = append(others, id)
		}
	}
	camp, late := others[0], others[1] // the lowest live voter campaigns
	h.crash(dead)
	// The late voter hears the dead node once more, 150ms after the crash:
	// it counts it down a tick or two after the campaigner.
	h.run(150 * time.Millisecond)
	h.nodes[late].n.Step(PeerMessage{To: late, Alive: &Alive{From: dead, Incarnation: h.nodes[dead].n.cfg.Incarnation}})
	h.until(3*time.Second, "the campaigner counting the leader down", func() bool { return h.nodes[camp].n.live[dead].down })
	downAt := h.now
	h.until(3*time.Second, "every partition served again", func() bool { return len(partLeaders(h)) == quiesceParts })
	if took := h.now.Sub(downAt); took > 600*time.Millisecond {
		t.Fatalf("every partition served %v after node %d counted leader %d down (node %d a tick later), want a retry's few ticks", took, camp, dead, late)
	}
	t.Logf("every partition served %v after node %d counted leader %d down", h.now.Sub(downAt), camp, dead)
	if !h.nodes[late].n.live[dead].down {
		t.Fatalf("node %d never counted node %d down", late, dead)
	}
}
