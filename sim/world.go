package sim

import (
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sort"
	"time"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/wal"
)

// Limits of a run: a bug that makes the world spin must end the run, not
// hang the test.
const (
	eventsMax   = 20_000_000
	epochOffset = 1_700_000_000 // simulated wall clocks start in 2023
)

// World is one simulated run in progress.
type World struct {
	cfg   Config
	now   int64
	seq   uint64
	queue eventQueue
	steps int

	net, disk, work, faults stream

	nodes   []*simNode
	clients []*client

	topics          []*topicState // the workload's topics, in Config order
	idleTopics      []*topicState // Config.IdleTopics
	retTopic        *topicState   // Config.Retention's topic (retention.go)
	cmpTopic        *topicState   // Config.Compaction's topic (compaction.go)
	partitionsTotal int32

	trace     hash.Hash
	hashBuf   []byte
	traceOut  io.Writer
	knobs     []string
	history   checker.History
	notes     []checker.Annotation
	violation []string

	inv   *invariants
	roles *roleLog // each node's role per group over time (Result.Roles)
	// faultNodes[i] is the node notes[i]'s fault targeted.
	faultNodes []uint64
	// failoverExcused are the notes of crashes the failover bound does not
	// hold: another node was under repair (Config.Recover) when it began.
	failoverExcused []int
	// batchCache holds each record batch consumers fetched, decoded, keyed
	// by its bytes (consumer.go decodeRecords).
	batchCache map[uint64]*decoded
	fetchCache map[uint64]*decoded // whole fetch answers' batches
	batchRecs  [][]checker.Record  // decodeRecords' scratch
	// bytes the caches keep (raw batches; records come on top)
	batchCacheBytes, fetchCacheBytes int
	// For the disk's recovery rule: the highest term of any message per
	// group (a wiped node's term floor), and per (node, group) the highest
	// index the node acknowledged to a leader.
	maxTerm map[uint64]uint64
	// snapCrash is armed by a SnapCrash fault; snapSent is, per (node,
	// group), the index of the last snapshot sent to it.
	snapCrash bool
	snapSent  map[[2]uint64]uint64
	acked     map[[2]uint64]uint64

	// epochLeaders is, per partition and leader epoch, the leader the
	// first Metadata answer naming that epoch named (epochs.go).
	epochLeaders map[epochKey]epochSighting

	// ackCrash is armed by an AckCrash fault.
	ackCrash bool
	// coordCrash is armed by a CoordCrash fault (group.go).
	coordCrash bool
	// commitCrash is armed by a CommitCrash fault; stall is one that
	// fired, waiting for the group's next coordinator (group_faults.go).
	commitCrash bool
	stall       *commitStall

	// groupHistory is what the group consumers were told (group.go).
	groupHistory checker.GroupHistory

	// stats counts what the faults did (Result.Stats); the per-message
	// counters are plain fields, folded in at the end, to keep the hot path
	// free of map writes.
	stats                        map[string]int
	msgsCut, msgsLost, msgsDuped int
	// linkQueued counts, per directed link (from, to), the peer messages
	// sent and not yet delivered, bounded as node/host's peer queue is.
	linkQueued    []linkLoad // index from*(Nodes+1)+to
	msgsQueueFull int

	// network state
	cut      map[[2]uint64]bool // directed links that drop peer messages
	chaos    NetConfig          // raised loss/dup/reorder while a NetChaos fault lasts
	healedAt int64              // when the last fault ended
	nextConn node.ConnID
	// deliveries are peer-message frames done with, for reuse (sendFrame);
	// frameRaw, frameOK and frameIdx are sendPeers' scratch.
	deliveries []*delivery
	frameRaw   [][]byte
	frameOK    []bool
	frameIdx   []int
	encBuf     []byte // the simulated clients' request encoding scratch (sendFor)
}

// Result is what a run found.
type Result struct {
	Seed     int64
	Scenario string
	Knobs    []string
	History  checker.History
	// Groups is the group consumers' history; its checks' findings are in
	// Check.Anomalies with the rest.
	Groups checker.GroupHistory
	Faults []checker.Annotation
	// FaultNodes[i] is the node Faults[i] targeted (for a fault of the
	// whole network, split, net-chaos or snap-crash, whichever node the
	// schedule resolved; the report draws those on a row of their own).
	FaultNodes []uint64
	// Roles is each node's role in each raft group over simulated time,
	// recorded when it changes, by group, node and start (see RoleSpan).
	Roles      []RoleSpan
	Violations []string // invariants and liveness
	Check      checker.Result
	TraceHash  string
	Events     int
	SimTime    time.Duration
	Wall       time.Duration
	CheckWall  time.Duration
	OK         bool
	// Stats counts what the run's faults did: "fault.<kind>" per fault
	// injected (".skipped" when its target was down), "crash.torn" for
	// crashes that kept part of the unsynced bytes, "node.restart",
	// "node.stopped-on-disk-error", "net.msgs-cut" and so on. The names are
	// open: any part of the simulator may add its own; cmd/sim sums them
	// over a seed range.
	Stats map[string]int
	// AckGap is the longest stretch in which a partition acknowledged no
	// produce while no fault touched it (bounded by ackGapMax).
	AckGap AckGap
}

// Run builds the world described by cfg, runs it to the end, and checks it.
func Run(cfg Config) Result {
	start := time.Now()
	cfg.defaults()
	w := newWorld(cfg)
	w.run()
	w.flushTrace()
	res := Result{Seed: cfg.Seed, Scenario: cfg.Scenario, Knobs: w.knobs, History: w.history, Groups: w.groupHistory, Faults: w.notes,
		FaultNodes: w.faultNodes, Roles: w.roles.finish(w.now),
		Violations: w.violation, TraceHash: hex.EncodeToString(w.trace.Sum(nil))[:16], Events: w.steps,
		SimTime: time.Duration(w.now), Stats: w.stats}
	w.stat("net.msgs-cut", w.msgsCut)
	w.stat("net.msgs-lost", w.msgsLost)
	w.stat("net.msgs-duplicated", w.msgsDuped)
	w.stat("net.msgs-dropped-queue-full", w.msgsQueueFull)
	res.Violations = append(res.Violations, w.liveness()...)
	res.Violations = append(res.Violations, w.groupLiveness()...)
	res.Violations = append(res.Violations, failoverGaps(res.Roles, w.notes, w.faultNodes, w.failoverExcused, cfg.FailoverMax)...)
	res.AckGap = longestAckGap(w.history, w.notes, w.end()-clientStopBeforeEnd)
	if res.AckGap.Len() > ackGapMax {
		res.Violations = append(res.Violations, fmt.Sprintf("ack gap: %v without an acknowledged produce while no fault touched the cluster (bound %v, counted from %v after a fault heals)",
			res.AckGap, ackGapMax, ackGapGrace))
	}
	checkStart := time.Now()
	res.Check = checker.Check(w.history, checker.Options{LinearizabilityTimeout: cfg.LinearizabilityTimeout,
		LinearizabilitySteps: cfg.LinearizabilitySteps,
		VizPath:              cfg.VizPath, Annotations: w.notes})
	if cfg.GroupConsumers > 0 {
		if ga := checker.CheckGroupsWith(w.history, w.groupHistory, w.groupRules()); len(ga) > 0 {
			res.Check.Anomalies = append(res.Check.Anomalies, ga...)
			res.Check.OK = false
		}
	}
	res.CheckWall = time.Since(checkStart)
	res.OK = len(res.Violations) == 0 && res.Check.OK
	res.Wall = time.Since(start)
	return res
}

func newWorld(cfg Config) *World {
	w := &World{
		cfg:        cfg,
		net:        newStream(cfg.Seed, "network"),
		disk:       newStream(cfg.Seed, "disk"),
		work:       newStream(cfg.Seed, "workload"),
		faults:     newStream(cfg.Seed, "faults"),
		trace:      sha256.New(),
		traceOut:   cfg.Trace,
		cut:        map[[2]uint64]bool{},
		linkQueued: make([]linkLoad, (cfg.Nodes+1)*(cfg.Nodes+1)),
		stats:      map[string]int{},
		maxTerm:    map[uint64]uint64{},
		snapSent:   map[[2]uint64]uint64{},
		acked:      map[[2]uint64]uint64{},
	}
	w.inv = newInvariants(w)
	w.roles = newRoleLog(cfg.Nodes)
	w.knob("seed", cfg.Seed)
	w.knob("scenario", cfg.Scenario)
	w.knob("nodes", cfg.Nodes)
	for i, t := range cfg.Topics {
		w.topics = append(w.topics, &topicState{spec: t})
		w.partitionsTotal += t.Partitions
		w.knob(fmt.Sprintf("topic%d", i), fmt.Sprintf("%s partitions=%d rf=%d", t.Name, t.Partitions, t.ReplicationFactor))
	}
	for i, t := range cfg.IdleTopics {
		w.idleTopics = append(w.idleTopics, &topicState{spec: t})
		w.knob(fmt.Sprintf("idle-topic%d", i), fmt.Sprintf("%s partitions=%d rf=%d", t.Name, t.Partitions, t.ReplicationFactor))
	}
	if cfg.FailoverMax > 0 {
		w.knob("failover-max", cfg.FailoverMax)
	}
	if r := cfg.Retention; r.Enabled {
		w.retTopic = &topicState{spec: TopicSpec{Name: retentionTopic, Partitions: 2}}
		w.knob("retention", fmt.Sprintf("ms=%d bytes=%d delete-records=%v check=%v", r.Ms, r.Bytes, r.DeleteRecords, r.CheckInterval))
	}
	if cc := cfg.Compaction; cc.Enabled {
		w.cmpTopic = &topicState{spec: TopicSpec{Name: compactionTopic, Partitions: 2}}
		w.knob("compaction", fmt.Sprintf("keys=%d delete-retention-ms=%d cleaner=%v", cc.Keys, cc.DeleteRetentionMs, cc.CleanerInterval))
	}
	if cfg.LogRollMs > 0 {
		w.knob("log-roll-ms", fmt.Sprintf("%d (cleaner every %v)", cfg.LogRollMs, cfg.Compaction.CleanerInterval))
	}
	w.knob("topic-churn", cfg.TopicChurn)
	if cfg.Overload {
		w.knob("overload", fmt.Sprintf("parked-fetches=%d", cfg.ParkedFetches))
	}
	w.knob("duration", cfg.Duration)
	w.knob("quiet", cfg.Quiet)
	w.knob("producers", fmt.Sprintf("%d (%d idempotent)", cfg.Producers, cfg.IdempotentProducers))
	w.knob("consumers", cfg.Consumers)
	if cfg.GroupConsumers > 0 {
		w.knob("group-consumers", fmt.Sprintf("%d in %d groups, session %v", cfg.GroupConsumers, cfg.groups(), cfg.GroupSession))
		if len(cfg.KIP848) > 0 {
			w.knob("kip848", formatKIP848(&cfg))
		}
	}
	w.knob("fetch-waits-max", cfg.FetchWaitsMax)
	w.knob("net", fmt.Sprintf("latency %v+exp(%v) loss %.3f dup %.3f reorder %.3f", cfg.Net.LatencyMin, cfg.Net.LatencyMean, cfg.Net.Loss, cfg.Net.Dup, cfg.Net.Reorder))
	w.knob("disk", fmt.Sprintf("sync exp(%v) keep-unsynced %.2f", cfg.Disk.SyncLatencyMean, cfg.Disk.KeepUnsynced))
	if cfg.Bug != "" {
		w.knob("bug", cfg.Bug)
	}
	for i := 1; i <= cfg.Nodes; i++ {
		sn := newSimNode(w, uint64(i))
		w.nodes = append(w.nodes, sn)
		w.knob(fmt.Sprintf("node%d.clock", i), fmt.Sprintf("skew %v drift %+.4f", time.Duration(sn.skew), sn.drift))
	}
	for i, f := range cfg.Faults {
		w.knob(fmt.Sprintf("fault%d", i), f.String())
	}
	for _, sn := range w.nodes {
		sn.boot(wal.NewMemFS())
	}
	kinds := make([]clientKind, 0, cfg.Producers+cfg.Consumers+2)
	for i := 0; i < cfg.Producers; i++ {
		kinds = append(kinds, kindProducer)
	}
	for i := 0; i < cfg.Consumers; i++ {
		kinds = append(kinds, kindConsumer)
	}
	kinds = append(kinds, kindAdmin) // creates the topics: always there
	if cfg.Overload {
		kinds = append(kinds, kindOverload)
	}
	// Group consumers come last, so that the other clients keep their ids
	// (and streams) whether or not a run has groups.
	for i := 0; i < cfg.GroupConsumers; i++ {
		kinds = append(kinds, kindGroup)
	}
	if cfg.GroupConsumers > 0 {
		kinds = append(kinds, kindGroup) // the lag monitor (group.go)
	}
	if cfg.Retention.Enabled {
		kinds = append(kinds, kindRetention) // last: the others keep their ids
	}
	if cfg.Compaction.Enabled {
		kinds = append(kinds, kindCompaction) // after retention, for the same reason
	}
	plain, grouped := 0, 0
	for i, kind := range kinds {
		c := newClient(w, i+1, kind)
		switch kind {
		case kindProducer:
			if i < cfg.IdempotentProducers {
				c.prod = newProducer(c, true, -1)
			} else {
				c.prod = newProducer(c, false, []int16{1, 0, -1}[plain%3])
				plain++
			}
			w.knob(fmt.Sprintf("client%d", c.id), "producer "+c.prod.describe())
		case kindConsumer:
			w.knob(fmt.Sprintf("client%d", c.id), "consumer")
		case kindAdmin:
			w.knob(fmt.Sprintf("client%d", c.id), "admin")
		case kindOverload:
			w.knob(fmt.Sprintf("client%d", c.id), "overload")
		case kindRetention:
			w.knob(fmt.Sprintf("client%d", c.id), "retention")
		case kindCompaction:
			w.knob(fmt.Sprintf("client%d", c.id), "compaction")
		case kindGroup:
			c.grp = newGroupMember(c, grouped)
			grouped++
			w.knob(fmt.Sprintf("client%d", c.id), c.grp.describe())
		}
		w.clients = append(w.clients, c)
		w.after(time.Duration(w.work.between(0, int64(50*time.Millisecond))), "client-start(client)", int64(c.id), 0, 0, c.start)
	}
	for _, f := range cfg.Faults {
		w.scheduleFault(f)
	}
	// At the end of the fault period everything heals, whatever the schedule.
	w.at(int64(cfg.Duration), "heal-all", 0, 0, 0, w.healAll)
	return w
}

// count adds one to a Result.Stats counter.

func (w *World) knob(name string, v any) {
	w.knobs = append(w.knobs, fmt.Sprintf("%s=%v", name, v))
}

// at schedules fn at absolute simulated time t (never in the past). label
// and the numbers a, b, c describe it in the trace.
func (w *World) at(t int64, label string, a, b, c int64, fn func()) {
	if t < w.now {
		t = w.now
	}
	w.seq++
	w.queue.push(event{at: t, seq: w.seq, label: label, a: a, b: b, c: c, fn: fn})
}

func (w *World) after(d time.Duration, label string, a, b, c int64, fn func()) {
	w.at(w.now+int64(d), label, a, b, c, fn)
}

func (w *World) end() int64 { return int64(w.cfg.Duration + w.cfg.Quiet) }

func (w *World) run() {
	w.runUntil(w.end())
	w.now = max(w.now, w.end())
	w.violation = append(w.violation, w.settle()...)
	w.violation = append(w.violation, w.coordinatorLogs()...)
	for _, c := range w.clients {
		c.finish()
	}
}

// runUntil runs every event due at or before t, leaving later ones queued.
func (w *World) runUntil(t int64) {
	for w.queue.Len() > 0 && w.steps <= eventsMax {
		if w.queue.next() > t {
			break
		}
		e := w.queue.pop()
		w.now = e.at
		w.steps++
		if w.steps > eventsMax {
			w.violate("run exceeded %d events at %v: something spins", eventsMax, time.Duration(w.now))
			break
		}
		w.recordEvent(&e)
		if e.delivery != nil {
			w.deliver(e.delivery)
		} else {
			e.fn()
		}
	}
	w.now = max(w.now, t)
}

// stat adds n to one of the run's counters (Result.Stats).
func (w *World) stat(name string, n int) {
	if n != 0 {
		w.stats[name] += n
	}
}

// hashBufBytes is how much trace the world gathers before handing it to the
// hash: SHA-256 is a stream, so the hash of the whole is the same however
// it is cut, and one Write per 4 KiB costs less than one per event.
const hashBufBytes = 4 << 10

// recordEvent adds an event to the trace hash (and file).
func (w *World) recordEvent(e *event) {
	b := w.hashBuf
	b = binary.AppendVarint(b, w.now)
	b = append(b, e.label...)
	b = binary.AppendVarint(b, e.a)
	b = binary.AppendVarint(b, e.b)
	b = binary.AppendVarint(b, e.c)
	w.hashBuf = b
	if len(b) >= hashBufBytes {
		w.flushTrace()
	}
	if w.traceOut != nil {
		fmt.Fprintf(w.traceOut, "%d %s %d %d %d\n", w.now, e.label, e.a, e.b, e.c)
	}
}

func (w *World) flushTrace() {
	w.trace.Write(w.hashBuf)
	w.hashBuf = w.hashBuf[:0]
}

// record adds a notable happening (a crash, a leader change) to the trace.
func (w *World) record(what string) {
	line := fmt.Sprintf("%d %s\n", w.now, what)
	w.hashBuf = append(w.hashBuf, line...)
	if len(w.hashBuf) >= hashBufBytes {
		w.flushTrace()
	}
	if w.traceOut != nil {
		io.WriteString(w.traceOut, line)
	}
}

func (w *World) violate(format string, args ...any) {
	msg := fmt.Sprintf("at %v: ", time.Duration(w.now)) + fmt.Sprintf(format, args...)
	w.record("VIOLATION " + msg)
	if len(w.violation) < 50 {
		w.violation = append(w.violation, msg)
	}
}

func (w *World) node(id uint64) *simNode { return w.nodes[id-1] }

// withNode runs fn as node sn: etcd raft draws election jitter from
// crypto/rand.Reader, so the node's own seeded stream is installed for the
// call and the previous reader restored after.
//
// A panic inside the node (etcd raft panics when it finds its log lost or
// corrupted, for instance) is a failure of the run: it is reported as a
// violation and the node is taken down as a crash would.
func withNode(sn *simNode, fn func()) {
	old := crand.Reader
	crand.Reader = sn.jitter
	defer func() {
		crand.Reader = old
		if r := recover(); r != nil {
			sn.w.violate("node %d panicked: %v", sn.id, r)
			sn.panicked = true
		}
	}()
	fn()
}

// leaderOf returns the node that leads the partition's group, as the nodes
// themselves report, preferring the highest term; 0 if none.
func (w *World) leaderOf(topic string, partition int32) uint64 {
	var best, term uint64
	for _, sn := range w.nodes {
		if !sn.up {
			continue
		}
		for _, st := range sn.n.Status() {
			if st.Topic == topic && st.Partition == partition && st.Leader && st.Term >= term {
				best, term = sn.id, st.Term
			}
		}
	}
	return best
}

func (w *World) metaLeader() uint64 {
	var best, term uint64
	for _, sn := range w.nodes {
		if !sn.up {
			continue
		}
		for _, st := range sn.n.Status() {
			if st.Group == 0 && st.Leader && st.Term >= term {
				best, term = sn.id, st.Term
			}
		}
	}
	return best
}

// liveness checks that after the last fault healed the cluster accepted and
// served writes on every partition of every topic within the quiet period
// (the topic's current incarnation: the admin stops deleting topics before
// the quiet period, and every topic must be live again by its end).
func (w *World) liveness() []string {
	healed := max(w.healedAt, int64(w.cfg.Duration))
	var out []string
	if w.cfg.Producers == 0 || w.cfg.Consumers == 0 {
		return nil
	}
	type seen struct{ wrote, read bool }
	got := map[string]*seen{}
	for _, t := range w.topics {
		if !t.live {
			out = append(out, fmt.Sprintf("liveness: topic %s (incarnation %d) is not live at the end of the run", t.spec.Name, t.inc))
			continue
		}
		for p := int32(0); p < t.spec.Partitions; p++ {
			got[partitionName(t.spec.Name, t.inc, p)] = &seen{}
		}
	}
	for i := range w.history {
		op := &w.history[i]
		s := got[op.Partition]
		if s == nil || !op.OK || op.Call < healed {
			continue
		}
		if op.Kind == checker.Produce {
			s.wrote = true
		} else if len(op.Records) > 0 {
			s.read = true
		}
	}
	for _, t := range w.topics {
		if !t.live {
			continue
		}
		for p := int32(0); p < t.spec.Partitions; p++ {
			name := partitionName(t.spec.Name, t.inc, p)
			if s := got[name]; !s.wrote || !s.read {
				out = append(out, fmt.Sprintf("liveness: %s: after faults healed at %v, within %v: acknowledged write %v, served read with records %v",
					name, time.Duration(healed), time.Duration(w.end()-healed), s.wrote, s.read))
			}
		}
	}
	return out
}

func sortedIDs(m map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
