package node

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// Random offset and group-admin requests, valid and not (every version,
// stale and future generations, unknown members, unknown topics, partitions
// and topic ids, oversized metadata, retention times, null topic lists),
// mixed with joins and heartbeats, sent to every node while the coordinator
// crashes and restarts, with short retention and snapshots every few
// entries: no node panics, every request is answered or its connection
// closed, OffsetFetch answers only offsets some request committed, and the
// replicas' folds agree at the end.
func TestOffsetRequestsRandom(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			randomOffsetsRun(t, seed)
		})
	}
}

func randomOffsetsRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6f666673))
	h := newHarness(t, 3, func(c *Config) {
		c.OffsetsPartitions = 1
		c.GroupInitialRebalanceDelay = -1
		c.MetaSnapshotEntries = 8
		c.OffsetsRetention = 20 * time.Second
		c.OffsetsRetentionCheckInterval = 2 * time.Second
	})
	h.createTopic("t", 3)
	coord := h.findCoordinator("g")
	gid, _, _ := h.nodes[coord].n.coordinatorGroup("g")
	tid := h.nodes[coord].n.meta.topics["t"].id
	groups := []string{"g", "s", ""}
	members := []string{"", "ghost"}
	topics := []string{"t", "t", "nope"}
	committed := map[int64]bool{-1: true}
	var waiting []sentReq
	seen := map[ConnID]bool{}
	acked, answered := 0, 0 // commits that took, fetches that found one
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
			to = coord
		}
		gen := int32(rng.IntN(5)) - 1
		var req kmsg.Request
		switch rng.IntN(9) {
		case 0, 1, 2:
			r := kmsg.NewPtrOffsetCommitRequest()
			r.Version = int16(rng.IntN(11))
			r.Group, r.Generation, r.MemberID = pick(groups), gen, pick(members)
			if rng.IntN(3) == 0 {
				r.Generation, r.MemberID = -1, ""
			}
			r.RetentionTimeMillis = []int64{-1, -1, 5000}[rng.IntN(3)]
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = pick(topics)
			rt.TopicID = tid
			if rng.IntN(5) == 0 {
				rt.TopicID[0]++
			}
			for range rng.IntN(4) {
				p := kmsg.NewOffsetCommitRequestTopicPartition()
				p.Partition = int32(rng.IntN(5)) - 1
				p.Offset = int64(rng.IntN(1000))
				committed[p.Offset] = true
				p.LeaderEpoch = int32(rng.IntN(3)) - 1
				p.Metadata = kmsg.StringPtr(strings.Repeat("m", []int{0, 10, offsetMetadataBytesMax + 1}[rng.IntN(3)]))
				rt.Partitions = append(rt.Partitions, p)
			}
			r.Topics = append(r.Topics, rt)
			req = r
		case 3:
			r := kmsg.NewPtrOffsetFetchRequest()
			r.Version = int16(rng.IntN(11))
			r.Group = pick(groups)
			if r.Version < 2 || rng.IntN(2) == 0 {
				ft := kmsg.NewOffsetFetchRequestTopic()
				ft.Topic, ft.Partitions = pick(topics), []int32{0, 1, 2, 7}
				r.Topics = append(r.Topics, ft)
			}
			for _, g := range groups[:rng.IntN(len(groups)+1)] {
				rg := kmsg.NewOffsetFetchRequestGroup()
				rg.Group = g
				if rng.IntN(2) == 0 {
					gt := kmsg.NewOffsetFetchRequestGroupTopic()
					gt.Topic, gt.TopicID, gt.Partitions = pick(topics), tid, []int32{0, 1, 2, -1}
					rg.Topics = append(rg.Topics, gt)
				}
				r.Groups = append(r.Groups, rg)
			}
			req = r
		case 4:
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Version = int16(rng.IntN(7))
			r.Groups = groups[:rng.IntN(len(groups)+1)]
			r.IncludeAuthorizedOperations = rng.IntN(2) == 0
			req = r
		case 5:
			r := kmsg.NewPtrListGroupsRequest()
			r.Version = int16(rng.IntN(6))
			r.StatesFilter = [][]string{nil, {"Empty"}, {"stable", "x"}}[rng.IntN(3)]
			r.TypesFilter = [][]string{nil, {"classic"}, {"consumer"}}[rng.IntN(3)]
			req = r
		case 6:
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Version = int16(rng.IntN(4))
			r.Groups = []string{pick(groups), pick(groups)}
			req = r
		case 7:
			r := kmsg.NewPtrOffsetDeleteRequest()
			r.Group = pick(groups)
			dt := kmsg.NewOffsetDeleteRequestTopic()
			dt.Topic = pick(topics)
			dt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: int32(rng.IntN(4))}}
			r.Topics = append(r.Topics, dt)
			req = r
		case 8:
			if rng.IntN(2) == 0 {
				req = consumerJoinReq("g", pick(members), "t")
			} else {
				r := kmsg.NewPtrHeartbeatRequest()
				r.Version = 4
				r.Group, r.Generation, r.MemberID = "g", gen, pick(members)
				req = r
			}
		}
		c, _ := h.send(to, req)
		waiting = append(waiting, sentReq{to, c, h.now, req})
		for _, w := range waiting {
			got := h.nodes[w.node].got[w.c]
			if len(got) == 0 || seen[w.c] {
				continue
			}
			seen[w.c] = true
			_, resp, err := wire.ParseResponse(got[0], w.req)
			if err != nil {
				t.Fatalf("seed %d: parse %s answer: %v", seed, kmsg.NameForKey(w.req.Key()), err)
			}
			switch r := resp.(type) {
			case *kmsg.JoinGroupResponse:
				if r.MemberID != "" && len(members) < 10 && !slices.Contains(members, r.MemberID) {
					members = append(members, r.MemberID)
				}
			case *kmsg.OffsetCommitResponse:
				for _, ct := range r.Topics {
					for _, p := range ct.Partitions {
						if p.ErrorCode == 0 {
							acked++
						}
					}
				}
			case *kmsg.OffsetFetchResponse:
				for _, ft := range r.Topics {
					for _, p := range ft.Partitions {
						if p.Offset >= 0 {
							answered++
						}
						if !committed[p.Offset] {
							t.Fatalf("seed %d: OffsetFetch answered offset %d, which nobody committed", seed, p.Offset)
						}
					}
				}
				for _, g := range r.Groups {
					for _, ft := range g.Topics {
						for _, p := range ft.Partitions {
							if p.Offset >= 0 {
								answered++
							}
							if !committed[p.Offset] {
								t.Fatalf("seed %d: OffsetFetch answered offset %d, which nobody committed", seed, p.Offset)
							}
						}
					}
				}
			}
		}
		h.run(time.Duration(rng.IntN(400)) * time.Millisecond)
		switch rng.IntN(50) {
		case 0:
			fs := h.crash(coord)
			h.run(time.Duration(rng.IntN(3000)) * time.Millisecond)
			h.start(coord, fs)
			coord = h.findCoordinator("g")
		case 1:
			coord = h.findCoordinator("g")
		}
	}
	if acked == 0 || answered == 0 {
		t.Fatalf("seed %d: %d partitions committed, %d offsets fetched: the run tests nothing", seed, acked, answered)
	}
	h.checkAnswered(seed, waiting)
	h.checkFoldsAgree(seed, gid)
}
