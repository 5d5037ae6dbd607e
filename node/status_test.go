package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDigestAgreesAcrossReplicas: replicas that applied the same entries
// have the same digest and batch list for every group; a replica that missed
// writes has another, and catches up to the same one after the heal.
func TestDigestAgreesAcrossReplicas(t *testing.T) {
	h := newHarness(t, 3)
	var ctrl int32
	h.until(20*time.Second, "a controller", func() bool {
		ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0
	})
	h.until(10*time.Second, "topic created", func() bool {
		c := h.do(uint64(ctrl), createReq("d", 1, 3)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
		return c == 0 || c == kerr.TopicAlreadyExists.Code
	})
	leader := uint64(waitTopic(t, h, uint64(ctrl), "d"))
	for i := 0; i < 5; i++ {
		if p := produceOne(t, h, leader, "d", nil, fmt.Sprintf("v%d", i)); p.ErrorCode != 0 {
			t.Fatalf("produce %d: %d", i, p.ErrorCode)
		}
	}
	h.run(time.Second)
	group := uint64(0)
	for _, st := range h.nodes[leader].n.Status() {
		if st.Topic == "d" {
			group = st.Group
		}
	}
	digests := func() map[uint64]GroupDigest {
		out := map[uint64]GroupDigest{}
		for _, id := range h.ids {
			d, ok, err := h.nodes[id].n.Digest(group)
			if !ok || err != nil {
				t.Fatalf("node %d: digest of group %d: hosted %v, %v", id, group, ok, err)
			}
			out[id] = d
		}
		return out
	}
	same := func(what string) {
		t.Helper()
		ds := digests()
		for _, id := range h.ids {
			if ds[id] != ds[leader] {
				t.Fatalf("%s: node %d digest %+v, leader %d %+v", what, id, ds[id], leader, ds[leader])
			}
			m, _, _ := h.nodes[id].n.Digest(0)
			ml, _, _ := h.nodes[leader].n.Digest(0)
			if m.Applied == ml.Applied && m.Digest != ml.Digest {
				t.Fatalf("%s: metadata digest of node %d differs from the leader's at index %d", what, id, m.Applied)
			}
		}
		bs, err := h.nodes[leader].n.Batches(group)
		if err != nil || len(bs) != ds[leader].Batches || ds[leader].HighWatermark != int64(len(bs)) {
			t.Fatalf("%s: %d batches (%v), digest says %d, high watermark %d", what, len(bs), err, ds[leader].Batches, ds[leader].HighWatermark)
		}
		for i, b := range bs {
			if b.Base != int64(i) || b.Count != 1 || b.Epoch <= 0 || b.RaftIndex == 0 {
				t.Fatalf("%s: batch %d: %+v", what, i, b)
			}
		}
	}
	same("after 5 writes")

	var follower uint64
	for _, id := range h.ids {
		if id != leader {
			follower = id
		}
	}
	h.isolate(follower)
	if p := produceOne(t, h, leader, "d", nil, "missed"); p.ErrorCode != 0 {
		t.Fatalf("produce while a follower is cut off: %d", p.ErrorCode)
	}
	if ds := digests(); ds[follower].Digest == ds[leader].Digest || ds[follower].HighWatermark == ds[leader].HighWatermark {
		t.Fatalf("a follower that missed a write has the leader's digest: %+v", ds[follower])
	}
	h.heal()
	h.run(2 * time.Second)
	same("after the heal")
}

// TestStatusCommitCurrent: Status reports raft's commit index as it is now,
// though it asks raft only after a call into the group (single voter, whose
// commits happen inside Advance, and three voters).
func TestStatusCommitCurrent(t *testing.T) {
	for _, nodes := range []int{1, 3} {
		h := newHarness(t, nodes)
		check := func() {
			t.Helper()
			for _, id := range h.ids {
				n := h.nodes[id].n
				for _, st := range n.Status() {
					if want := n.groups[st.Group].rn.BasicStatus().HardState.GetCommit(); st.Commit != want {
						t.Fatalf("%d nodes: node %d group %d: Status says commit %d, raft %d", nodes, id, st.Group, st.Commit, want)
					}
				}
			}
		}
		leader := uint64(waitTopic(t, h, 1, "commits"))
		for i := range 20 {
			h.sendOn(leader, 1, produceReq("commits", 0, nil, fmt.Sprint(i)))
			h.step()
			check()
		}
		h.run(time.Second)
		check()
	}
}
