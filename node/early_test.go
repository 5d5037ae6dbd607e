package node

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3/raftpb"
)

// The partitions of a new topic elect their preferred replicas in one
// round: each campaigns as it creates its group, and a peer that has not
// applied the creation yet holds the pre-vote until it has (early.go)
// rather than dropping it, which left the group to a retry. So exactly one
// pre-vote and one vote goes to each peer of each partition, and every
// partition is led by its preferred replica in term 1.
func TestNewPartitionsElectInOneRound(t *testing.T) {
	const parts = 300
	h := newHarness(t, 3)
	var ctrl uint64
	h.until(10*time.Second, "a controller", func() bool {
		ctrl = h.nodes[1].n.groups[metaGroup].lead
		return ctrl != 0 && h.nodes[ctrl].n.groups[metaGroup].serving()
	})
	preVotes, votes := 0, 0
	h.drop = func(from uint64, m PeerMessage) bool {
		if m.Msg != nil && m.Group != metaGroup {
			switch m.Msg.GetType() {
			case raftpb.MessageType_MsgPreVote:
				preVotes++
			case raftpb.MessageType_MsgVote:
				votes++
			}
		}
		return false
	}
	if r := h.do(ctrl, createReq("t", parts, 3)).(*kmsg.CreateTopicsResponse).Topics[0]; r.ErrorCode != 0 {
		t.Fatalf("create: %+v", r)
	}
	start := h.now
	h.until(2*time.Second, "every partition served", func() bool { return len(partLeaders(h)) == parts })
	t.Logf("all %d served %v after the creation answered", parts, h.now.Sub(start))
	if preVotes != 2*parts || votes != 2*parts {
		t.Fatalf("%d pre-votes and %d votes for %d partitions of 3 replicas, want %d of each", preVotes, votes, parts, 2*parts)
	}
	tm := h.nodes[ctrl].n.meta.topics["t"]
	for i, pm := range tm.partitions {
		g := h.nodes[pm.replicas[0]].n.groups[pm.group]
		if !g.serving() || g.term != 1 {
			t.Fatalf("partition %d: its preferred replica %d serving %v in term %d, want serving in term 1", i, pm.replicas[0], g.serving(), g.term)
		}
	}
	if e := h.nodes[ctrl].n.early; e.count != 0 || e.bytes != 0 || len(e.byGroup) != 0 {
		t.Fatalf("messages still held: %+v", e)
	}
}
