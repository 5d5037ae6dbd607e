package node

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// Random ConsumerGroupHeartbeat and ConsumerGroupDescribe requests, valid
// and not (both versions, every special epoch and wrong ones, unknown and
// bogus members, owned partitions of topics that do not exist, bad regexes
// and assignors, static members taking each other's places, classic joins
// of the same group), sent to every node while the coordinator crashes and
// restarts: no node panics, every request is answered, each node's group
// epoch in its fold never goes back (nothing here deletes the group), no
// partition is ever held by two members in a fold, and the replicas' folds
// agree at the end.
func TestConsumerGroupRequestsRandom(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			randomConsumerGroupRun(t, seed)
		})
	}
}

func randomConsumerGroupRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x383438))
	h := newHarness(t, 3, func(c *Config) {
		c.OffsetsPartitions = 1
		c.GroupInitialRebalanceDelay = -1
		c.MetaSnapshotEntries = 8
	})
	h.until(20*time.Second, "topics created", func() bool {
		ctrl := h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		if ctrl <= 0 {
			return false
		}
		ok := true
		for _, tc := range []struct {
			name  string
			parts int32
		}{{"t1", 3}, {"t2", 5}} {
			c := h.do(uint64(ctrl), createReq(tc.name, tc.parts, 3)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
			ok = ok && (c == 0 || c == 36) // TOPIC_ALREADY_EXISTS
		}
		return ok
	})
	coord := h.findCoordinator("g")
	gid, _, _ := h.nodes[coord].n.coordinatorGroup("g")
	h.until(10*time.Second, "topics known", func() bool { return h.nodes[coord].n.meta.topics["t2"] != nil })
	ids := [][16]byte{h.nodes[coord].n.meta.topics["t1"].id, h.nodes[coord].n.meta.topics["t2"].id, {9, 9}}
	members := []string{"m1", "m2", "m3", "ghost", ""}
	epochs := map[string]int32{}
	instances := []*string{nil, nil, kmsg.StringPtr("i1"), kmsg.StringPtr("i2")}
	var waiting []sentReq
	lastEpoch := map[uint64]int32{}
	for op := 0; op < 250; op++ {
		var live []uint64
		for _, id := range h.ids {
			if !h.nodes[id].down {
				live = append(live, id)
			}
		}
		to := live[rng.IntN(len(live))]
		if rng.IntN(4) > 0 {
			to = coord
		}
		var req kmsg.Request
		switch k := rng.IntN(10); {
		case k < 7:
			r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			r.Version = int16(rng.IntN(2))
			r.Group = "g"
			r.MemberID = members[rng.IntN(len(members))]
			r.InstanceID = instances[rng.IntN(len(instances))]
			switch rng.IntN(6) {
			case 0, 1:
				r.MemberEpoch = 0
			case 2:
				r.MemberEpoch = int32(-1 - rng.IntN(3)) // leave, static leave, invalid
			default:
				r.MemberEpoch = epochs[r.MemberID] + int32(rng.IntN(3)) - 1
			}
			if r.MemberEpoch == 0 || rng.IntN(3) == 0 {
				r.RebalanceTimeoutMillis = int32(rng.IntN(20000))
				r.SubscribedTopicNames = [][]string{{"t1"}, {"t2"}, {"t1", "t2"}, {"nope"}, {}}[rng.IntN(5)]
				if r.Version == 1 && rng.IntN(4) == 0 {
					r.SubscribedTopicRegex = kmsg.StringPtr([]string{"t.*", "(", "t2"}[rng.IntN(3)])
				}
				if rng.IntN(3) == 0 {
					r.ServerAssignor = kmsg.StringPtr([]string{"uniform", "range", "sticky"}[rng.IntN(3)])
				}
			}
			if r.MemberEpoch == 0 {
				r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			}
			if rng.IntN(2) == 0 {
				r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
				for i := rng.IntN(3); i > 0; i-- {
					r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: ids[rng.IntN(len(ids))], Partitions: []int32{int32(rng.IntN(6)), int32(rng.IntN(6))}})
				}
			}
			req = r
		case k < 8:
			r := kmsg.NewPtrConsumerGroupDescribeRequest()
			r.Version = int16(rng.IntN(2))
			r.Groups = []string{"g", "", "other"}
			req = r
		default:
			// A classic join of a member the group does not know: never
			// a conversion of an empty consumer group (which restarts
			// its epochs; TestConsumerGroupNotOverClassic has it).
			req = joinReq9("g", "ghost")
		}
		c, _ := h.send(to, req)
		waiting = append(waiting, sentReq{to, c, h.now, req})
		h.run(time.Duration(rng.IntN(300)) * time.Millisecond)
		// Members follow the epochs they are told, as clients do.
		for _, w := range waiting[max(0, len(waiting)-20):] {
			got := h.nodes[w.node].got[w.c]
			if len(got) == 0 {
				continue
			}
			if _, resp, err := wire.ParseResponse(got[0], kmsg.NewPtrConsumerGroupHeartbeatRequest()); err == nil {
				if hr, ok := resp.(*kmsg.ConsumerGroupHeartbeatResponse); ok && hr.ErrorCode == 0 && hr.MemberID != nil {
					epochs[*hr.MemberID] = hr.MemberEpoch
					if len(members) < 10 && *hr.MemberID != "" {
						members = append(members, *hr.MemberID)
					}
				}
			}
		}
		if rng.IntN(50) == 0 {
			fs := h.crash(coord)
			delete(lastEpoch, coord) // it replays its log from the start
			h.run(time.Duration(rng.IntN(3000)) * time.Millisecond)
			h.start(coord, fs)
			coord = h.findCoordinator("g")
		}
		for _, id := range h.ids {
			if h.nodes[id].down {
				continue
			}
			cg := h.nodes[id].n.groups[gid].part.coord.consumer["g"]
			if cg == nil {
				continue
			}
			if cg.epoch < lastEpoch[id] {
				t.Fatalf("seed %d: node %d's group epoch went from %d to %d", seed, id, lastEpoch[id], cg.epoch)
			}
			lastEpoch[id] = cg.epoch
			held := map[assignTP]string{}
			for _, m := range cg.sortedMembers() {
				for _, s := range []partSet{m.assigned, m.revoking} {
					for tid, parts := range s {
						for _, p := range parts {
							k := assignTP{id: tid, part: p}
							if o, dup := held[k]; dup && o != m.id {
								t.Logf("op %d coord %d", op, coord)
								for _, m := range cg.sortedMembers() {
									t.Logf("  %s e%d/%d st%d asg%v rev%v tgt%v", m.id, m.epoch, m.prevEpoch, m.state, m.assigned, m.revoking, m.target)
								}
								t.Fatalf("seed %d: node %d: partition %v/%d held by %s and %s", seed, id, tid[:2], p, o, m.id)
							}
							held[k] = m.id
						}
					}
				}
			}
		}
	}
	h.checkAnswered(seed, waiting)
	first := h.nodes[h.ids[0]].n.groups[gid].part.coord.consumer["g"]
	for _, id := range h.ids[1:] {
		cg := h.nodes[id].n.groups[gid].part.coord.consumer["g"]
		if first == nil || cg == nil {
			if first != cg {
				t.Fatalf("seed %d: node %d has group %v, node %d %v", seed, id, cg != nil, h.ids[0], first != nil)
			}
			continue
		}
		if err := cgSamePersisted(cg, first); err != nil {
			t.Fatalf("seed %d: node %d's fold differs from node %d's: %v", seed, id, h.ids[0], err)
		}
	}
}
