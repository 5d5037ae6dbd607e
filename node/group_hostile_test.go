package node

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// Random group requests, valid and not (any version, bad timeouts, stale
// generations, unknown and fenced members, static members taking each
// other's places, oversized metadata), sent to every node while the
// coordinator crashes and restarts: no node panics, every request is
// answered or its connection closed, the group's generation in the log
// never goes back, and the replicas' folds agree at the end.
func TestGroupRequestsRandom(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			randomGroupRun(t, seed)
		})
	}
}

func randomGroupRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x67726f7570))
	h := newHarness(t, 3, func(c *Config) {
		c.OffsetsPartitions = 1
		c.GroupInitialRebalanceDelay = time.Duration(rng.IntN(3)-1) * time.Second
		c.MetaSnapshotEntries = 8
	})
	coord := h.findCoordinator("g")
	gid, _, _ := h.nodes[coord].n.coordinatorGroup("g")
	members := []string{"", "ghost"}
	instances := []*string{nil, kmsg.StringPtr("i1"), kmsg.StringPtr("i2")}
	var waiting []sentReq
	lastGen := map[uint64]int32{}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	for op := 0; op < 300; op++ {
		live := []uint64{}
		for _, id := range h.ids {
			if !h.nodes[id].down {
				live = append(live, id)
			}
		}
		to := live[rng.IntN(len(live))]
		if rng.IntN(3) > 0 {
			to = coord // most requests go where clients were told
		}
		gen := int32(rng.IntN(6)) - 1
		var req kmsg.Request
		switch rng.IntN(6) {
		case 0, 1:
			r := joinReq9("g", pick(members))
			r.Version = int16(rng.IntN(10))
			r.InstanceID = instances[rng.IntN(len(instances))]
			r.SessionTimeoutMillis = []int32{10000, 6000, 1, 4000000}[rng.IntN(4)]
			r.RebalanceTimeoutMillis = int32(rng.IntN(20000))
			if rng.IntN(20) == 0 {
				r.Protocols[0].Metadata = make([]byte, memberMetadataBytesMax+1)
			}
			if rng.IntN(10) == 0 {
				r.ProtocolType = "other"
			}
			req = r
		case 2:
			r := kmsg.NewPtrSyncGroupRequest()
			r.Version = int16(rng.IntN(6))
			r.Group, r.Generation, r.MemberID = "g", gen, pick(members)
			r.InstanceID = instances[rng.IntN(len(instances))]
			for _, m := range members[:rng.IntN(len(members))] {
				a := kmsg.NewSyncGroupRequestGroupAssignment()
				a.MemberID, a.MemberAssignment = m, []byte("a")
				r.GroupAssignment = append(r.GroupAssignment, a)
			}
			req = r
		case 3:
			r := kmsg.NewPtrHeartbeatRequest()
			r.Version = int16(rng.IntN(5))
			r.Group, r.Generation, r.MemberID = "g", gen, pick(members)
			r.InstanceID = instances[rng.IntN(len(instances))]
			req = r
		case 4:
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Version = int16(rng.IntN(6))
			r.Group, r.MemberID = "g", pick(members)
			r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: pick(members), InstanceID: instances[rng.IntN(len(instances))]}}
			req = r
		case 5:
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.Version = int16(rng.IntN(7))
			r.CoordinatorKey, r.CoordinatorKeys = "g", []string{"g", ""}
			r.CoordinatorType = int8(rng.IntN(3))
			req = r
		}
		c, _ := h.send(to, req)
		waiting = append(waiting, sentReq{to, c, h.now, req})
		// Remember member ids the answers hand out, so later requests use them.
		for _, w := range waiting {
			if got := h.nodes[w.node].got[w.c]; len(got) > 0 {
				if _, resp, err := wire.ParseResponse(got[0], joinReq9("g", "")); err == nil {
					if jr, ok := resp.(*kmsg.JoinGroupResponse); ok && jr.MemberID != "" && len(members) < 12 {
						members = append(members, jr.MemberID)
					}
				}
			}
		}
		h.run(time.Duration(rng.IntN(300)) * time.Millisecond)
		switch rng.IntN(60) {
		case 0:
			fs := h.crash(coord)
			delete(lastGen, coord) // it replays its log from the start
			h.run(time.Duration(rng.IntN(3000)) * time.Millisecond)
			h.start(coord, fs)
			coord = h.findCoordinator("g")
		case 1:
			coord = h.findCoordinator("g")
		}
		for _, id := range h.ids {
			if h.nodes[id].down {
				continue
			}
			g := h.nodes[id].n.groups[gid].part.coord.group("g").generation()
			if g < lastGen[id] {
				t.Fatalf("seed %d: node %d's generation in the log went from %d to %d", seed, id, lastGen[id], g)
			}
			lastGen[id] = g
		}
	}
	h.checkAnswered(seed, waiting)
	h.checkFoldsAgree(seed, gid)
}
