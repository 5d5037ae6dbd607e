package sim

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/wal"
	"github.com/ketch-dev/ketch/wire"
)

var errInjected = errors.New("sim: injected disk fault")

// simEpoch is what every node's clock reads at simulated time 0, before skew.
var simEpoch = time.Unix(epochOffset, 0)

// simNode hosts one real node.Node: it plays the part node/host plays for
// real, with a simulated clock, disk and network.
type simNode struct {
	w      *World
	id     uint64
	rng    stream
	jitter io.Reader // crypto/rand.Reader while this node runs
	skew   int64
	drift  float64
	// backJumped is how far, in all, clock-jump faults have set this
	// node's clock back (compaction.go's tombstone check).
	backJumped int64

	fs  *wal.MemFS
	log *wal.Log
	n   *node.Node

	up, paused  bool
	dead        bool // panicked: never restarted
	incarnation int
	tickGen     int   // bumped to forget the tick scheduled
	tickSet     bool  // a tick is scheduled, at tickAt
	tickAt      int64 //
	scheduled   bool
	busyUntil   int64
	failNext    string // "sync" or "write": the next such disk operation fails
	clientCut   bool   // a ClientCut fault: client connections go silent
	syncs       int
	tornCrash   float64 // > 0: crash inside the next fsync, keeping this mean share of unsynced sectors
	noSpace     bool    // every write fails with ENOSPC
	damaged     bool    // a fault hit synced data since the node last started cleanly
	// damagedIn names the segments the faults hit while damaged ("" for a
	// misdirected write, whose landing place is not known): Open takes a
	// sealed segment from its index, so damage there stays latent until an
	// entry is read.
	damagedIn []string
	// verifyNext: the node stopped on damage found at read; the operator
	// starts it with a full check of the log (wal.Options.Verify).
	verifyNext bool
	// recover is what the operator passes a wiped node (Config.Recover) on
	// every start until all its groups are repaired.
	recover map[uint64]uint64
	// termsAtCrash is maxTerm when the node last went down: every vote and
	// acknowledgement it gave was in a term at most that.
	termsAtCrash map[uint64]uint64

	panicked bool // a call into the node panicked: take it down
	// rolesStale: the report's roles (World.roles) show the node down or
	// paused; the next invariant check records every group's role anew.
	rolesStale bool
	held       []func() // inputs that arrived while paused
	// processTurn is the loop turn schedule queues (newProcessTurn).
	processTurn func()
	frames      map[node.ConnID]*wire.FrameReader
	conns       map[node.ConnID]*simConn
}

func newSimNode(w *World, id uint64) *simNode {
	sn := &simNode{w: w, id: id, rng: newStream(w.cfg.Seed, fmt.Sprintf("node%d", id))}
	sn.jitter = reader{newStream(w.cfg.Seed, fmt.Sprintf("node%d.raft", id))}
	if w.cfg.Clock.SkewMax > 0 {
		sn.skew = sn.rng.between(-int64(w.cfg.Clock.SkewMax), int64(w.cfg.Clock.SkewMax))
	}
	if w.cfg.Clock.DriftMax > 0 {
		sn.drift = (sn.rng.Float64()*2 - 1) * w.cfg.Clock.DriftMax
	}
	return sn
}

// clock is the node's local wall clock: skewed and drifting.
func (sn *simNode) clock() time.Time { return sn.clockAt(sn.w.now) }

// clockAt is what the node's clock reads at simulated time t.
func (sn *simNode) clockAt(t int64) time.Time {
	local := float64(t)*(1+sn.drift) + float64(sn.skew)
	return simEpoch.Add(time.Duration(local))
}

func (sn *simNode) boot(fs *wal.MemFS) {
	w := sn.w
	sn.fs = fs
	sn.incarnation++
	fs.SetFault(sn.diskFault)
	opts := wal.Options{SegmentBytes: 256 << 10, Verify: sn.verifyNext}
	sn.verifyNext = false
	if b := w.cfg.Bug; wal.PlantsBug(b) {
		opts.Bug = b
	}
	l, err := wal.Open(fs, "wal", opts)
	if err != nil && sn.damaged {
		// The refusal the recovery rule asks for. The operator wipes the
		// disk and starts the node as a recovering replica.
		w.record(fmt.Sprintf("n%d refuses to start: %v", sn.id, err))
		w.stat("disk.refused-to-start", 1)
		if errors.Is(err, wal.ErrIO) {
			w.stat("disk.read-failed", 1)
		}
		sn.wipe()
		fs = sn.fs
		fs.SetFault(sn.diskFault)
		l, err = wal.Open(fs, "wal", opts)
	}
	if err != nil && errors.Is(err, errInjected) {
		// A fault still active (a full disk) keeps it down; a later heal
		// starts it again.
		w.record(fmt.Sprintf("n%d cannot start: %v", sn.id, err))
		return
	}
	if err != nil {
		w.violate("node %d cannot recover its log after a crash: %v", sn.id, err)
		return
	}
	if sn.damaged && sn.latentDamage(l.Unverified()) {
		// The damage may be in a sealed segment Open did not read: it is
		// found when the entry is read, and the node is damaged until then.
		w.record(fmt.Sprintf("n%d starts; the damage may be in a segment Open took from its index", sn.id))
		w.stat("disk.damage-unchecked", 1)
	} else {
		if sn.damaged {
			// Known limit (wal/doc.go): a misdirected last batch looks torn.
			w.record(fmt.Sprintf("n%d starts over damage recovery did not see", sn.id))
			w.stat("disk.damage-not-found", 1)
		}
		sn.damaged = false
		sn.damagedIn = nil
	}
	if v := w.lostAcked(sn, l); v != "" {
		w.violate("node %d restarted without entries it acknowledged: %s", sn.id, v)
	}
	sn.log = l
	peers := make([]uint64, len(w.nodes))
	for i := range w.nodes {
		peers[i] = uint64(i + 1)
	}
	withNode(sn, func() {
		sn.n, err = node.New(node.Config{ID: sn.id, Peers: peers, AdvertisedHost: fmt.Sprintf("node%d", sn.id),
			AdvertisedPort: 9092, Log: l, Incarnation: uint64(sn.incarnation),
			// Snapshot the metadata group often, so that restarts and
			// lagging followers go through snapshots in every run.
			MetaSnapshotEntries: 8, Observer: w.inv.observer(sn.id),
			// Checkpoint partitions often too, so restarts resume from
			// checkpoints in every run.
			CheckpointBytes: 2048,
			// And index only a few batches exactly, so lookups read the
			// log forward from a sparse point in every run.
			IndexTailBatches: 4, IndexIntervalBytes: 1024,
			ProducerIDExpiration: w.producerIDExpiration(), ProducerIDExpirationCheckInterval: 2 * time.Second,
			FetchWaitsMax: w.cfg.FetchWaitsMax, Bug: w.cfg.Bug, Recover: sn.recover,
			OffsetsRetention: w.cfg.OffsetsRetention, OffsetsRetentionCheckInterval: w.offsetsCheckInterval(),
			RetentionCheckInterval: w.cfg.Retention.CheckInterval, BrokerConfigs: w.brokerConfigs(),
			CleanerInterval: w.cfg.Compaction.CleanerInterval,
			// KIP-848 members keep the classic members' session, and
			// heartbeat as often (a third of it).
			ConsumerGroupSessionTimeout: w.cfg.GroupSession, ConsumerGroupHeartbeatInterval: w.cfg.GroupSession / 3})
	})
	if err != nil {
		w.violate("node %d cannot start: %v", sn.id, err)
		return
	}
	// From here on an fsync takes simulated time: it completes when the
	// host says so (process), and a crash before then finds its bytes unsynced.
	fs.SetDeferSync(true)
	sn.up, sn.paused = true, false
	sn.frames = map[node.ConnID]*wire.FrameReader{}
	sn.conns = map[node.ConnID]*simConn{}
	sn.held = nil
	sn.scheduled = false
	sn.processTurn = sn.newProcessTurn()
	w.inv.restarted(sn.id)
	sn.rolesStale = true
	sn.n.Tick(sn.clock())
	sn.startTicks()
}

// diskFault is the node's MemFS fault hook.
func (sn *simNode) diskFault(op, name string) error {
	if sn.noSpace && (op == "write" || op == "create") {
		return fmt.Errorf("%w: no space left on device (ENOSPC)", errInjected)
	}
	if sn.failNext == "sync-drop" && op == "sync" {
		sn.failNext = ""
		return fmt.Errorf("%w: %w", errInjected, wal.ErrDropPages)
	}
	if sn.failNext != "" && op == sn.failNext {
		sn.failNext = ""
		return errInjected
	}
	return nil
}

// wipe is the operator's repair of a node whose log is damaged: an empty
// disk, and a start as a recovering replica of every group, with each
// group's term floor taken from the peers (the highest term any node sent
// a message in up to this node's crash: a vote or acknowledgement it forgot
// was given in a term at most that).
func (sn *simNode) wipe() {
	w := sn.w
	w.stat("disk.wiped", 1)
	sn.fs = wal.NewMemFS()
	sn.recover = map[uint64]uint64{}
	for g, t := range sn.termsAtCrash {
		sn.recover[g] = t
	}
	for k := range w.acked {
		if k[0] == sn.id {
			delete(w.acked, k) // forgotten, and known to be
		}
	}
	sn.damaged = false
	sn.damagedIn = nil
	sn.verifyNext = false
}

// latentDamage: a segment the faults hit is among the unverified ones.
func (sn *simNode) latentDamage(unverified []string) bool {
	for _, name := range sn.damagedIn {
		if name == "" && len(unverified) > 0 || slices.Contains(unverified, name) {
			return true
		}
	}
	return false
}

// checkRepaired ends the operator's repair once every group the node hosts
// (and every group the others host) is repaired.
func (sn *simNode) checkRepaired() {
	if sn.recover == nil || len(sn.n.Recovering()) > 0 {
		return
	}
	mine := map[uint64]bool{}
	for _, st := range sn.n.Status() {
		mine[st.Group] = true
	}
	for _, o := range sn.w.nodes {
		if o == sn || !o.up {
			continue
		}
		for _, st := range o.n.Status() {
			if _, ok := sn.recover[st.Group]; ok && !mine[st.Group] {
				return
			}
		}
	}
	sn.w.stat("disk.repaired", 1)
	sn.w.record(fmt.Sprintf("n%d repaired", sn.id))
	sn.recover = nil
}

// Ticks. A node is ticked when it asks to be (node.Node.NextTick: its next
// raft tick, or an earlier deadline of something it holds), not on a fixed
// cadence, so an idle node costs one event per raft tick; and every input
// ticks it first, so a request's deadline counts from when it arrived.

// startTicks (re)starts the node's ticks after a boot, a pause or a clock
// step: the tick already scheduled, if any, is forgotten.
func (sn *simNode) startTicks() {
	sn.tickGen++
	sn.tickSet = false
	sn.planTick()
}

// planTick schedules the node's next Tick for when it asks, unless one is
// due by then already. Called after every call into the node.
func (sn *simNode) planTick() {
	if !sn.up || sn.paused || sn.n == nil {
		return
	}
	at := sn.simTimeAt(sn.n.NextTick())
	if sn.tickSet && sn.tickAt <= at {
		return
	}
	sn.tickGen++
	gen := sn.tickGen
	sn.tickSet, sn.tickAt = true, at
	sn.w.at(at, "tick(node)", int64(sn.id), 0, 0, func() {
		if !sn.up || sn.paused || gen != sn.tickGen {
			return // superseded by an earlier one, or the node went down
		}
		sn.tickSet = false
		withNode(sn, func() { sn.n.Tick(sn.clock()) })
		if sn.takeDownIfPanicked() {
			return
		}
		sn.schedule()
		sn.planTick()
	})
}

// simTimeAt is the first simulated time (not before now) at which the node's
// clock reads at least local.
func (sn *simNode) simTimeAt(local time.Time) int64 {
	w := sn.w
	if local.IsZero() {
		return w.now
	}
	var t int64
	if sn.drift == 0 {
		t = int64(local.Sub(simEpoch)) - sn.skew // exact: what the float path gives
	} else {
		t = int64(math.Ceil((float64(local.Sub(simEpoch)) - float64(sn.skew)) / (1 + sn.drift)))
	}
	if t <= w.now {
		return w.now
	}
	for i := 0; i < 64 && sn.clockAt(t).Before(local); i++ {
		t++ // float rounding
	}
	return t
}

// input runs fn against the node now, or after a pause ends.
func (sn *simNode) input(fn func()) {
	if !sn.up {
		return
	}
	if sn.paused {
		if len(sn.held) < 100_000 {
			sn.held = append(sn.held, fn)
		}
		return
	}
	withNode(sn, func() {
		sn.n.Tick(sn.clock()) // so that what fn hands over is timed from now
		fn()
	})
	if sn.takeDownIfPanicked() {
		return
	}
	sn.schedule()
	sn.planTick()
}

// step is input for a peer message, with no closure to allocate unless
// the node is paused.
func (sn *simNode) step(pm node.PeerMessage) {
	if !sn.up {
		return
	}
	if pm.Group != 0 && pm.Msg != nil && pm.Msg.GetType() == raftpb.MessageType_MsgSnap {
		// A follower behind its leader's first index (the log start's
		// compaction, part_snapshot.go) installs the partition's state.
		sn.w.stat("raft.partition-snapshots-delivered", 1)
	}
	if sn.paused {
		sn.input(func() { sn.n.Step(pm) })
		return
	}
	withNode(sn, func() { sn.n.Step(pm) })
	if sn.takeDownIfPanicked() {
		return
	}
	sn.schedule()
}

// takeDownIfPanicked crashes a node whose code panicked; it stays down (a
// restart would likely panic again and flood the report).
func (sn *simNode) takeDownIfPanicked() bool {
	if !sn.panicked {
		return false
	}
	sn.panicked = false
	sn.crash(0, "panic")
	sn.dead = true
	sn.w.stat("node.panicked", 1)
	return true
}

// hostLoopTime is the simulated CPU time of one turn of the host's event
// loop from its first input to Process: node/host takes an input, drains
// whatever else has queued meanwhile, and calls Process once. A real loop is
// never instant (frames are decoded, raft stepped, Process applies and
// encodes answers), so inputs arriving within this window are processed
// together, as on the real host, instead of one Process call each.
const hostLoopTime = 100 * time.Microsecond

// schedule asks for a Process call once the inputs of the loop's turn are
// in (hostLoopTime after the first, or once the disk finished the previous
// sync): what arrives together is processed together, which is how the real
// host gets group commit.
func (sn *simNode) schedule() {
	if sn.scheduled || !sn.up || sn.paused {
		return
	}
	sn.scheduled = true
	sn.w.at(max(sn.w.now+int64(hostLoopTime), sn.busyUntil), "process(node)", int64(sn.id), 0, 0, sn.processTurn)
}

// newProcessTurn makes the event schedule queues for this incarnation (one
// closure per boot, not one per loop turn): a turn queued by an earlier
// incarnation does nothing.
func (sn *simNode) newProcessTurn() func() {
	inc := sn.incarnation
	return func() {
		if inc != sn.incarnation {
			return
		}
		sn.scheduled = false
		sn.process()
	}
}

func (sn *simNode) process() {
	w := sn.w
	if !sn.up || sn.paused {
		return
	}
	out, err := sn.callProcess()
	if sn.takeDownIfPanicked() {
		return
	}
	if err != nil {
		w.record(fmt.Sprintf("n%d stopped: %v", sn.id, err))
		w.stat("node.stopped-on-disk-error", 1)
		// Damage a fault left in a sealed segment, found when an entry was
		// read: the next start checks the whole log, which refuses it.
		foundAtRead := sn.damaged && (errors.Is(err, wal.ErrCorrupt) || errors.Is(err, wal.ErrIO))
		if foundAtRead {
			w.stat("disk.found-at-read", 1)
			sn.verifyNext = true
		}
		if !errors.Is(err, errInjected) && !foundAtRead {
			w.violate("node %d stopped on an error no fault caused: %v", sn.id, err)
		}
		sn.crash(w.cfg.Disk.KeepUnsynced, roleStoppedWhy)
		return
	}
	sn.planTick()
	w.inv.check(sn)
	sn.checkRepaired()
	// The node called Sync and went on, but the disk completes each fsync
	// only after its latency, one after the other. The outputs depend on
	// them: they leave when the last one completes, and never if the node
	// crashed first.
	inc := sn.incarnation
	syncs := sn.fs.InFlight()
	var delay int64
	for i := 0; i < syncs; i++ {
		delay += w.disk.exp(int64(w.cfg.Disk.SyncLatencyMean))
		last := i == syncs-1
		w.at(w.now+delay, "sync-done(node)", int64(sn.id), 0, 0, func() {
			if inc != sn.incarnation {
				return
			}
			sn.fs.CompleteSync()
			if last {
				w.inv.synced(sn.id)
				sn.release(out)
			}
		})
	}
	sn.busyUntil = w.now + delay
	if syncs == 0 {
		sn.release(out) // no closure: nothing waits
	} else if keep := sn.tornCrash; keep > 0 {
		sn.tornCrash = 0
		w.at(w.now+w.disk.between(0, delay), "torn-crash(node)", int64(sn.id), 0, 0, func() {
			if inc == sn.incarnation {
				sn.crash(keep, "fault during an fsync, unsynced sectors partly kept")
			}
		})
	}
}

// callProcess runs the node's Process (its results stay on the stack).
func (sn *simNode) callProcess() (out node.Output, err error) {
	withNode(sn, func() { out, err = sn.n.Process() })
	return out, err
}

// release sends what a Process returned, once its fsyncs completed.
func (sn *simNode) release(out node.Output) {
	w := sn.w
	var commitCrash *simConn
	if w.commitCrash {
		commitCrash = sn.commitCrashFires(&out)
	}
	if len(out.Messages) > 0 {
		w.sendPeers(sn.id, out.Messages)
	}
	for _, r := range out.Responses {
		if c := sn.conns[r.Conn]; c != nil {
			w.toClient(c, r.Data, r.Close, 0)
		}
	}
	if len(out.Messages)+len(out.Responses) > 0 {
		w.recordEvent(&event{label: "output(node,msgs,resps)", a: int64(sn.id), b: int64(len(out.Messages)), c: int64(len(out.Responses))})
	}
	if commitCrash != nil {
		sn.afterCommitCrash(commitCrash)
		return
	}
	if w.ackCrash && len(out.Responses) > 0 && sn.holdsSoleReplica() {
		w.ackCrash = false
		w.crashAfterAck(sn.id)
	}
}

// crash stops the node as a power loss would: the disk keeps what was
// synced, plus a share of what was not.
func (sn *simNode) crash(keepMean float64, why string) {
	w := sn.w
	if !sn.up {
		return
	}
	w.record(fmt.Sprintf("n%d crash (%s)", sn.id, why))
	w.inv.crashed(sn.id)
	sn.up = false
	if why == roleStoppedWhy {
		w.roles.nodeState(w.now, sn.id, RoleStopped)
	} else {
		w.roles.nodeState(w.now, sn.id, RoleDown)
	}
	sn.tornCrash = 0
	sn.termsAtCrash = make(map[uint64]uint64, len(w.maxTerm))
	for g, t := range w.maxTerm {
		sn.termsAtCrash[g] = t
	}
	sn.incarnation++
	sn.closeConns()
	w.stat("crash", 1)
	if sn.fs.InFlight() > 0 {
		w.stat("crash.during-fsync", 1)
	}
	// Each file keeps each unsynced sector with its own drawn share.
	var file string
	var share float64
	kept, lost := 0, 0
	sn.fs = sn.fs.Crash(func(name string, sector int) bool {
		if name != file {
			file = name
			share = min(1, w.disk.Float64()*2*keepMean)
		}
		if keepMean > 0 && w.disk.Float64() < share {
			kept++
			return true
		}
		lost++
		return false
	})
	if kept+lost > 0 {
		w.stat("crash.unsynced", 1)
	}
	if kept > 0 && lost > 0 {
		w.stat("crash.torn", 1)
	}
	sn.n, sn.log = nil, nil
}

func (sn *simNode) restart() {
	if sn.up || sn.dead {
		return
	}
	sn.w.record(fmt.Sprintf("n%d restart", sn.id))
	sn.w.stat("node.restart", 1)
	sn.boot(sn.fs)
}

func (sn *simNode) pause() {
	if sn.up && !sn.paused {
		sn.paused = true
		sn.w.record(fmt.Sprintf("n%d pause", sn.id))
		sn.w.roles.nodeState(sn.w.now, sn.id, RolePaused)
	}
}

func (sn *simNode) resume() {
	if !sn.up || !sn.paused {
		return
	}
	sn.paused = false
	sn.rolesStale = true
	sn.w.record(fmt.Sprintf("n%d resume", sn.id))
	held := sn.held
	sn.held = nil
	for _, fn := range held {
		withNode(sn, fn)
	}
	withNode(sn, func() { sn.n.Tick(sn.clock()) })
	sn.startTicks()
	sn.schedule()
}

// healClientCut ends a ClientCut: the connections that went silent are
// closed (their peers have given up on them or will), new ones work.
func (sn *simNode) healClientCut() {
	if !sn.clientCut {
		return
	}
	sn.clientCut = false
	ids := make([]node.ConnID, 0, len(sn.conns))
	for id, c := range sn.conns {
		if c.blackholed {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		sn.w.cutConn(sn.conns[id])
	}
}

func (sn *simNode) closeConns() {
	ids := make([]node.ConnID, 0, len(sn.conns))
	for id := range sn.conns {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		sn.w.cutConn(sn.conns[id])
	}
}

// The peer network. node/host queues each message as its own frame and its
// writer puts whatever is queued for a peer into one TCP write (peer.go), so
// the messages one Process hands one peer travel together: the simulator
// carries them as one frame, one event, that the network's faults drop,
// duplicate, delay or hold back whole, and a cut link loses whole, as a TCP
// connection would. Each message is still copied (no memory shared between
// nodes; peercopy.go) and counted against the link's queue bounds.
//
// peerQueueMax is node/host's bound on the messages queued for one peer;
// linkQueuedBytesMax bounds their bytes (entries and snapshot data), which
// keeps a run's memory bounded when a broken replica makes raft resend
// large appends without end.
const (
	peerQueueMax       = 1 << 16
	linkQueuedBytesMax = 64 << 20
)

// linkLoad is what a directed link carries on the way.
type linkLoad struct{ msgs, bytes int }

// msgBytes is the payload a peer message carries.
func msgBytes(m node.PeerMessage) int {
	n := len(m.Forward)
	if m.Msg != nil {
		for _, e := range m.Msg.GetEntries() {
			n += len(e.GetData())
		}
		n += len(m.Msg.GetSnapshot().GetData())
	}
	return n
}

// sendPeers sends what one Process returned for the peers: each message
// noted (notePeer) in the order the node sent them, then one frame per
// peer, in the order of the peers' ids.
func (w *World) sendPeers(from uint64, msgs []node.PeerMessage) {
	w.frameRaw = w.frameRaw[:0]
	w.frameOK = w.frameOK[:0]
	for i := range msgs {
		b, ok := w.notePeer(from, msgs[i])
		w.frameRaw = append(w.frameRaw, b)
		w.frameOK = append(w.frameOK, ok)
	}
	for to := uint64(1); to <= uint64(len(w.nodes)); to++ {
		w.frameIdx = w.frameIdx[:0]
		for i := range msgs {
			if msgs[i].To == to && w.frameOK[i] {
				w.frameIdx = append(w.frameIdx, i)
			}
		}
		if len(w.frameIdx) > 0 {
			w.sendFrame(from, to, msgs)
		}
	}
}

// notePeer is what the world learns from a message as it leaves (the disk
// recovery rule's term floor and acknowledgements, the snap-crash fault),
// and its bytes with Config.MarshalPeers; false if it cannot be marshalled.
func (w *World) notePeer(from uint64, m node.PeerMessage) ([]byte, bool) {
	to := m.To
	if to == 0 || int(to) > len(w.nodes) || m.Msg == nil {
		return nil, true
	}
	// The term floor counts terms a node may have voted or acknowledged
	// in. A pre-vote (and its answer) carries a term nobody has entered
	// yet: counting it would set a wiped node's floor above a leader that
	// keeps its term, and the node would drop that leader's appends forever.
	if t, typ := m.Msg.GetTerm(), m.Msg.GetType(); t > w.maxTerm[m.Group] &&
		typ != raftpb.MessageType_MsgPreVote && typ != raftpb.MessageType_MsgPreVoteResp {
		w.maxTerm[m.Group] = t
	}
	if m.Msg.GetType() == raftpb.MessageType_MsgSnap {
		w.snapSent[[2]uint64{to, m.Group}] = m.Msg.GetSnapshot().GetMetadata().GetIndex()
		if m.Group != 0 {
			w.stat("raft.partition-snapshots-sent", 1)
		}
	}
	if m.Msg.GetType() == raftpb.MessageType_MsgAppResp && !m.Msg.GetReject() && w.snapCrash {
		k := [2]uint64{from, m.Group}
		if idx, ok := w.snapSent[k]; ok && m.Msg.GetIndex() >= idx {
			delete(w.snapSent, k)
			w.snapCrash = false
			w.crashAfterSnapshotAck(from)
		}
	}
	if m.Msg.GetType() == raftpb.MessageType_MsgAppResp && !m.Msg.GetReject() {
		// Entries acknowledged that had already committed somewhere
		// are never removed from this log: raft truncates only above
		// the commit index.
		k := [2]uint64{from, m.Group}
		committed := uint64(max(0, len(w.inv.applied[m.Group])-1))
		w.acked[k] = max(w.acked[k], min(m.Msg.GetIndex(), committed))
	}
	if !w.cfg.MarshalPeers {
		return nil, true
	}
	b, err := proto.Marshal(m.Msg)
	if err != nil {
		w.violate("n%d: cannot marshal a raft message: %v", from, err)
		return nil, false
	}
	return b, true
}

// sendFrame carries msgs[w.frameIdx...] (all to one peer) through the
// simulated network as one frame: delayed, maybe lost, duplicated or held
// back, and dropped on a cut link.
func (w *World) sendFrame(from, to uint64, msgs []node.PeerMessage) {
	n := len(w.frameIdx)
	loss := w.cfg.Net.Loss + w.chaos.Loss
	dup := w.cfg.Net.Dup + w.chaos.Dup
	reorder := w.cfg.Net.Reorder + w.chaos.Reorder
	if len(w.cut) > 0 && w.cut[[2]uint64{from, to}] { // no hashing while no link is cut
		w.msgsCut += n
		return
	}
	if w.net.chance(loss) {
		w.msgsLost += n
		return
	}
	copies := 1
	if w.net.chance(dup) {
		copies = 2
		w.msgsDuped += n
	}
	link := &w.linkQueued[int(from)*(len(w.nodes)+1)+int(to)]
	for c := 0; c < copies; c++ {
		d := w.newDelivery()
		d.link, d.from, d.to = link, from, to
		for _, i := range w.frameIdx {
			m := msgs[i]
			size := msgBytes(m)
			// A link holds at most peerQueueMax messages on their way, as
			// node/host's peer queue does: past it the message is dropped and
			// the sender's raft told the peer is unreachable. (A replica whose
			// answers each provoke more than one message, a broken log with
			// duplicated answers, would otherwise grow the queue without end.)
			if link.msgs >= peerQueueMax || link.bytes >= linkQueuedBytesMax {
				w.msgsQueueFull++
				if sn := w.node(from); sn.up && !sn.paused {
					withNode(sn, func() { sn.n.ReportUnreachable(to) })
					sn.schedule()
				}
				continue
			}
			link.msgs, link.bytes = link.msgs+1, link.bytes+size
			// Each delivery gets its own message, taken now (peercopy.go), and
			// its own bytes of a forwarded proposal and liveness heartbeat.
			pm := peerMsg{size: size, group: m.Group, quiesce: m.Quiesce, raw: w.frameRaw[i], isMsg: m.Msg != nil}
			if m.Msg != nil && !w.cfg.MarshalPeers {
				pm.own = copyMessage(m.Msg)
			}
			if m.Alive != nil {
				pm.alive, pm.hasAlive = *m.Alive, true
			}
			if m.Forward != nil {
				pm.forward = append([]byte(nil), m.Forward...)
			}
			d.msgs = append(d.msgs, pm)
			d.bytes += size
		}
		if len(d.msgs) == 0 {
			w.freeDelivery(d)
			continue
		}
		lat := w.latency()
		if w.net.chance(reorder) {
			lat += w.net.between(0, 10*int64(w.cfg.Net.LatencyMean+w.cfg.Net.LatencyMin))
		}
		w.seq++
		w.queue.push(event{at: w.now + lat, seq: w.seq, label: "deliver(msgs,bytes,from->to)",
			a: int64(len(d.msgs)), b: int64(d.bytes), c: int64(from*100 + to), delivery: d})
	}
}

// delivery is one frame of peer messages on its way: the event carries it
// instead of a closure, and the world reuses it (and its slice) once
// delivered (a run delivers about as many frames as it has events of every
// other kind together).
type delivery struct {
	link     *linkLoad
	from, to uint64
	bytes    int
	msgs     []peerMsg
}

// peerMsg is one message of a frame.
type peerMsg struct {
	size     int
	group    uint64
	isMsg    bool
	own      *raftpb.Message // the receiver's copy (nil with MarshalPeers)
	raw      []byte          // the marshalled message (MarshalPeers)
	forward  []byte
	alive    node.Alive
	hasAlive bool
	quiesce  bool
}

func (w *World) newDelivery() *delivery {
	if n := len(w.deliveries); n > 0 {
		d := w.deliveries[n-1]
		w.deliveries = w.deliveries[:n-1]
		return d
	}
	return new(delivery)
}

// freeDelivery returns d to the free list, holding on to nothing a node got.
func (w *World) freeDelivery(d *delivery) {
	clear(d.msgs)
	*d = delivery{msgs: d.msgs[:0]}
	w.deliveries = append(w.deliveries, d)
}

// deliver hands a frame's messages to their receiver, in order, and the
// delivery back to the world's free list (nothing refers to it any more:
// the messages, the forwarded bytes and the heartbeats went to the node).
func (w *World) deliver(d *delivery) {
	defer w.freeDelivery(d)
	from, to := d.from, d.to
	d.link.msgs, d.link.bytes = d.link.msgs-len(d.msgs), d.link.bytes-d.bytes
	if len(w.cut) > 0 && w.cut[[2]uint64{from, to}] {
		w.msgsCut += len(d.msgs)
		return
	}
	dst := w.node(to)
	for i := range d.msgs {
		w.deliverOne(dst, to, &d.msgs[i])
	}
}

func (w *World) deliverOne(dst *simNode, to uint64, pm *peerMsg) {
	if pm.hasAlive {
		a := pm.alive // each delivery its own
		dst.step(node.PeerMessage{To: to, Alive: &a})
		return
	}
	if !pm.isMsg {
		forward, group := pm.forward, pm.group
		dst.input(func() { dst.n.Step(node.PeerMessage{Group: group, To: to, Forward: forward}) })
		return
	}
	msg := pm.own
	if msg == nil {
		msg = new(raftpb.Message)
		if err := proto.Unmarshal(pm.raw, msg); err != nil {
			w.violate("n%d: cannot unmarshal a raft message: %v", to, err)
			return
		}
	}
	dst.step(node.PeerMessage{Group: pm.group, To: to, Msg: msg, Quiesce: pm.quiesce})
}

// crashAfterSnapshotAck takes a node down once the acknowledgement of a
// snapshot it installed has left, and brings it back a second later.
func (w *World) crashAfterSnapshotAck(id uint64) {
	w.crashAfterOutput(id, "snap-crash(node)", "crash.after-snapshot-ack", "power loss right after acknowledging a snapshot")
}

// crashAfterAck takes a node down once its answers have left, and brings it
// back a second later.
func (w *World) crashAfterAck(id uint64) {
	w.crashAfterOutput(id, "ack-crash(node)", "crash.after-ack", "power loss right after answering its clients")
}

// crashAfterOutput loses power on a node right after the output being
// released (the event runs after it), unless that incarnation is already
// down, and restarts it a second later.
func (w *World) crashAfterOutput(id uint64, label, stat, why string) {
	sn := w.node(id)
	inc := sn.incarnation
	w.at(w.now, label, int64(id), 0, 0, func() {
		if !sn.up || sn.incarnation != inc {
			return
		}
		w.stat(stat, 1)
		sn.crash(0, why)
		w.after(time.Second, "restart(node)", int64(id), 0, 0, sn.restart)
	})
}

func (w *World) latency() int64 {
	return int64(w.cfg.Net.LatencyMin) + w.net.exp(int64(w.cfg.Net.LatencyMean))
}

// producerIDExpiration is the nodes' producer.id.expiration: short enough
// that producers replaced by a bump or a restart expire within a run, above
// an idempotent producer's delivery timeout plus a request's (a producer
// retrying a batch is never forgotten: its retry would be appended again,
// as with Kafka), and only
// where the clocks are true (a fast leader clock expires early, as Kafka's
// would); otherwise Kafka's day.
func (w *World) producerIDExpiration() time.Duration {
	if w.cfg.Clock.SkewMax != 0 || w.cfg.Clock.DriftMax != 0 {
		return 0
	}
	for _, f := range w.cfg.Faults {
		if f.Kind == ClockJump && f.Jump > 0 {
			return 0
		}
	}
	return time.Duration(deliveryTimeout+requestTimeout) + 2*time.Second
}
