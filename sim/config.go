package sim

import (
	"fmt"
	"io"
	"time"
)

// Config is one simulated run: cluster shape, workload, the world's
// imperfections, and a fault schedule. scenarios/ builds the named ones.
type Config struct {
	Seed     int64
	Scenario string

	Nodes int // brokers; each is a voter of the metadata group

	// Topics the workload uses. An admin client creates them at the start
	// (CreateTopics with explicit partitions and replication factor) and,
	// with TopicChurn, deletes and re-creates them while faults run.
	Topics     []TopicSpec
	TopicChurn bool
	// TopicConfigs: the admin client creates each topic with configs drawn
	// for it (max.message.bytes, message.timestamp.type, retention.ms ...),
	// alters them while faults run (IncrementalAlterConfigs and the legacy
	// AlterConfigs, through any broker), and after each alter produces one
	// batch larger than any max.message.bytes the topic may have in force:
	// acknowledging it is a violation (sim/topics.go).
	TopicConfigs bool
	// Overload runs phases of pipelined requests beyond the per-connection
	// in-flight limit and of many fetches parked at once (long MaxWait,
	// large MinBytes). ParkedFetches is how many one phase parks (default
	// 2000 when Overload is on).
	Overload      bool
	ParkedFetches int

	Duration time.Duration // the workload runs with faults for this long
	Quiet    time.Duration // then faults are healed and the workload runs on: liveness is checked here

	Producers           int // clients producing
	IdempotentProducers int // how many of Producers are idempotent (acks=-1, 5 in flight, retries)
	// The rest are plain producers, with acks 1, 0 and -1 in turn.
	Consumers int // clients fetching
	// GroupConsumers are consumers in consumer groups over every topic of
	// the workload (group.go), split over Groups groups (default 1), each
	// group one client kind by its index: Java (range), franz-go
	// (cooperative-sticky), librdkafka (roundrobin). GroupSession is their
	// session timeout (default 6s, a broker's minimum).
	GroupConsumers int
	Groups         int
	GroupSession   time.Duration
	// OffsetsRetention is every node's offsets.retention (0: Kafka's 7
	// days, so nothing expires in a run). When set, nodes look for expired
	// offsets every offsetsCheckInterval, and the group checks excuse an
	// offset gone only after its group was silent long enough
	// (World.groupRules).
	OffsetsRetention time.Duration
	// KIP848 makes groups KIP-848 consumer groups (group848.go): their
	// members speak ConsumerGroupHeartbeat, as franz-go or the Java 4.x
	// consumer with the consumer protocol, instead of the classic one.
	KIP848 []KIP848Group
	// Idle runs no producers and no consumers: the admin creates the
	// topics and the cluster ticks on alone (bench/sim's idle row).
	Idle bool
	// IdleTopics are created by the admin at the start like Topics, and
	// then left alone: no client writes or reads them (thousands of idle
	// partitions next to a few busy ones). FailoverMax, if set, is how
	// long every partition, idle ones included, may go without a serving
	// leader after its leader's node crashed while nothing else was wrong
	// (failover.go).
	IdleTopics  []TopicSpec
	FailoverMax time.Duration
	// Retention adds the retention workload (retention.go): a topic with a
	// small retention.ms and retention.bytes, and DeleteRecords, with
	// checks of their own. The other topics' producers stamp timestamps of
	// 1970, so with it on every node's log.retention.ms is -1 and the
	// topic configs drawn leave retention.ms unlimited.
	Retention RetentionConfig
	// Compaction adds the compaction workload (compaction.go): a topic
	// with cleanup.policy=compact written with keyed records and
	// tombstones, with checks of its own.
	Compaction CompactionConfig
	// LogRollMs is every broker's log.roll.ms: the segment.ms of every
	// topic that sets none, __consumer_offsets' included (the cleaner
	// never cleans a partition's active segment). 0: Kafka's default, 7
	// days.
	LogRollMs int64

	// MarshalPeers carries raft messages between nodes as bytes, through
	// proto.Marshal and Unmarshal as node/host does, instead of copying
	// them field by field (the default: the same messages, at a fraction
	// of the cost). A test holds both to the same trace.
	MarshalPeers bool

	Net   NetConfig
	Disk  DiskConfig
	Clock ClockConfig

	Faults []Fault

	// FetchWaitsMax is each node's node.Config.FetchWaitsMax: the fetches it
	// holds before it stops parking them. Default 2, far below a real
	// broker's, so that a few consumers reach the overload path.
	FetchWaitsMax int

	// Bug plants one of node.Bugs() in every node.
	Bug string

	// Trace, if set, receives one line per event.
	Trace io.Writer
	// VizPath, if set, is where porcupine's visualisation is written when
	// the linearizability check fails.
	VizPath string
	// LinearizabilityTimeout bounds porcupine per partition (default 20s).
	LinearizabilityTimeout time.Duration
	// LinearizabilitySteps bounds porcupine per partition in model steps
	// (0: the checker's default); see checker.Options.
	LinearizabilitySteps int
}

// NetConfig describes the network between nodes (raft messages) and between
// clients and nodes (byte streams).
type NetConfig struct {
	LatencyMin  time.Duration // every message takes at least this long
	LatencyMean time.Duration // plus an exponential with this mean
	Loss        float64       // peer messages dropped
	Dup         float64       // peer messages delivered twice
	Reorder     float64       // peer messages delayed by up to 10 mean latencies
}

// DiskConfig describes each node's disk.
type DiskConfig struct {
	SyncLatencyMean time.Duration // the node's outputs wait this long per fsync (exponential)
	// KeepUnsynced is the mean share of unsynced bytes a crash keeps
	// (each file draws its own share; torn tails happen).
	KeepUnsynced float64
}

// ClockConfig skews and drifts each node's clock.
type ClockConfig struct {
	SkewMax  time.Duration // each node's clock is offset by up to this
	DriftMax float64       // and runs up to this fraction fast or slow
}

// KIP848Group is one KIP-848 consumer group of a run.
type KIP848Group struct {
	Group int  // the group's index (groupName)
	Java  bool // the Java 4.x consumer (group.protocol=consumer), else franz-go
	// Assignor is the server assignor the members name ("uniform",
	// "range"; "": none, the broker's default).
	Assignor string
}

// FaultKind names a fault.
type FaultKind string

const (
	Crash     FaultKind = "crash"      // power loss: unsynced bytes lost; restart after For
	TornCrash FaultKind = "torn-crash" // power loss keeping a random share of unsynced bytes
	Pause     FaultKind = "pause"      // the process stops (no ticks, no processing) for For
	Isolate   FaultKind = "isolate"    // the node is cut from every peer for For
	Split     FaultKind = "split"      // the cluster splits into Group and the rest for For
	OneWay    FaultKind = "one-way"    // messages from Node to Peer are dropped for For
	FailSync  FaultKind = "fail-sync"  // the node's next fsync fails: it must stop; restart after For
	FailWrite FaultKind = "fail-write" // the node's next write fails: it must stop; restart after For
	NetChaos  FaultKind = "net-chaos"  // loss, duplication and reordering raised for For
	CutConns  FaultKind = "cut-conns"  // every client connection to the node is cut
	// ClientCut: clients cannot reach the node for For, while its peers can
	// (a client-to-leader-only partition). Its connections go silent, as a
	// dropped route does: requests wait out their timeout. They are closed
	// when the fault heals.
	ClientCut FaultKind = "client-cut"
	// ClockJump steps the node's wall clock by Jump (an NTP step, a VM
	// resumed on another host). A jump back stalls the node's raft ticks
	// (heartbeats, election and check-quorum timers) until its clock is back
	// where it was, |Jump| later; a jump forward fires them at once. The clock
	// is not stepped back when the fault "heals".
	ClockJump FaultKind = "clock-jump"
	// SnapCrash: while it lasts, the first node to acknowledge a raft
	// snapshot it installed loses power right as the acknowledgement
	// leaves (kill -9 between ack and whatever comes next), and restarts a
	// second later. A snapshot's install is one narrow step that no other
	// fault lands in by chance.
	SnapCrash FaultKind = "snap-crash"
	// AckCrash: while it lasts, the first node holding a partition of one
	// replica to send answers to its clients loses power right as they
	// leave (kill -9 between an acknowledgement and whatever comes next),
	// and restarts a second later. Where no peer holds a copy, nothing but
	// the node's own fsync stands behind an acknowledgement.
	AckCrash FaultKind = "ack-crash"

	// Faults of the platter, found when the node restarts; a node refusing
	// to start over them is wiped by the simulated operator and rejoins as a
	// recovering replica (at most one node is damaged at a time).
	BitFlip   FaultKind = "bit-flip"   // power loss, then a bit of synced log data flips; restart after For
	ReadError FaultKind = "read-error" // power loss, then a synced sector of the log answers EIO; restart after For
	Misdirect FaultKind = "misdirect"  // the node's next write lands at another offset or file; power loss and restart after For
	NoSpace   FaultKind = "enospc"     // every write fails with ENOSPC for For: the node must stop; restart after For
	FsyncEIO  FaultKind = "fsync-eio"  // the next fsync fails and the kernel drops the dirty pages: the node must stop; power loss and restart after For

	// CoordCrash: while it lasts, the first group rebalance to hand out a
	// generation (a JoinGroup answered, its SyncGroup not yet sent) loses
	// the coordinator's node right as the answer leaves, and restarts it a
	// second later: the coordinator fails over mid-rebalance.
	CoordCrash FaultKind = "coord-crash"
	// CommitCrash: while it lasts, the first node to accept an
	// OffsetCommit loses power as the answer leaves, before the raft
	// messages of the same step (which tell its followers the commit's
	// entry committed), and restarts 3s later; the first other replica to
	// lead the group's partition then loses its link to its last follower
	// for 1.5s, so it leads without having loaded the group
	// (group_faults.go).
	CommitCrash FaultKind = "commit-crash"
)

// TopicSpec is one topic of the workload.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16 // 0: min(3, Nodes)
}

// Fault is one scheduled fault. Node 0 means "whoever leads partition 0 of
// the first topic when the fault fires" (or the metadata group's leader if
// no partition has one); NodeCoordinator, the node the first group
// consumer that knows one believes coordinates its group (else as 0).
type Fault struct {
	At    time.Duration
	For   time.Duration
	Kind  FaultKind
	Node  int
	Peer  int   // OneWay's other end (0: the next node)
	Group []int // Split: one side
	Chaos NetConfig
	Jump  time.Duration // ClockJump: how far the node's clock steps
}

// NodeCoordinator as a Fault's Node targets a consumer group's coordinator.
const NodeCoordinator = -1

func (f Fault) String() string {
	s := fmt.Sprintf("%s@%v", f.Kind, f.At)
	if f.For > 0 {
		s += fmt.Sprintf("+%v", f.For)
	}
	switch {
	case f.Kind == Split:
		s += fmt.Sprintf(" group=%v", f.Group)
	case f.Kind == NetChaos:
		s += fmt.Sprintf(" loss=%.2f dup=%.2f reorder=%.2f", f.Chaos.Loss, f.Chaos.Dup, f.Chaos.Reorder)
	case f.Kind == ClockJump && f.Node == NodeCoordinator:
		s += fmt.Sprintf(" jump=%v node=coordinator", f.Jump)
	case f.Kind == ClockJump && f.Node == 0:
		s += fmt.Sprintf(" jump=%v node=leader", f.Jump)
	case f.Kind == ClockJump:
		s += fmt.Sprintf(" jump=%v node=%d", f.Jump, f.Node)
	case f.Node == NodeCoordinator:
		s += " node=coordinator"
	case f.Node == 0:
		s += " node=leader"
	default:
		s += fmt.Sprintf(" node=%d", f.Node)
	}
	if f.Kind == OneWay {
		s += fmt.Sprintf(" peer=%d", f.Peer)
	}
	return s
}

func (c *Config) defaults() {
	if c.Nodes <= 0 {
		c.Nodes = 3
	}
	if len(c.Topics) == 0 {
		c.Topics = []TopicSpec{{Name: "sim", Partitions: 1}}
	}
	for i := range c.Topics {
		if c.Topics[i].Partitions <= 0 {
			c.Topics[i].Partitions = 1
		}
		if c.Topics[i].ReplicationFactor <= 0 {
			c.Topics[i].ReplicationFactor = int16(min(3, c.Nodes))
		}
	}
	for i := range c.IdleTopics {
		if c.IdleTopics[i].ReplicationFactor <= 0 {
			c.IdleTopics[i].ReplicationFactor = int16(min(3, c.Nodes))
		}
	}
	if c.Overload && c.ParkedFetches <= 0 {
		c.ParkedFetches = 2000
	}
	if c.Duration <= 0 {
		c.Duration = 20 * time.Second
	}
	if c.Quiet <= 0 {
		c.Quiet = 15 * time.Second
	}
	if c.Idle {
		c.Producers, c.IdempotentProducers, c.Consumers, c.GroupConsumers = 0, 0, 0, 0
	} else if c.Producers <= 0 && c.Consumers <= 0 {
		c.Producers, c.IdempotentProducers, c.Consumers = 3, 2, 2
	}
	if c.GroupConsumers > 0 && c.GroupSession <= 0 {
		c.GroupSession = 6 * time.Second
	}
	if c.Net.LatencyMin <= 0 && c.Net.LatencyMean <= 0 {
		c.Net.LatencyMin, c.Net.LatencyMean = 200*time.Microsecond, time.Millisecond
	}
	if c.FetchWaitsMax <= 0 {
		c.FetchWaitsMax = 2
	}
	if c.LinearizabilityTimeout <= 0 {
		c.LinearizabilityTimeout = 20 * time.Second
	}
}

// groups is how many consumer groups the group consumers form.
func (c *Config) groups() int {
	if c.GroupConsumers <= 0 {
		return 0
	}
	return max(1, min(c.Groups, c.GroupConsumers))
}
