package scenarios

import (
	"math/rand/v2"
	"time"

	"github.com/ketch-dev/ketch/sim"
)

// many is issue 11's shape: thousands of partitions, almost all idle (and so
// quiesced, node/quiesce.go), a few busy, under leader kills and a
// partition. Besides the usual checks, every partition a crashed node led,
// idle ones included, must be served by another node within the failover
// bound (sim/failover.go): nobody writes to an idle partition, so only the
// nodes' liveness signal can wake its followers.
func init() {
	all = append(all, Scenario{"many", "2,000 idle partitions and a few busy ones: leader kills kept down past the failover bound, a node isolated", many})
}

// manyIdlePartitions is the idle topic's size: thousands, yet a seed runs
// in seconds.
const manyIdlePartitions = 2000

// manyFailoverMax: an election timeout of silence before a peer counts as
// down (1s), then at most one randomized election timeout (2s) and the
// pre-vote, vote and first entry's round trips; the rest is slack.
const manyFailoverMax = 4 * time.Second

func many(seed int64, r *rand.Rand) sim.Config {
	c := base()
	c.Topics = []sim.TopicSpec{{Name: "sim", Partitions: 3}}
	// Two topics: a topic has at most 1,024 partitions.
	c.IdleTopics = []sim.TopicSpec{{Name: "idle", Partitions: manyIdlePartitions / 2}, {Name: "idle2", Partitions: manyIdlePartitions / 2}}
	c.FailoverMax = manyFailoverMax
	c.Duration, c.Quiet = 30*time.Second, 10*time.Second
	t := dur(r, 4*time.Second, 6*time.Second) // the idle partitions have quiesced by then
	// The busy partition's leader (it leads a share of the idle ones too),
	// kept down past the bound.
	down := dur(r, 6*time.Second, 8*time.Second)
	c.Faults = append(c.Faults, sim.Fault{At: t, For: down, Kind: sim.Crash})
	t += down + dur(r, 3*time.Second, 4*time.Second)
	// A node cut off: the quiesced leaders on its side must step down
	// (CheckQuorum), the other side elect.
	cut := dur(r, 3*time.Second, 5*time.Second)
	c.Faults = append(c.Faults, sim.Fault{At: t, For: cut, Kind: sim.Isolate, Node: 1 + r.IntN(3)})
	t += cut + 3*time.Second
	// Any node: about a third of the idle partitions' leaders.
	c.Faults = append(c.Faults, sim.Fault{At: t, For: 6 * time.Second, Kind: sim.Crash, Node: 1 + r.IntN(3)})
	return c
}
