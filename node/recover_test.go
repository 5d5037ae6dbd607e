package node

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3"

	"github.com/ketch-dev/ketch/wal"
)

func metaLeaderOf(h *harness) (lead, term uint64) {
	for _, id := range h.ids {
		tn := h.nodes[id]
		if tn.down {
			continue
		}
		for _, st := range tn.n.Status() {
			if st.Group == metaGroup && st.Leader && st.Term >= term {
				lead, term = id, st.Term
			}
		}
	}
	return lead, term
}

// A wiped replica started with Config.Recover neither votes nor leads: with
// the leader down, the one healthy node cannot win an election. Once a
// leader of a later term exists and its entries apply, the replica is repaired.
func TestRecoveringReplicaNeitherVotesNorLeads(t *testing.T) {
	h := newHarness(t, 3)
	lead, term, f := metaLeaderAndFollower(h)
	h.crash(f)
	h.configure = func(c *Config) {
		if c.ID == f {
			c.Recover = map[uint64]uint64{metaGroup: term}
		}
	}
	h.start(f, wal.NewMemFS()) // wiped
	leaderFS := h.crash(lead)
	if got := h.nodes[f].n.Recovering(); len(got) != 1 || got[0] != metaGroup {
		t.Fatalf("recovering groups %v, want the metadata group", got)
	}
	for end := h.now.Add(5 * time.Second); h.now.Before(end); h.step() {
		if l, tm := metaLeaderOf(h); l != 0 {
			t.Fatalf("node %d leads term %d with only node %d (recovering) to vote for it", l, tm, f)
		}
	}
	h.configure = nil
	h.start(lead, leaderFS)
	h.until(20*time.Second, "the repair", func() bool { return len(h.nodes[f].n.Recovering()) == 0 })
	if l, tm := metaLeaderOf(h); l == f || tm <= term {
		t.Fatalf("leader %d in term %d after the repair (floor %d)", l, tm, term)
	}
}

// wipeIdleFollower goes idle on a three-node cluster with one produced
// partition, then wipes a follower of it that does not lead the metadata
// group either, restarting it as a recovering replica whose floor for the
// partition is the leader's term plus floorAbove. It returns the harness,
// the wiped node, the partition's group and the leader's term.
func wipeIdleFollower(t *testing.T, floorAbove uint64) (*harness, uint64, uint64, uint64) {
	h := newHarness(t, 3)
	lead := uint64(waitTopic(t, h, 1, "idle"))
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, lead, "idle", nil, "v").ErrorCode == 0
	})
	h.run(5 * time.Second) // reports done: the partition and the metadata go idle
	part := h.nodes[lead].n.meta.topics["idle"].partitions[0].group
	_, metaTerm := metaLeaderOf(h)
	partTerm := h.nodes[lead].n.groups[part].term
	f := uint64(0)
	for _, id := range h.ids {
		if id != lead && id != h.nodes[lead].n.groups[metaGroup].lead && f == 0 {
			f = id
		}
	}
	if f == 0 {
		f = 1
		for f == lead {
			f++
		}
	}
	h.crash(f)
	h.configure = func(c *Config) {
		if c.ID == f {
			c.Recover = map[uint64]uint64{metaGroup: metaTerm, part: partTerm + floorAbove}
		}
	}
	h.start(f, wal.NewMemFS()) // wiped
	return h, f, part, partTerm
}

// An idle group repairs a wiped replica too: its leader sends only
// heartbeats, which the recovering replica answers with a marked rejection,
// so the leader hands over and the next leader refills it (an idle
// __consumer_offsets partition never repaired a wiped node in swarm).
func TestIdleGroupRepairsWipedReplica(t *testing.T) {
	h, f, part, _ := wipeIdleFollower(t, 0)
	h.until(30*time.Second, "the repair of an idle partition", func() bool {
		rec := h.nodes[f].n.Recovering()
		_, hosted := h.nodes[f].n.groups[part]
		return hosted && len(rec) == 0
	})
}

// A wiped replica's floor may be above the live leader's term: a candidate
// that lost an election raised it (its MsgVote was in a term nobody
// leads), and an idle group's leader never leaves its term. The replica
// answers the leader's heartbeats at its floor, as raft answers a
// lower-term leader, so the leader steps down and the group elects in a
// term above the floor, which repairs the replica (swarm seed 46: it
// dropped every heartbeat below its floor, forever).
func TestWipedReplicaFloorAboveLeaderTerm(t *testing.T) {
	h, f, part, partTerm := wipeIdleFollower(t, 1)
	h.until(30*time.Second, "the repair of a replica whose floor is above its leader's term", func() bool {
		rec := h.nodes[f].n.Recovering()
		_, hosted := h.nodes[f].n.groups[part]
		return hosted && len(rec) == 0
	})
	if g := h.nodes[f].n.groups[part]; g.term <= partTerm+1 {
		t.Fatalf("repaired in term %d, floor %d", g.term, partTerm+1)
	}
}

// A wiped node replaying the metadata history creates the partitions of
// topics deleted since; one whose only voter is this node neither ticks
// nor campaigns until the metadata group is repaired (by then the deletion
// has applied), or it would elect itself and serve its emptied log (swarm
// seed 157: solo/0 served at high watermark 0 after 137). The group here is
// created directly, as a replayed creation would create it.
func TestWipedNodeHoldsSoleVoterUntilMetadataRepaired(t *testing.T) {
	h := newHarness(t, 3)
	lead, term, f := metaLeaderAndFollower(h)
	h.crash(f)
	h.configure = func(c *Config) {
		if c.ID == f {
			c.Recover = map[uint64]uint64{metaGroup: term}
		}
	}
	h.start(f, wal.NewMemFS()) // wiped
	leaderFS := h.crash(lead)  // no repair while the metadata leader is down
	const gid = 1 << 40
	n := h.nodes[f].n
	if err := n.addGroup(gid, []uint64{f}, newPartState("gone", 0, gid)); err != nil {
		t.Fatal(err)
	}
	for end := h.now.Add(3 * time.Second); h.now.Before(end); h.step() {
		if g := n.groups[gid]; g.leader || g.rn.BasicStatus().RaftState != raft.StateFollower {
			t.Fatalf("the sole voter of group %d on wiped node %d is %v before its metadata is repaired", gid, f, g.rn.BasicStatus().RaftState)
		}
	}
	h.configure = nil
	h.start(lead, leaderFS)
	h.until(20*time.Second, "the metadata repaired", func() bool { return len(n.Recovering()) == 0 })
	h.until(2*time.Second, "the held sole voter leading", func() bool { return n.groups[gid].leader })
}

// A replica whose data was wiped, started as if new (no Config.Recover),
// gets a leader's commit index past its log, which etcd raft panics on: the
// node stops with ErrLogLost, an error that says what happened, rather than
// a stack (an operator who deletes a broker's data directory, as one may
// with Kafka, meets this).
func TestWipedReplicaWithoutRecoverStops(t *testing.T) {
	h := newHarness(t, 3)
	_, _, f := metaLeaderAndFollower(h)
	h.createTopic("t", 1)
	var got error
	h.stopped = func(id uint64, err error) {
		if id == f {
			got = err
		}
	}
	h.crash(f)
	h.start(f, wal.NewMemFS()) // wiped
	h.until(10*time.Second, "the wiped node stopped", func() bool { return got != nil })
	if !errors.Is(got, ErrLogLost) || !strings.Contains(got.Error(), "Repairing a damaged node") {
		t.Fatalf("stopped with %v, want ErrLogLost naming the repair", got)
	}
}

// metaLeaderAndFollower waits for a metadata leader, lets it settle a second,
// and names it, its term and the lowest-numbered other node.
func metaLeaderAndFollower(h *harness) (lead, term, follower uint64) {
	h.t.Helper()
	h.until(10*time.Second, "a metadata leader", func() bool { lead, term = metaLeaderOf(h); return lead != 0 })
	h.run(time.Second)
	for _, id := range h.ids {
		if id != lead && follower == 0 {
			follower = id
		}
	}
	return lead, term, follower
}
