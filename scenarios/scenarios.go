// Package scenarios holds ketch's named simulation scenarios. Each is a
// cluster shape, a workload, a fault schedule drawn from the seed, and the
// expectations every run must meet: the history checks out (porcupine and the
// queue checks), no invariant broke, and after the faults healed the cluster
// took and served writes again (liveness).
package scenarios

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/ketch-dev/ketch/sim"
)

// Scenario builds a run's configuration from its seed.
type Scenario struct {
	Name  string
	About string
	Build func(seed int64, r *rand.Rand) sim.Config
}

var all = []Scenario{
	{"election", "cold start of a 3-node cluster: elect, create the topic, serve", election},
	{"failover", "kill the partition leader under load, restart it later; twice", failover},
	{"partition", "isolate the leader (the minority must not commit), a stalled leader waking up cut off, split or one-way links; heal", partition},
	{"crash", "crash nodes, losing unsynced data, one at a time and a quorum at once", crash},
	{"disk", "crashes inside fsyncs, failed writes/syncs, fsync EIO dropping pages, ENOSPC, bit rot, bad sectors, misdirected writes: a node recovers what it acknowledged or refuses to start and is repaired", disk},
	{"clock", "clock skew and drift, and long process pauses of the leader", clock},
	{"chaos", "message loss, duplication and reordering; connections cut", chaos},
	{"swarm", "a random mix of all of the above, drawn from the seed", swarm},
	{"groups", "consumer groups of every client kind through coordinator failover mid-rebalance, coordinator crashes, a stalled coordinator waking up cut off, pauses, zombies, restarts and leaves", groups},
}

// All returns the scenarios in a stable order.
func All() []Scenario { return append([]Scenario(nil), all...) }

// Names lists the scenario names.
func Names() []string {
	out := make([]string, len(all))
	for i, s := range all {
		out[i] = s.Name
	}
	return out
}

// Get finds a scenario by name.
func Get(name string) (Scenario, bool) {
	for _, s := range all {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Config builds the scenario's configuration for a seed. The fault schedule
// comes from its own stream of the seed, so it does not shift when the world
// draws differently.
func (s Scenario) Config(seed int64) sim.Config {
	r := rand.New(rand.NewPCG(uint64(seed), 0x5ce7a110))
	cfg := s.Build(seed, r)
	segments(&cfg, seed)
	cfg.Seed = seed
	cfg.Scenario = s.Name
	sort.SliceStable(cfg.Faults, func(i, j int) bool { return cfg.Faults[i].At < cfg.Faults[j].At })
	return cfg
}

// Repro is the one-line command that reruns a seed.
func Repro(name string, seed int64, bug string) string {
	s := fmt.Sprintf("go run ./cmd/sim -scenario %s -seed %d", name, seed)
	if bug != "" {
		s += " -bug " + bug
	}
	return s
}

// segments: a run with compacted logs (the compaction workload's topic, or
// __consumer_offsets under groups) rolls its segments every fraction of a
// second or two (the brokers' log.roll.ms) and cleans at least every
// second, so the cleaner, which never cleans a partition's active segment,
// cleans them, and raft storage is compacted below what it removed (the
// snapshots a follower behind installs). Drawn from a stream of its own, so
// the rest of the run does not shift.
func segments(c *sim.Config, seed int64) {
	if c.GroupConsumers == 0 && !c.Compaction.Enabled {
		return
	}
	sr := rand.New(rand.NewPCG(uint64(seed), 0x5e6e7a54))
	c.LogRollMs = int64(dur(sr, 200*time.Millisecond, 2*time.Second) / time.Millisecond)
	if c.Compaction.CleanerInterval == 0 {
		c.Compaction.CleanerInterval = dur(sr, 200*time.Millisecond, time.Second)
	}
}

func dur(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

func base() sim.Config {
	return sim.Config{Nodes: 3, Topics: []sim.TopicSpec{{Name: "sim", Partitions: 2}},
		Duration: 20 * time.Second, Quiet: 10 * time.Second,
		Producers: 5, IdempotentProducers: 3, Consumers: 3, // plain producers: acks=1 and acks=0
		Net:  sim.NetConfig{LatencyMin: 200 * time.Microsecond, LatencyMean: time.Millisecond},
		Disk: sim.DiskConfig{SyncLatencyMean: 500 * time.Microsecond, KeepUnsynced: 0.5}}
}

func election(seed int64, r *rand.Rand) sim.Config {
	c := base()
	c.Nodes = 3 + 2*r.IntN(2) // 3 or 5
	c.Duration, c.Quiet = 5*time.Second, 5*time.Second
	return c
}

func failover(seed int64, r *rand.Rand) sim.Config {
	c := base()
	t := dur(r, 3*time.Second, 5*time.Second)
	for i := 0; i < 2; i++ {
		down := dur(r, 2*time.Second, 5*time.Second)
		c.Faults = append(c.Faults, sim.Fault{At: t, For: down, Kind: sim.Crash})
		t += down + dur(r, 2*time.Second, 4*time.Second)
	}
	return c
}

func partition(seed int64, r *rand.Rand) sim.Config {
	c := base()
	// A leader whose clock runs slow notices it lost its quorum late: the
	// window in which a deposed leader still believes it leads.
	c.Clock = sim.ClockConfig{DriftMax: 0.3}
	t := dur(r, 2*time.Second, 4*time.Second)
	c.Faults = append(c.Faults, sim.Fault{At: t, For: dur(r, 3*time.Second, 6*time.Second), Kind: sim.Isolate})
	t += 8 * time.Second
	// A leader that stalls (a long GC pause, a stopped VM) and wakes up still
	// cut off: it has missed the election held without it and believes it
	// leads until its own check-quorum timer runs out.
	pause := dur(r, 2*time.Second, 3*time.Second)
	c.Faults = append(c.Faults,
		sim.Fault{At: t, For: pause + dur(r, 1500*time.Millisecond, 3*time.Second), Kind: sim.Isolate},
		sim.Fault{At: t, For: pause, Kind: sim.Pause})
	t += 7 * time.Second
	switch r.IntN(2) {
	case 0:
		c.Faults = append(c.Faults, sim.Fault{At: t, For: dur(r, 2*time.Second, 4*time.Second), Kind: sim.Split, Group: []int{1 + r.IntN(3)}})
	default:
		c.Faults = append(c.Faults, sim.Fault{At: t, For: dur(r, 2*time.Second, 4*time.Second), Kind: sim.OneWay})
	}
	return c
}

func crash(seed int64, r *rand.Rand) sim.Config {
	c := base()
	t := dur(r, 2*time.Second, 3*time.Second)
	for t < 14*time.Second {
		kind := sim.Crash
		if r.IntN(2) == 0 {
			kind = sim.TornCrash
		}
		node := r.IntN(c.Nodes + 1) // 0: the leader
		c.Faults = append(c.Faults, sim.Fault{At: t, For: dur(r, time.Second, 3*time.Second), Kind: kind, Node: node})
		t += dur(r, 2*time.Second, 4*time.Second)
	}
	// A quorum down at once: nothing may be acknowledged, nothing lost.
	c.Faults = append(c.Faults,
		sim.Fault{At: 15 * time.Second, For: 2 * time.Second, Kind: sim.Crash, Node: 1},
		sim.Fault{At: 15 * time.Second, For: 3 * time.Second, Kind: sim.TornCrash, Node: 2})
	return c
}

func disk(seed int64, r *rand.Rand) sim.Config {
	c := base()
	c.Disk.SyncLatencyMean = dur(r, 200*time.Microsecond, 5*time.Millisecond)
	t := dur(r, 2*time.Second, 3*time.Second)
	kinds := []sim.FaultKind{sim.FailSync, sim.FailWrite, sim.TornCrash, sim.FsyncEIO, sim.NoSpace,
		sim.BitFlip, sim.ReadError, sim.Misdirect}
	// Every kind in turn, from a seeded order; the last ones may not fit.
	r.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	for k := 0; t < 17*time.Second; k++ {
		c.Faults = append(c.Faults, sim.Fault{At: t, For: dur(r, time.Second, 3*time.Second),
			Kind: kinds[k%len(kinds)], Node: r.IntN(c.Nodes + 1)})
		t += dur(r, 1500*time.Millisecond, 3*time.Second)
	}
	return c
}

func clock(seed int64, r *rand.Rand) sim.Config {
	c := base()
	c.Clock = sim.ClockConfig{SkewMax: 30 * time.Second, DriftMax: 0.25}
	t := dur(r, 2*time.Second, 4*time.Second)
	for i := 0; i < 3; i++ {
		c.Faults = append(c.Faults, sim.Fault{At: t, For: dur(r, 1500*time.Millisecond, 4*time.Second), Kind: sim.Pause, Node: r.IntN(c.Nodes + 1)})
		t += dur(r, 4*time.Second, 5*time.Second)
	}
	return c
}

func chaos(seed int64, r *rand.Rand) sim.Config {
	c := base()
	c.Net.Loss = 0.01 + 0.04*r.Float64()
	c.Net.Dup = 0.02 * r.Float64()
	c.Net.Reorder = 0.05 * r.Float64()
	t := dur(r, 2*time.Second, 4*time.Second)
	for t < 15*time.Second {
		if r.IntN(3) == 0 {
			c.Faults = append(c.Faults, sim.Fault{At: t, Kind: sim.CutConns, Node: r.IntN(c.Nodes + 1)})
		} else {
			c.Faults = append(c.Faults, sim.Fault{At: t, For: dur(r, time.Second, 3*time.Second), Kind: sim.NetChaos,
				Chaos: sim.NetConfig{Loss: 0.3 * r.Float64(), Dup: 0.2 * r.Float64(), Reorder: 0.3 * r.Float64()}})
		}
		t += dur(r, 2*time.Second, 4*time.Second)
	}
	return c
}

// swarmSimple are the single faults swarm draws from; swarmComposite the
// shapes real incidents take, each a combination aimed at the leader.
var (
	swarmSimple = []sim.FaultKind{sim.Crash, sim.TornCrash, sim.Pause, sim.Isolate, sim.Split, sim.OneWay,
		sim.FailSync, sim.FailWrite, sim.NetChaos, sim.CutConns,
		sim.BitFlip, sim.ReadError, sim.Misdirect, sim.NoSpace, sim.FsyncEIO}
	// The stalled leader is listed twice: it is the one shape behind stale
	// reads, and it needs a consumer still on the old leader to show.
	swarmComposite = []func(c *sim.Config, r *rand.Rand, at time.Duration){
		stalledLeaderCutOff, stalledLeaderCutOff, quickRestart, longPause, clientsCutFromLeader, clockJumpBack,
	}
)

// swarm draws 3 to 8 faults, each a single fault of any kind on any node
// (or the leader), or, one time in two, one of the composite shapes that
// real incidents need and a uniform draw of single faults almost never
// assembles: a stalled leader waking up cut off (stale reads), a leader
// crash-restarting faster than an election, a leader paused past the
// election timeout, clients cut from the leader while its peers are not, a
// leader's clock stepped back.
func swarm(seed int64, r *rand.Rand) sim.Config {
	c := base()
	c.Nodes = 3 + 2*r.IntN(2)
	workloadShape(&c, seed)
	// Every seed also crashes a node right as it acknowledges a
	// snapshot, drawn from a stream of its own so the rest of the schedule
	// does not shift.
	sr := rand.New(rand.NewPCG(uint64(seed), 0x5a9c4a54))
	snapshotAckCrash(&c, sr, dur(sr, 2*time.Second, 14*time.Second))
	// Every other seed runs the compaction workload (sim/compaction.go):
	// a compacted topic written with a few keys and tombstones, a short
	// delete.retention.ms and a cleaner every fraction of a second, drawn
	// from a stream of its own (seeds without it keep their traces).
	if cr := rand.New(rand.NewPCG(uint64(seed), 0xc0ac7a54)); cr.IntN(2) == 0 {
		c.Compaction = sim.CompactionConfig{Enabled: true, Keys: 3 + cr.IntN(10),
			DeleteRetentionMs: int64(500 + cr.IntN(3500)), CleanerInterval: dur(cr, 200*time.Millisecond, time.Second)}
	}
	// A seed with a topic of one replica also crashes its node right as it
	// answers, twice, from a stream of its own (seeds without such a topic
	// draw nothing and keep their traces).
	for _, t := range c.Topics {
		if t.ReplicationFactor == 1 {
			ar := rand.New(rand.NewPCG(uint64(seed), 0xac4c7a54))
			for k := 0; k < 2; k++ {
				c.Faults = append(c.Faults, sim.Fault{At: dur(ar, 2*time.Second, 16*time.Second), For: dur(ar, time.Second, 3*time.Second), Kind: sim.AckCrash})
			}
		}
	}
	// Every other seed also runs consumer groups, coordinator crashes
	// mid-rebalance included, drawn from a stream of its own (the others
	// keep their traces).
	if gr := rand.New(rand.NewPCG(uint64(seed), 0x67727073)); gr.IntN(2) == 0 {
		swarmGroups(&c, seed)
	}
	c.Net.Loss = 0.02 * r.Float64()
	c.Net.Dup = 0.01 * r.Float64()
	c.Net.Reorder = 0.03 * r.Float64()
	if r.IntN(2) == 0 {
		c.Clock = sim.ClockConfig{SkewMax: 10 * time.Second, DriftMax: 0.3 * r.Float64()}
		// Clocks this far apart expire offsets early on a coordinator
		// that took over (its clock reads another's timestamps), as
		// Kafka's do: no check could tell that from the bug.
		c.OffsetsRetention = 0
	}
	c.Disk.SyncLatencyMean = dur(r, 100*time.Microsecond, 3*time.Millisecond)
	n := 3 + r.IntN(6)
	for i := 0; i < n; i++ {
		at := dur(r, time.Second, 17*time.Second)
		if r.IntN(2) == 0 {
			swarmComposite[r.IntN(len(swarmComposite))](&c, r, at)
			continue
		}
		f := sim.Fault{At: at, For: dur(r, 500*time.Millisecond, 4*time.Second),
			Kind: swarmSimple[r.IntN(len(swarmSimple))], Node: r.IntN(c.Nodes + 1)}
		switch f.Kind {
		case sim.Split:
			f.Group = []int{1 + r.IntN(c.Nodes)}
			if c.Nodes == 5 && r.IntN(2) == 0 {
				f.Group = append(f.Group, 1+(f.Group[0])%c.Nodes)
			}
		case sim.NetChaos:
			f.Chaos = sim.NetConfig{Loss: 0.3 * r.Float64(), Dup: 0.1 * r.Float64(), Reorder: 0.2 * r.Float64()}
		}
		c.Faults = append(c.Faults, f)
	}
	// Every other seed also runs idle partitions and, once every other
	// fault is over, kills a node for longer than the failover bound:
	// every partition it led, idle (quiesced) ones included, must move
	// within the bound (sim/failover.go). Drawn from a stream of its own
	// (the other seeds keep their schedules).
	if ir := rand.New(rand.NewPCG(uint64(seed), 0x69646c65)); ir.IntN(2) == 0 {
		swarmIdleFailover(&c, ir)
	}
	return c
}

// swarmIdlePartitions is the idle topic's size on the seeds that have one:
// enough that every node leads some, few enough to cost a seed little.
const swarmIdlePartitions = 200

// swarmFailoverMax is the failover bound swarm holds its lone crash to:
// scenario many's (an election timeout until the peer counts as down, at
// most one randomized election timeout, the round trips, slack) and one
// more failed election's worth, as swarm's network loses up to 2% of
// messages (a lost vote or its answer costs a randomized election
// timeout, 1-2s). A group never woken waits for the node's restart,
// later still.
const swarmFailoverMax = manyFailoverMax + 2*time.Second

// swarmIdleFailover adds idle partitions and a crash of any node, alone:
// after every other fault ended and the cluster had the failover check's
// settling time, down past the bound; the run is made long enough for it.
func swarmIdleFailover(c *sim.Config, r *rand.Rand) {
	end := time.Duration(0)
	for _, f := range c.Faults {
		if f.For <= 0 {
			return // lasts until the end: nothing would be alone
		}
		end = max(end, f.At+f.For)
	}
	c.IdleTopics = []sim.TopicSpec{{Name: "idle", Partitions: swarmIdlePartitions}}
	c.FailoverMax = swarmFailoverMax
	// failoverSettle (2s) of calm before it, and the idle partitions
	// woken by the last fault quiesced again.
	at := end + dur(r, 3*time.Second, 4*time.Second)
	down := swarmFailoverMax + dur(r, time.Second, 2*time.Second)
	c.Faults = append(c.Faults, sim.Fault{At: at, For: down, Kind: sim.Crash, Node: 1 + r.IntN(c.Nodes)})
	c.Duration = max(c.Duration, at+down+time.Second)
}

// stalledLeaderCutOff: the leader stalls (a GC pause, a stopped VM) past an
// election and wakes up still cut from its peers; it believes it leads until
// its check-quorum timer runs out, while clients that have not refreshed
// their metadata still talk to it (the partition scenario's hand-made shape).
func stalledLeaderCutOff(c *sim.Config, r *rand.Rand, at time.Duration) {
	pause := dur(r, 2*time.Second, 3*time.Second)
	c.Faults = append(c.Faults,
		sim.Fault{At: at, For: pause + dur(r, 1500*time.Millisecond, 3*time.Second), Kind: sim.Isolate},
		sim.Fault{At: at, For: pause, Kind: sim.Pause})
}

// quickRestart: the leader crashes and is back before the others' election
// timeout (1s to 2s) runs out, with or without its unsynced tail.
func quickRestart(c *sim.Config, r *rand.Rand, at time.Duration) {
	kind := sim.Crash
	if r.IntN(2) == 0 {
		kind = sim.TornCrash
	}
	c.Faults = append(c.Faults, sim.Fault{At: at, For: dur(r, 20*time.Millisecond, 800*time.Millisecond), Kind: kind})
}

// longPause: the leader stops for longer than the election timeout and
// resumes into a cluster that moved on.
func longPause(c *sim.Config, r *rand.Rand, at time.Duration) {
	c.Faults = append(c.Faults, sim.Fault{At: at, For: dur(r, 2500*time.Millisecond, 5*time.Second), Kind: sim.Pause})
}

// clientsCutFromLeader: the clients lose their route to the leader; the
// leader keeps its quorum, so nobody elects another.
func clientsCutFromLeader(c *sim.Config, r *rand.Rand, at time.Duration) {
	c.Faults = append(c.Faults, sim.Fault{At: at, For: dur(r, time.Second, 4*time.Second), Kind: sim.ClientCut})
}

// snapshotAckCrash: a follower behind the metadata log's start is sent a
// snapshot; it loses power right as its acknowledgement leaves. A node is cut
// off first, so that it falls behind while topics churn.
func snapshotAckCrash(c *sim.Config, r *rand.Rand, at time.Duration) {
	behind := dur(r, 2*time.Second, 4*time.Second)
	c.Faults = append(c.Faults,
		sim.Fault{At: at, For: behind, Kind: sim.Isolate, Node: 1 + r.IntN(c.Nodes)},
		sim.Fault{At: at + behind - 100*time.Millisecond, For: dur(r, 2*time.Second, 4*time.Second), Kind: sim.SnapCrash})
}

// clockJumpBack: the leader's clock steps back, so its raft timers stall
// (no heartbeats, no check-quorum) until the clock is where it was.
func clockJumpBack(c *sim.Config, r *rand.Rand, at time.Duration) {
	back := dur(r, 1500*time.Millisecond, 4*time.Second)
	c.Faults = append(c.Faults, sim.Fault{At: at, For: back, Kind: sim.ClockJump, Jump: -back})
}

// workloadShape draws swarm's topics, topic churn and overload phases from a
// stream of their own, so the fault schedule drawn from r does not shift.
func workloadShape(c *sim.Config, seed int64) {
	r := rand.New(rand.NewPCG(uint64(seed), 0x70b1c5))
	c.Topics = nil
	for i, n := 0, 1+r.IntN(3); i < n; i++ {
		c.Topics = append(c.Topics, sim.TopicSpec{Name: fmt.Sprintf("t%d", i), Partitions: int32(1 + r.IntN(12))})
	}
	c.TopicChurn = r.IntN(2) == 0
	if r.IntN(3) == 0 {
		// Thousands parked under the real limit (node's default
		// FetchWaitsMax, 16384, not the simulator's small one), half the
		// time past it on one node.
		c.Overload, c.FetchWaitsMax, c.ParkedFetches = true, 1<<14, 500+r.IntN(8000)
		if r.IntN(2) == 0 {
			c.ParkedFetches = 16500 + r.IntN(1500)
		}
	}
	// One seed in four adds a topic of one replica (drawn last, so the
	// draws above do not shift): a raft group of one voter commits on its
	// own append, with no peer's acknowledgement between the append and the
	// answer (etcd #14370 lost writes only in such a group).
	if r.IntN(4) == 0 {
		c.Topics = append(c.Topics, sim.TopicSpec{Name: "solo", Partitions: 1, ReplicationFactor: 1})
	}
	// Every other seed creates its topics with configs and alters them as
	// it runs (drawn last, as the solo topic above).
	c.TopicConfigs = r.IntN(2) == 0
	// Every other seed runs the retention workload (sim/retention.go): a
	// topic whose records go by retention.ms of a few seconds, or
	// retention.bytes of a few KiB, and by DeleteRecords through random
	// brokers while the faults run (drawn last, as above).
	if r.IntN(2) == 0 {
		ret := sim.RetentionConfig{Enabled: true, Ms: int64(2000 + r.IntN(4000)), Bytes: -1,
			DeleteRecords: r.IntN(3) != 0, CheckInterval: time.Duration(200+r.IntN(800)) * time.Millisecond}
		if r.IntN(2) == 0 {
			ret.Bytes = int64(1024 + r.IntN(4096))
		}
		if r.IntN(4) == 0 {
			ret.Ms = -1
		}
		c.Retention = ret
	}
}

// groups: consumer groups of every client kind over two topics, through
// coordinator failover in the middle of rebalances, crashes and pauses of
// the partitions' leaders, and the members' own stalls past their session
// timeout (zombies), restarts and leaves.
func groups(seed int64, r *rand.Rand) sim.Config {
	c := base()
	c.Topics = []sim.TopicSpec{{Name: "sim", Partitions: 4}, {Name: "orders", Partitions: 3}}
	c.Consumers = 1
	c.GroupConsumers, c.Groups = 6+r.IntN(4), 3
	t := dur(r, 2*time.Second, 4*time.Second)
	for t < 16*time.Second {
		switch r.IntN(6) {
		case 0:
			coordinatorCrashMidRebalance(&c, r, t)
		case 5:
			commitCrash(&c, r, t)
		case 1:
			// The coordinator's node, or a leader of the workload's.
			node := []int{sim.NodeCoordinator, 0}[r.IntN(2)]
			c.Faults = append(c.Faults, sim.Fault{At: t, For: dur(r, time.Second, 3*time.Second), Kind: sim.Crash, Node: node})
		case 2:
			// A coordinator stalled past an election that wakes up cut
			// off, still answering as coordinator until its check-quorum
			// timer runs out.
			pause := dur(r, 2*time.Second, 3*time.Second)
			c.Faults = append(c.Faults,
				sim.Fault{At: t, For: pause + dur(r, 1500*time.Millisecond, 3*time.Second), Kind: sim.Isolate, Node: sim.NodeCoordinator},
				sim.Fault{At: t, For: pause, Kind: sim.Pause, Node: sim.NodeCoordinator})
		case 3:
			c.Faults = append(c.Faults, sim.Fault{At: t, For: dur(r, 2500*time.Millisecond, 5*time.Second), Kind: sim.Pause, Node: r.IntN(c.Nodes + 1)})
		default:
			c.Faults = append(c.Faults, sim.Fault{At: t, Kind: sim.CutConns, Node: sim.NodeCoordinator})
		}
		t += dur(r, 2*time.Second, 4*time.Second)
	}
	shortRetention(&c, r)
	// Drawn last, so the draws above stay put: one seed in two, one
	// group speaks KIP-848 instead of its classic protocol.
	kip848Groups(&c, r)
	return c
}

// kip848Groups makes, one seed in two, one of c's groups a KIP-848 consumer
// group (sim/group848.go): franz-go or the Java consumer, with the server
// assignor each names by default (uniform; Java names none) or range.
func kip848Groups(c *sim.Config, r *rand.Rand) {
	if r.IntN(2) != 0 {
		return
	}
	k := sim.KIP848Group{Group: r.IntN(max(1, min(c.Groups, c.GroupConsumers))), Java: r.IntN(2) == 0}
	switch {
	case r.IntN(3) == 0:
		k.Assignor = "range"
	case !k.Java:
		k.Assignor = "uniform"
	}
	c.KIP848 = append(c.KIP848, k)
	// A KIP-848 group's offsets expire as soon as it is empty, if older
	// than the retention, so its last member's leave may be followed at
	// once by an expiry no silence of the group tells from a bug's: the
	// group checks could not judge a short retention here.
	c.OffsetsRetention = 0
}

// commitCrash: the next coordinator to accept an OffsetCommit loses power
// before its followers learn the commit's entry committed, and the one that
// takes over leads a while without having loaded the group.
func commitCrash(c *sim.Config, r *rand.Rand, at time.Duration) {
	c.Faults = append(c.Faults, sim.Fault{At: at, For: dur(r, 2*time.Second, 5*time.Second), Kind: sim.CommitCrash})
}

// shortRetention: half the runs expire offsets after a few seconds (some
// below the Java consumer's 5s auto-commit), so that
// expiry runs through rebalances and restarts (groups consuming a partition
// nobody writes to commit nothing new, and their offsets age).
func shortRetention(c *sim.Config, r *rand.Rand) {
	if r.IntN(2) == 0 {
		c.OffsetsRetention = dur(r, 4*time.Second, 8*time.Second)
	}
}

// coordinatorCrashMidRebalance: the next rebalance of any group loses its
// coordinator's node between the JoinGroup answers and the SyncGroup.
func coordinatorCrashMidRebalance(c *sim.Config, r *rand.Rand, at time.Duration) {
	c.Faults = append(c.Faults, sim.Fault{At: at, For: dur(r, 2*time.Second, 5*time.Second), Kind: sim.CoordCrash})
}

// swarmGroups gives a swarm seed its group consumers and a coordinator
// crash in the middle of a rebalance, from a stream of their own.
func swarmGroups(c *sim.Config, seed int64) {
	r := rand.New(rand.NewPCG(uint64(seed), 0x96a0c5))
	c.GroupConsumers, c.Groups = 2+r.IntN(6), 1+r.IntN(3)
	coordinatorCrashMidRebalance(c, r, dur(r, 2*time.Second, 14*time.Second))
	commitCrash(c, r, dur(r, 2*time.Second, 14*time.Second))
	shortRetention(c, r)
	kip848Groups(c, r)
}
