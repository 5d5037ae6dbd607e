package node

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ketch-dev/ketch/wal"
	"github.com/ketch-dev/ketch/wire"
)

// Limits. Everything a client or a peer can make the node hold is bounded.
const (
	connSlotsMax         = 1024     // requests in flight on one connection
	pendingProposalsMax  = 1 << 16  // proposals awaiting apply, node-wide
	fetchWaitsMaxDefault = 1 << 14  // fetches parked or confirming, node-wide (Config.FetchWaitsMax)
	ticksPerCallMax      = 5        // a long pause does not fire a burst of elections
	processRoundsMax     = 8        // Ready rounds per Process call
	raftMsgBytesMax      = 1 << 20  // raft MaxSizePerMsg
	raftInflightMsgs     = 256      // raft MaxInflightMsgs
	raftUncommittedBytes = 64 << 20 // raft MaxUncommittedEntriesSize
	raftCommittedBytes   = 16 << 20 // raft MaxCommittedSizePerReady
)

// ErrStopped is returned by Process after the node stopped on a disk error.
var ErrStopped = errors.New("node: stopped after a storage error")

// Node is the sans-IO broker core. See the package comment for how it is driven.
type Node struct {
	cfg    Config
	logger *slog.Logger
	log    *wal.Log
	voters []uint64 // the metadata group's voters (the cluster's brokers), sorted
	err    error

	now      time.Time
	lastTick time.Time

	groups     map[uint64]*group
	groupOrder []uint64 // sorted keys of groups: Ready is always gathered in this order
	meta       *metaState
	parts      map[uint64]*partState // by group

	// active are the groups that may have a Ready: every call into a
	// group's raft adds it (touch), and Process drops it once it has none,
	// so Process looks at the groups that changed, not at every group.
	active []*group
	// awake are the groups Tick ticks: every group but the quiesced ones
	// (quiesce.go), in group order once sorted (awakeUnsorted: some were
	// added since). live is each peer's liveness, by node id.
	awake []*group
	// changed are the groups touched since AppendChangedStatus last looked.
	changed       []*group
	awakeUnsorted bool
	live          map[uint64]*peerLiveness
	// barrierGroups are the groups with fetches queued for a barrier.
	barrierGroups, barrierSpare []*group

	conns     map[ConnID]*conn
	dirty     map[ConnID]bool
	nextReqID uint64
	pending   map[uint64]*proposal
	fetches   int // parked or waiting fetches, for the limit
	// handling is the connection whose request is being dispatched: the
	// proposals it makes answer that connection, and are dropped if it
	// closes (the entry may still commit; only the answer goes).
	handling *conn
	slotFix  func(kmsg.Response) // for the slot of the request being dispatched
	creating map[string]bool
	reportAt time.Time // when maybeReport may send reports again
	// bugProducers is BugProducerStateLeaderOnly's sequence table, per
	// partition group: in this node's memory, filled by the produce handler
	// when a proposal is answered, never replicated.
	bugProducers map[uint64]map[int64]*producerState
	// reportDue is when maybeReport may next have something to send (zero:
	// not before something else calls Process), for NextTick.
	reportDue time.Time
	// reportCheck: something maybeReport looks at (leadership, terms, the
	// metadata state, the groups hosted) may have changed since it last
	// looked, or it sent reports that may be lost.
	reportCheck bool
	// reportOwed are the groups whose leadership report maybeReport must
	// look at (reportGroup); reportAll: every group (a metadata snapshot
	// replaced the record).
	reportOwed []*group
	reportAll  bool

	out Output

	// syncOwed and heldMsgs plant BugApplyBeforePersist: the sync a Process
	// call skipped, and the messages that must wait for it.
	syncOwed bool
	heldMsgs []PeerMessage

	// Deadlines of the proposals and fetches held (deadlines.go).
	pendingTimers, fetchTimers timerHeap
	timerSeq                   uint64
	// Broker sessions (broker_sessions.go): when each peer was last heard
	// in the metadata group, since when this node leads it, and when it
	// last proposed (un)fencing each peer.
	peerHeard, fenceProposedAt map[uint64]time.Time
	metaLeaderSince            time.Time
	// coordTimers are the group coordinator's (coordinator.go).
	coordTimers timerHeap
	// offsetsCheckAt is when the coordinator next looks for expired
	// offsets (offsets_expiry.go).
	offsetsCheckAt time.Time
	// retentionCheckAt is when the partition leaders next look for
	// batches past retention (retention.go).
	retentionCheckAt time.Time
	// cleanerCheckAt is when the partition leaders next look for logs
	// to compact (compaction.go).
	cleanerCheckAt time.Time
	// producersCheckAt is when partition leaders next look for expired
	// producers (producer_expiry.go).
	producersCheckAt time.Time
	memberSeq        uint64 // for newMemberID
	// handlingClient is the client id of the request being dispatched.
	handlingClient string
	graceRecheck   []*fetchWait // see expireFetches

	// Buffers reused from one call to the next (see buildFetch, fill and
	// Process).
	fetchBuf, encBuf []byte
	readies          []ready
	laterApps        map[appKey]appMark // mergeAppends' scratch (appends.go)

	// heldApps are commit-only MsgApps held back until heldUntil, for a
	// MsgApp with entries to carry their commit instead (appends.go).
	heldApps  []PeerMessage
	heldUntil time.Time

	// early are the raft messages held for groups not created yet (early.go).
	early earlyMsgs
}

// ready is one group's Ready being processed.
type ready struct {
	g  *group
	rd raft.Ready
}

// New opens the node's raft groups from its log and returns a node ready to be
// driven. Groups found in the log restart from their persisted state; a fresh
// log bootstraps the metadata group with the configured voters.
func New(cfg Config) (*Node, error) {
	if cfg.ID == 0 {
		return nil, errors.New("node: Config.ID must be > 0")
	}
	if cfg.Log == nil {
		return nil, errors.New("node: Config.Log is required")
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.ElectionTicks <= 0 {
		cfg.ElectionTicks = 10
	}
	if cfg.HeartbeatTicks <= 0 {
		// A leader heartbeats every 300ms, a third of the shortest election
		// timeout (TiKV's ratio is a fifth). Every tick, a busy partition's
		// heartbeats and their answers were most of a loaded cluster's peer
		// messages (1,000 partitions, 1 KiB records: 372k of 432k), though
		// failure detection does not need them: a follower's election
		// timeout is ElectionTicks either way, and idle groups quiesce
		// behind the per-tick Alive. ReadIndex heartbeats leave at once.
		cfg.HeartbeatTicks = 3
	}
	if err := prepareBrokerConfigs(&cfg); err != nil {
		return nil, err
	}
	if cfg.MessageMaxBytes <= 0 {
		cfg.MessageMaxBytes = 1048588
	}
	if cfg.FrameBytesMax <= 0 {
		cfg.FrameBytesMax = wire.FrameBytesMaxDefault
	}
	if cfg.AutoCreateTopics == nil {
		t := true
		cfg.AutoCreateTopics = &t
	}
	if cfg.CheckpointBytes <= 0 {
		cfg.CheckpointBytes = checkpointBytesDefault
	}
	if cfg.IndexTailBatches <= 0 {
		cfg.IndexTailBatches = indexTailBatchesDefault
	}
	if cfg.IndexIntervalBytes <= 0 {
		cfg.IndexIntervalBytes = indexIntervalBytesDefault
	}
	if cfg.MetaSnapshotEntries <= 0 {
		cfg.MetaSnapshotEntries = metaSnapshotEntriesDefault
	}
	if cfg.FetchWaitsMax <= 0 {
		cfg.FetchWaitsMax = fetchWaitsMaxDefault
	}
	if cfg.DefaultPartitions <= 0 {
		cfg.DefaultPartitions = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OffsetsPartitions <= 0 {
		cfg.OffsetsPartitions = offsetsPartitionsDefault
	}
	switch {
	case cfg.GroupInitialRebalanceDelay == 0:
		cfg.GroupInitialRebalanceDelay = groupInitialRebalanceDelayDefault
	case cfg.GroupInitialRebalanceDelay < 0:
		cfg.GroupInitialRebalanceDelay = 0
	}
	if cfg.GroupMinSessionTimeout <= 0 {
		cfg.GroupMinSessionTimeout = groupMinSessionTimeoutDefault
	}
	if cfg.GroupMaxSessionTimeout <= 0 {
		cfg.GroupMaxSessionTimeout = groupMaxSessionTimeoutDefault
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = offsetsRetentionDefault
	}
	if cfg.OffsetsRetentionCheckInterval <= 0 {
		cfg.OffsetsRetentionCheckInterval = offsetsRetentionCheckDefault
	}
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = retentionCheckDefault
	}
	if cfg.CleanerInterval <= 0 {
		cfg.CleanerInterval = cleanerIntervalDefault
	}
	if cfg.ProducerIDExpiration <= 0 {
		cfg.ProducerIDExpiration = producerIDExpirationDefault
	}
	if cfg.ProducerIDExpirationCheckInterval <= 0 {
		cfg.ProducerIDExpirationCheckInterval = producerIDExpirationCheckDefault
	}
	if cfg.Bug != "" && !slices.Contains(Bugs(), cfg.Bug) && !slices.Contains(unlistedBugs, cfg.Bug) {
		return nil, fmt.Errorf("node: unknown bug %q (have %v)", cfg.Bug, Bugs())
	}
	voters := append([]uint64(nil), cfg.Peers...)
	if len(voters) == 0 {
		voters = []uint64{cfg.ID}
	}
	slices.Sort(voters)
	found := false
	for i, v := range voters {
		if i > 0 && voters[i-1] == v {
			return nil, fmt.Errorf("node: peer %d listed twice", v)
		}
		found = found || v == cfg.ID
	}
	if !found {
		return nil, fmt.Errorf("node: this node (%d) is not among the peers %v", cfg.ID, voters)
	}
	n := &Node{
		cfg:         cfg,
		logger:      cfg.Logger.With("node", cfg.ID),
		log:         cfg.Log,
		voters:      voters,
		groups:      map[uint64]*group{},
		meta:        newMetaState(),
		parts:       map[uint64]*partState{},
		conns:       map[ConnID]*conn{},
		dirty:       map[ConnID]bool{},
		pending:     map[uint64]*proposal{},
		creating:    map[string]bool{},
		reportCheck: true,
		live:        map[uint64]*peerLiveness{},
	}
	for _, v := range voters {
		if v != cfg.ID {
			n.live[v] = &peerLiveness{}
		}
	}
	if err := n.addGroup(metaGroup, voters, nil); err != nil {
		return nil, err
	}
	// The metadata snapshot (if the log was compacted) is the state the
	// remaining entries replay on; it also says which partition groups this
	// node hosts.
	if snap, err := n.groups[metaGroup].st.Snapshot(); err == nil && !raft.IsEmptySnap(snap) {
		if err := n.restoreMeta(snap.GetData()); err != nil {
			return nil, fmt.Errorf("node: metadata snapshot at index %d: %w", snap.GetMetadata().GetIndex(), err)
		}
	}
	if n.err != nil {
		return nil, n.err
	}
	return n, nil
}

// group is one raft group on this node: the metadata group or a partition.
type group struct {
	id      uint64
	rn      *raft.RawNode
	st      *wal.Storage
	part    *partState // nil for the metadata group
	voters  []uint64
	applied uint64

	lead      uint64
	leader    bool
	term      uint64 // the term of the last SoftState/HardState seen
	readyTerm uint64 // a leader serves once an entry of its own term applied
	campaign  bool   // the preferred replica of a new group (or a sole voter): campaign at once
	// recovering: this replica may have lost votes and entries it gave (its
	// log was wiped). Until it applies an entry of a term above
	// recoverFloor it neither votes, campaigns nor serves (Config.Recover).
	recovering   bool
	recoverFloor uint64
	// awaitMeta: a partition whose only voter is this node, created while
	// the node's metadata group is recovering (its log was wiped and is
	// replaying the metadata history): neither ticked nor campaigning until
	// the metadata group is repaired (startHeldSoleVoters).
	awaitMeta bool
	snapIndex uint64 // index of the group's last snapshot
	// placed: a partition's state already holds every entry through this
	// index (restored from a snapshot of a later state than its index), so
	// those entries are not applied again (checkpoint.go).
	placed uint64
	// sinceCkpt counts the bytes of entries applied since the last
	// checkpoint; ckptBytes is that checkpoint's size.
	sinceCkpt, ckptBytes int
	// compactDue: a log start entry just moved the start, and storage is
	// compacted after it (retention.go); retentionPending: this leader's
	// retention proposal has not yet applied or failed.
	compactDue, retentionPending bool
	// cleanPending: this leader's compaction proposal is in flight
	// (compaction.go).
	cleanPending bool
	// seg is this replica's active segment (segments.go).
	seg       activeSegment
	epoch     uint64 // planted BugEpochNotTerm: this broker's leader epoch counter
	confState *raftpb.ConfState
	// campaignedAt counts ticks since the first campaign: peers that had not
	// created the group yet dropped its votes, so it campaigns again, at 3,
	// 6, 12 and 24 ticks, until some leader is known.
	campaignedAt int
	// quorumTicks counts a leader's ticks toward its next check-quorum
	// round (quiesce.go liveQuorumActive).
	quorumTicks int
	inActive    bool // in Node.active
	// quiesced: not ticked (quiesce.go); quiescing: a leader whose next
	// heartbeat asks its followers to quiesce. inAwake: in Node.awake.
	quiesced, quiescing, inAwake bool
	inChanged                    bool // in Node.changed
	inReport                     bool // in Node.reportOwed
	// heardInc[i] is the incarnation of voters[i]'s node when a raft
	// message of this group last came from it (quiesce.go: a leader does
	// not quiesce before every live voter's present run answered).
	heardInc []uint64
	// commit and campaigning are raft's commit index and whether it is a
	// (pre-)candidate, as last asked (Status), valid while commitKnown: only
	// a call into raft (touch) can move them, and asking raft allocates.
	commit      uint64
	campaigning bool
	commitKnown bool

	pending map[uint64]bool // proposal request ids awaiting apply
	// bugByIndex is BugAckByIndex's waiter table: the raft index each of
	// this node's produce proposals was appended at, to its request id.
	bugByIndex map[uint64]uint64
	// bugStampNext is BugOffsetBeforePropose's counter: the next offset this
	// node, as leader, stamps on a batch before proposing it.
	bugStampNext int64
	// bugEarly is BugQuorumOfLive's list of acks=-1 produces that may be
	// answered before they commit, in proposal order; index 0 until the
	// entry is seen in a Ready.
	bugEarly []earlyAck

	// Fetch read barriers (ReadIndex): queued → issued (by request context) →
	// waiting for apply to reach the read index.
	barrierSeq   uint64
	barrierQueue []*fetchWait
	barriers     map[uint64][]*fetchWait
	readWaits    []readWait
	parked       []fetchRef
	// parkedCompactAt is the length of parked at which its stale refs
	// are dropped (they are also dropped whenever new data wakes it).
	parkedCompactAt int

	// serveEarly plants BugServeUncommitted: the leader serves without readyTerm.
	serveEarly bool
}

type readWait struct {
	index uint64
	ref   fetchRef
}

// serving reports whether this node leads the group and may serve Produce,
// Fetch and ListOffsets (safety rule 1: an entry of its own term committed).
func (g *group) serving() bool {
	return g.leader && (g.readyTerm == g.term || g.serveEarly) && g.term != 0 && !g.recovering
}

func (n *Node) addGroup(id uint64, voters []uint64, part *partState) error {
	if _, ok := n.groups[id]; ok {
		return nil
	}
	st := n.log.Storage(id)
	applied := uint64(0)
	if snap, err := st.Snapshot(); err == nil {
		applied = snap.GetMetadata().GetIndex()
	}
	if part != nil {
		// The index reads entries forward from this group's log; under a
		// planted bug whose apply the entries do not tell, it keeps every
		// batch exact.
		part.idx.src = st
		part.idx.dense = denseIndexBug(n.cfg.Bug)
		part.idx.tailMax, part.idx.intervalBytes = int32(n.cfg.IndexTailBatches), int32(n.cfg.IndexIntervalBytes)
	}
	ckptAt, err := n.restoreCheckpoint(id, st, part, applied)
	if err != nil {
		return err
	}
	if ckptAt > 0 {
		applied = ckptAt
	}
	rc := &raft.Config{
		ID:                        n.cfg.ID,
		ElectionTick:              n.cfg.ElectionTicks,
		HeartbeatTick:             n.cfg.HeartbeatTicks,
		Storage:                   initialConf{st, voters},
		Applied:                   applied,
		MaxSizePerMsg:             raftMsgBytesMax,
		MaxCommittedSizePerReady:  raftCommittedBytes,
		MaxUncommittedEntriesSize: raftUncommittedBytes,
		MaxInflightMsgs:           raftInflightMsgs,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		DisableProposalForwarding: true,
		Logger:                    raftLogger{n.logger.With("group", id)},
	}
	rn, err := raft.NewRawNode(rc)
	if err != nil {
		return fmt.Errorf("node: group %d: %w", id, err)
	}
	last, err := st.LastIndex()
	if err != nil {
		return fmt.Errorf("node: group %d: %w", id, err)
	}
	g := &group{id: id, rn: rn, st: st, part: part, voters: voters, applied: applied, snapIndex: applied, placed: ckptAt,
		pending: map[uint64]bool{}, barriers: map[uint64][]*fetchWait{}, serveEarly: n.cfg.Bug == BugServeUncommitted}
	if hs := st.HardState(); hs != nil {
		g.term = hs.GetTerm()
	}
	if snap, err := st.Snapshot(); err == nil && !raft.IsEmptySnap(snap) {
		g.confState = snap.GetMetadata().GetConfState()
		if part != nil && applied == snap.GetMetadata().GetIndex() {
			// A partition restarts from its snapshot; the entries after
			// the state it holds replay on top.
			placed, err := part.restoreState(snap.GetData(), applied)
			if err != nil {
				return fmt.Errorf("node: group %d: snapshot at index %d: %w", id, snap.GetMetadata().GetIndex(), err)
			}
			g.placed = placed
		}
	}
	if ckptAt > 0 {
		_, g.confState, _ = st.InitialState() // the checkpoint's
	}
	if g.confState == nil {
		_, g.confState, _ = rc.Storage.InitialState() // the voters (initialConf)
	}
	n.groups[id] = g
	// Inserted in place, not sorted again: creating 10,000 groups sorted
	// the whole list 10,000 times (5% of a node's CPU while creating).
	i, _ := slices.BinarySearch(n.groupOrder, id)
	n.groupOrder = slices.Insert(n.groupOrder, i, id)
	n.touch(g)
	n.wake(g)
	n.reportGroup(g)
	if part != nil {
		n.parts[id] = part
	}
	// A sole voter need not wait out an election timeout; on a new group the
	// preferred replica campaigns at once so clients see a leader quickly.
	// Randomized timeouts settle anything else.
	g.campaign = len(voters) == 1 && voters[0] == n.cfg.ID || last == 0 && voters[0] == n.cfg.ID
	if floor, ok := n.cfg.Recover[id]; ok {
		g.recovering, g.recoverFloor, g.campaign = true, floor, false
	}
	if mg := n.groups[metaGroup]; g.campaign && part != nil && len(voters) == 1 && mg != nil && mg.recovering {
		// A wiped node replaying the metadata history creates the
		// partitions of topics deleted since; one with no other voter
		// would elect itself and serve its emptied log until the
		// deletion applied here (swarm seed 157 with new groups
		// campaigning at creation: solo/0 served at high watermark 0,
		// having reached 137 before the wipe). Once the metadata is
		// repaired it holds every entry from before the wipe, the
		// deletions too.
		g.awaitMeta, g.campaign = true, false
	}
	if g.campaign {
		n.startCampaign(g)
	}
	return nil
}

// startHeldSoleVoters starts the sole-voter partitions held while the
// metadata group was recovering (group.awaitMeta): they tick and campaign
// from now on. A scan of the groups, once per repair.
func (n *Node) startHeldSoleVoters() {
	for _, id := range n.groupOrder {
		if g := n.groups[id]; g.awaitMeta {
			g.awaitMeta, g.campaign = false, true
			n.wake(g)
			n.startCampaign(g)
		}
	}
}

// initialConf is a group's storage as its raft reads it. A group's first
// configuration is its voters, which every replica knows alike before the
// group exists (the metadata group's from Config, a partition's from the
// metadata entry that created it; a partition's never change), so it is
// not written to the log: until a snapshot or checkpoint carries a
// configuration, InitialState answers the voters, as etcd raft recommends
// over RawNode.Bootstrap. Bootstrap wrote three conf change entries per
// group, each persisted, committed and applied again, and a group could
// campaign only once they had applied: creating 10,000 partitions spent a
// sixth of its CPU applying 60,000 configuration changes. A log written
// with bootstrap entries still replays them onto the same voters, which
// changes nothing.
type initialConf struct {
	*wal.Storage
	voters []uint64
}

func (s initialConf) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	hs, cs, err := s.Storage.InitialState()
	if err == nil && len(cs.GetVoters()) == 0 && len(cs.GetLearners()) == 0 {
		cs = &raftpb.ConfState{Voters: slices.Clone(s.voters)}
	}
	return hs, cs, err
}

// startCampaign campaigns for a group's leadership, if raft lets it: raft
// refuses while conf changes are committed and not applied (a log written
// with bootstrap entries, restarting), and Process asks again after each
// Advance until it did (campaignedAt).
func (n *Node) startCampaign(g *group) {
	_ = g.rn.Campaign()
	n.touch(g)
	if g.rn.BasicStatus().RaftState != raft.StateFollower {
		g.campaignedAt = 1
	}
}

func (n *Node) removeGroup(id uint64) {
	g, ok := n.groups[id]
	if !ok {
		return
	}
	n.failGroup(g, kerr.UnknownTopicOrPartition.Code)
	delete(n.groups, id)
	delete(n.parts, id)
	n.reportCheck = true
	for i, gid := range n.groupOrder {
		if gid == id {
			n.groupOrder = append(n.groupOrder[:i], n.groupOrder[i+1:]...)
			break
		}
	}
	if err := n.log.RemoveGroup(id); err != nil {
		n.stop(err)
	}
}

// touch records that a group's raft was called, so it may have a Ready.
// Every call that can change a RawNode (Step, Tick, Propose, ReadIndex,
// Campaign, Advance, ...) must come with one: Process asks only these
// groups for a Ready.
func (n *Node) touch(g *group) {
	g.commitKnown = false
	if !g.inChanged {
		g.inChanged = true
		n.changed = append(n.changed, g)
	}
	if !g.inActive {
		g.inActive = true
		n.active = append(n.active, g)
	}
}

// reportGroup asks maybeReport to look at a group's leadership report.
func (n *Node) reportGroup(g *group) {
	n.reportCheck = true
	if !g.inReport {
		g.inReport = true
		n.reportOwed = append(n.reportOwed, g)
	}
}

func (n *Node) stop(err error) {
	if n.err == nil {
		n.logger.Error("node stopping", "err", err)
		n.err = fmt.Errorf("%w: %w", ErrStopped, err)
	}
}

// stopOnReadFailure is deferred by every entry point that drives raft. The
// log checks a sealed segment's data only when an entry is read back (see
// wal/doc.go), and etcd raft panics when its Storage fails a read (log.go's
// slice has no error path); the log has failed itself first, so such a panic
// is a disk error: the node stops, as on a failed fsync, and serves nothing
// more. So is raft's own finding that this node's log lacks entries it
// acknowledged (a leader's commit index past its log): its data was lost or
// wiped, and it stops with an error that says so rather than a stack. Any
// other panic is a bug and goes on.
func (n *Node) stopOnReadFailure() {
	r := recover()
	if r == nil {
		return
	}
	err := n.log.Err()
	if s, ok := r.(string); ok && err == nil && strings.Contains(s, raftLostLog) {
		err = fmt.Errorf("%w: raft: %s: this node's log lacks entries it acknowledged (its data directory was lost, truncated or wiped); a node may rejoin with an empty log only as a recovering replica (ARCHITECTURE.md, \"Repairing a damaged node\")", ErrLogLost, s)
	}
	if err == nil {
		panic(r)
	}
	n.stop(err)
}

// raftLostLog ends etcd raft's panic when a leader's commit index is past
// the log (raftLog.commitTo).
const raftLostLog = "Was the raft log corrupted, truncated, or lost?"

// ErrLogLost: the node stopped because raft found its log shorter than what
// it acknowledged.
var ErrLogLost = errors.New("node: raft log lost")

// Tick advances time. Raft ticks fire once per TickInterval of elapsed time
// (at most ticksPerCallMax at once); request deadlines are checked.
func (n *Node) Tick(now time.Time) {
	if n.err != nil {
		return // stopped: raft may have failed half-way through a call
	}
	defer n.stopOnReadFailure()
	if n.lastTick.IsZero() {
		n.lastTick = now
	}
	if now.After(n.now) {
		n.now = now
	}
	ticked := false
	for k := 0; n.now.Sub(n.lastTick) >= n.cfg.TickInterval; k++ {
		if k == ticksPerCallMax {
			n.lastTick = n.now
			break
		}
		n.tickLiveness()
		n.tickAwake()
		ticked = true
		n.lastTick = n.lastTick.Add(n.cfg.TickInterval)
	}
	if ticked {
		n.sendAlive()
	}
	n.expire()
	n.expireGroups()
	n.expireOffsets()
	n.checkRetention()
	n.checkCompaction()
	n.expireProducers()
	n.checkBrokerSessions()
}

// NextTick is the earliest time, on the clock Tick is given, at which Tick
// (and the Process after it) has work to do: the next raft tick, a
// proposal's or a parked fetch's deadline, a confirmation given up, a report
// repeated. A caller that ticks the node then, and before each request it
// hands over (requests take their deadlines from the last Tick), loses
// nothing to one that ticks it on a fixed short cadence; the real host does
// the latter. Inputs and Process can make it earlier: ask again after them.
// Zero before the first Tick.
func (n *Node) NextTick() time.Time {
	if n.lastTick.IsZero() {
		return time.Time{}
	}
	next := n.lastTick.Add(n.cfg.TickInterval)
	if d := n.nextDeadline(); !d.IsZero() && d.Before(next) {
		next = d
	}
	if d := n.nextGroupDeadline(); !d.IsZero() && d.Before(next) {
		next = d
	}
	if n.heldUntil.After(n.now) && n.heldUntil.Before(next) {
		// The commit-only MsgApps held leave then (appends.go); once the
		// clock passed it, the next Process sends them: no Tick needed.
		next = n.heldUntil
	}
	if n.reportDue.After(n.now) && n.reportDue.Before(next) {
		// Once the clock passed it, the next Process reports: no Tick needed.
		next = n.reportDue
	}
	return next
}

// TickEvery is how often the node's raft ticks: NextTick is never further
// ahead than this.
func (n *Node) TickEvery() time.Duration { return n.cfg.TickInterval }

// Step hands the node a peer's raft message. Messages for groups not
// created here yet are held until they are (early.go); those for other
// unknown groups are dropped.
func (n *Node) Step(m PeerMessage) {
	if n.err != nil {
		return // stopped: raft may have failed half-way through a call
	}
	defer n.stopOnReadFailure()
	if m.Alive != nil {
		n.stepAlive(m.Alive)
		return
	}
	if m.Msg != nil {
		n.heard(m.Msg.GetFrom())
	}
	n.step(m)
}

// step hands a raft message or a forwarded proposal to its group. A
// message for a group whose creation has not applied here yet is held
// until it has (early.go).
func (n *Node) step(m PeerMessage) {
	g, ok := n.groups[m.Group]
	if !ok {
		n.holdEarly(m)
		return
	}
	if m.Msg == nil {
		n.stepForward(g, m.Forward)
		return
	}
	n.heardIn(g, m.Msg.GetFrom())
	if m.Group == metaGroup {
		n.heardFrom(m.Msg.GetFrom())
	}
	if g.recovering {
		// etcd raft has no switch for "do not vote": the votes never reach it.
		switch m.Msg.GetType() {
		case raftpb.MessageType_MsgVote, raftpb.MessageType_MsgPreVote, raftpb.MessageType_MsgTimeoutNow:
			return
		}
		if m.Msg.GetTerm() < g.recoverFloor {
			// A stale leader must not count on a replica that forgot its
			// term. But a leader below the floor may be the live one (a
			// candidate that lost still raised the floor), and an idle
			// group would never leave its term: answer at the floor, as
			// raft answers a lower-term leader under CheckQuorum, so it
			// steps down and the group elects in a term above the floor
			// (swarm seed 46).
			if t := m.Msg.GetType(); t == raftpb.MessageType_MsgHeartbeat || t == raftpb.MessageType_MsgApp {
				n.out.Messages = append(n.out.Messages, PeerMessage{Group: g.id, To: m.Msg.GetFrom(), Msg: &raftpb.Message{
					Type: raftpb.MessageType_MsgAppResp.Enum(), To: proto.Uint64(m.Msg.GetFrom()), From: proto.Uint64(n.cfg.ID),
					Term: proto.Uint64(g.recoverFloor)}})
			}
			return
		}
		if m.Msg.GetType() == raftpb.MessageType_MsgHeartbeat {
			// The leader still believes this replica holds what it once
			// acknowledged; raft panics on a commit index past its log.
			// The commit index comes again with the appends that refill it.
			if last, _ := g.st.LastIndex(); m.Msg.GetCommit() > last {
				// An idle group's leader sends nothing but heartbeats, so
				// no append would ever be rejected: say so now, as a
				// marked rejection, and the leader hands over (lostReplica).
				lt, _ := g.st.Term(last)
				n.out.Messages = append(n.out.Messages, PeerMessage{Group: g.id, To: m.Msg.GetFrom(), Msg: &raftpb.Message{
					Type: raftpb.MessageType_MsgAppResp.Enum(), To: proto.Uint64(m.Msg.GetFrom()), From: proto.Uint64(n.cfg.ID),
					Term: proto.Uint64(m.Msg.GetTerm()), Index: proto.Uint64(m.Msg.GetCommit()), Reject: proto.Bool(true),
					RejectHint: proto.Uint64(last), LogTerm: proto.Uint64(lt), Context: []byte(recoveringContext),
				}})
				m.Msg.Commit = proto.Uint64(0)
			}
		}
	}
	if g.leader && m.Msg.GetType() == raftpb.MessageType_MsgAppResp && m.Msg.GetReject() && n.lostReplica(g, m.Msg) {
		// Raft would answer with the same append at once, forever; the
		// next heartbeat probes again.
		return
	}
	n.touch(g)
	if !g.leader || m.Msg.GetType() != raftpb.MessageType_MsgHeartbeatResp {
		// An answer to its (quiescing) heartbeat leaves a leader as it is.
		n.wake(g)
	}
	if err := g.rn.Step(m.Msg); err != nil {
		n.logger.Debug("raft step", "group", m.Group, "err", err)
	}
	if m.Quiesce && m.Msg.GetType() == raftpb.MessageType_MsgHeartbeat {
		n.quiesceFollower(g, m.Msg)
	}
}

// recoveringContext marks a recovering replica's rejections (Message.Context).
const recoveringContext = "ketch:recovering"

// lostReplica handles a recovering follower (Config.Recover: its log was
// wiped) that rejects an append at or below what it acknowledged. Raft never
// lowers a follower's match index, so it takes the rejection for a stale one
// and could never refill that log; a new leader starts from scratch, and its
// term also lets the recovering replica finish its repair. So the leader
// hands leadership to its most caught-up other voter, and the rejection is
// not stepped (true).
func (n *Node) lostReplica(g *group, m *raftpb.Message) bool {
	if string(m.GetContext()) != recoveringContext {
		// Rejections below the match index happen every day: a reject
		// overtaken by a later acknowledgement. Only a recovering replica's
		// say it lost entries.
		return false
	}
	st := g.rn.Status()
	pr, ok := st.Progress[m.GetFrom()]
	if !ok || m.GetIndex() > pr.Match {
		return false
	}
	if st.LeadTransferee != 0 {
		return true
	}
	var best, match uint64
	for _, v := range g.voters {
		if p, ok := st.Progress[v]; ok && v != n.cfg.ID && v != m.GetFrom() && (best == 0 || p.Match > match) {
			best, match = v, p.Match
		}
	}
	if best != 0 {
		n.logger.Info("replica lost acknowledged entries; handing leadership over", "group", g.id, "replica", m.GetFrom(), "to", best)
		g.rn.TransferLeader(best)
		n.touch(g)
		n.wake(g)
	}
	return true
}

// Process runs every group's Ready cycle (persist with one fsync, send, apply,
// advance) until no group has work left, and returns what the caller must do.
func (n *Node) Process() (out Output, err error) {
	if n.err != nil {
		return Output{}, n.err
	}
	defer func() {
		if n.err != nil {
			out, err = Output{}, n.err
		}
	}()
	defer n.stopOnReadFailure()
	if err := n.log.Err(); err != nil {
		// A read of an entry failed (a fetch's, outside raft).
		n.stop(err)
		return Output{}, n.err
	}
	if n.syncOwed {
		// Planted (BugApplyBeforePersist): the previous call applied and
		// answered first; its entries become durable only now, and the
		// messages acknowledging them leave after.
		n.syncOwed = false
		if err := n.log.Sync(); err != nil {
			n.stop(err)
			return Output{}, n.err
		}
		n.out.Messages = append(n.out.Messages, n.heldMsgs...)
		n.heldMsgs = nil
	}
	// The slice is kept from call to call (a Ready is large); it is cleared
	// on the way out so that no entry or message stays reachable.
	readies := n.readies
	defer func() {
		clear(readies)
		n.readies = readies[:0]
	}()
	for round := 0; round < processRoundsMax; round++ {
		n.issueBarriers()
		clear(readies)
		readies = readies[:0]
		// In group order, as every group's Ready always was gathered.
		slices.SortFunc(n.active, func(a, b *group) int { return cmp.Compare(a.id, b.id) })
		k := 0
		for _, g := range n.active {
			if n.groups[g.id] != g || !g.rn.HasReady() {
				g.inActive = false // removed, or nothing to do until its raft is called again
				continue
			}
			readies = append(readies, ready{g, g.rn.Ready()})
			n.active[k] = g
			k++
		}
		clear(n.active[k:])
		n.active = n.active[:k]
		if len(readies) == 0 {
			break
		}
		// 1. Persist every group's entries and hard state, then one sync.
		mustSync := false
		for _, r := range readies {
			var hs *raftpb.HardState
			if !raft.IsEmptyHardState(r.rd.HardState) {
				hs = r.rd.HardState
			}
			var snap *raftpb.Snapshot
			if r.rd.Snapshot != nil && !raft.IsEmptySnap(r.rd.Snapshot) {
				snap = r.rd.Snapshot
			}
			if err := r.g.st.Save(hs, r.rd.Entries, snap); err != nil {
				n.stop(err)
				return Output{}, n.err
			}
			if n.cfg.Bug == BugAckByIndex && r.g.part != nil {
				n.bugIndexWaiters(r.g, r.rd.Entries)
			}
			if n.cfg.Bug == BugQuorumOfLive && len(r.g.bugEarly) > 0 {
				r.g.noteEarlyIndexes(r.rd.Entries, n.cfg.ID, n.cfg.Incarnation)
			}
			// raft's MustSync looks at entries, term and vote only: a Ready
			// that installs a snapshot has none of them, but its messages
			// acknowledge the snapshot, so it must be durable first.
			installs := snap != nil && n.cfg.Bug != BugSnapshotCommitUnclamped
			mustSync = mustSync || r.rd.MustSync || installs
		}
		if mustSync && n.cfg.Bug == BugApplyBeforePersist {
			// Planted (etcd #14370): the committed entries are applied and
			// answered before the fsync, which is left for the next call.
			n.syncOwed = true
		} else if mustSync && n.cfg.Bug != BugSkipFsync {
			if err := n.log.Sync(); err != nil {
				n.stop(err)
				return Output{}, n.err
			}
		}
		// 2. Only now may messages leave: they acknowledge what was just made durable.
		msgs := 0
		for _, r := range readies {
			msgs += len(r.rd.Messages)
		}
		n.out.Messages = slices.Grow(n.out.Messages, msgs)
		for _, r := range readies {
			quiesce := false
			for _, m := range r.rd.Messages {
				if r.g.recovering && m.GetType() == raftpb.MessageType_MsgAppResp && m.GetReject() {
					// Tell the leader this rejection may be below what this
					// replica once acknowledged (raft leaves Context unused here).
					m.Context = []byte(recoveringContext)
				}
				pm := PeerMessage{Group: r.g.id, Msg: m, To: m.GetTo()}
				if r.g.quiescing && m.GetType() == raftpb.MessageType_MsgHeartbeat {
					pm.Quiesce, quiesce = true, true // quiesce.go
				}
				if n.syncOwed {
					// Planted (BugApplyBeforePersist): raft's messages still wait for the sync.
					n.heldMsgs = append(n.heldMsgs, pm)
					continue
				}
				n.out.Messages = append(n.out.Messages, pm)
			}
			if quiesce {
				r.g.quiesced, r.g.quiescing = true, false
			}
		}
		// 3. Apply, then advance.
		for _, r := range readies {
			if _, ok := n.groups[r.g.id]; !ok {
				continue // removed by a metadata entry applied this round
			}
			n.applyReady(r.g, r.rd)
			if n.err != nil {
				return Output{}, n.err
			}
			r.g.rn.Advance(r.rd) // it steps the local appends: a sole voter commits here
			n.touch(r.g)         // (it stays active: Process looks again next round)
			n.reportSnapshots(r.g, r.rd.Messages)
			// After Advance: raft counts entries as applied only then.
			if g := r.g; g.campaign && g.campaignedAt == 0 {
				n.startCampaign(g)
			}
		}
	}
	if n.cfg.Bug == BugQuorumOfLive {
		for _, id := range n.groupOrder {
			if g := n.groups[id]; len(g.bugEarly) > 0 {
				n.ackLiveQuorum(g)
			}
		}
	}
	n.maybeReport()
	n.flush()
	n.sendAppends() // appends.go
	out = n.out
	n.out = Output{}
	return out, nil
}

// reportSnapshots tells raft that each snapshot this Ready sends has left
// (etcd raft's ReportSnapshot contract). Without it the follower's progress
// stays in StateSnapshot, paused, until the leader changes: a MsgSnap the
// network drops would cut the follower off from its group for good, and the
// metadata requests it forwards would hang until they time out. SnapshotFinish
// is right even for a snapshot that is then lost: raft probes the follower
// from the snapshot's index, the follower rejects the probe if the snapshot
// never arrived, and the leader sends it again. No transport needs to report
// a failed send (the simulator's network, like a reset TCP connection, loses
// messages silently anyway).
func (n *Node) reportSnapshots(g *group, msgs []*raftpb.Message) {
	if n.cfg.Bug == BugNoReportSnapshot {
		return // planted bug: the follower stays in StateSnapshot
	}
	for _, m := range msgs {
		if m.GetType() == raftpb.MsgSnap {
			g.rn.ReportSnapshot(m.GetTo(), raft.SnapshotFinish)
			n.touch(g)
		}
	}
}

func (n *Node) applyReady(g *group, rd raft.Ready) {
	if rd.HardState != nil && rd.HardState.GetTerm() > g.term {
		g.term = rd.HardState.GetTerm()
		n.reportGroup(g)
	}
	if rd.SoftState != nil {
		n.reportGroup(g)
		n.wake(g) // a new role runs on its own timers
		wasLeader := g.leader
		g.lead = rd.SoftState.Lead
		g.leader = rd.SoftState.RaftState == raft.StateLeader
		if wasLeader != g.leader {
			n.logger.Debug("leadership", "group", g.id, "leader", g.leader, "term", g.term)
		}
		if wasLeader && !g.leader {
			n.failGroup(g, kerr.NotLeaderForPartition.Code)
			n.dropCoordinator(g)
		}
		if g.id == metaGroup {
			n.metaLeaderSince = time.Time{}
			if g.leader {
				n.metaLeaderSince = n.now // it judges sessions from now on
			}
		}
		if !wasLeader && g.leader && g.part != nil && n.cfg.Bug == BugOffsetBeforePropose {
			// Planted bug: the counter starts from what this node has
			// applied, below any entry of an earlier term still to commit.
			g.bugStampNext = g.part.next
		}
		if n.cfg.Bug == BugEpochNotTerm && !wasLeader && g.leader && g.part != nil {
			// Planted (KAFKA-10527): the new epoch is this broker's own
			// counter plus one. It is resumed from the log (the last epoch
			// applied) only at its first leadership after a start, and
			// never learns the epochs other brokers led in since: no
			// quorum makes it unique, as an election makes a term.
			if g.epoch == 0 && !g.part.idx.empty() {
				g.epoch = g.part.idx.last().term
			}
			g.epoch++
		}
	}
	if rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot) {
		md := rd.Snapshot.GetMetadata()
		switch {
		case g.part != nil:
			// A partition (part_snapshot.go): its state may be of a later
			// index than the snapshot's, whose entries then arrive by
			// append and are not applied again. A coordinator's session
			// state, if it led, went with its leadership.
			placed, err := g.part.restoreState(rd.Snapshot.GetData(), md.GetIndex())
			if err != nil {
				n.stop(fmt.Errorf("group %d: snapshot at index %d: %w", g.id, md.GetIndex(), err))
				return
			}
			g.placed = placed
		default:
			if err := n.restoreMeta(rd.Snapshot.GetData()); err != nil {
				n.stop(fmt.Errorf("metadata snapshot at index %d: %w", md.GetIndex(), err))
				return
			}
		}
		g.applied, g.snapIndex, g.confState = md.GetIndex(), md.GetIndex(), md.GetConfState()
	}
	if n.cfg.Bug == BugCheckpointAhead {
		n.bugCheckpointAhead(g, rd)
	}
	for _, e := range rd.CommittedEntries {
		if g.part != nil && e.GetIndex() <= g.placed && e.GetType() == raftpb.EntryNormal {
			// Already in the state restored (checkpoint.go).
			g.applied = e.GetIndex()
			continue
		}
		n.applyEntry(g, e)
		g.applied = e.GetIndex()
		g.sinceCkpt += len(e.GetData())
		n.maybeSnapshotPart(g, g.applied)
		if g.recovering && e.GetTerm() > g.recoverFloor {
			// Committed by a leader elected without this replica's vote,
			// so it holds every committed entry, and this log now matches
			// it through here: votes from now on are in terms above any
			// vote forgotten.
			g.recovering = false
			n.reportGroup(g)
			n.logger.Info("group repaired", "group", g.id, "index", e.GetIndex(), "term", e.GetTerm())
			if g.id == metaGroup {
				n.startHeldSoleVoters()
			}
		}
	}
	n.maybeSnapshotMeta(g)
	n.maybeCheckpoint(g)

	for _, rs := range rd.ReadStates {
		if len(rs.RequestCtx) != 8 {
			continue
		}
		seq := binary.BigEndian.Uint64(rs.RequestCtx)
		for _, fw := range g.barriers[seq] {
			g.readWaits = append(g.readWaits, readWait{index: rs.Index, ref: fetchRef{fw, fw.gen}})
		}
		delete(g.barriers, seq)
	}
	n.checkReadWaits(g)
}

func (n *Node) applyEntry(g *group, e *raftpb.Entry) {
	switch e.GetType() {
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			n.stop(fmt.Errorf("group %d index %d: bad conf change: %v", g.id, e.GetIndex(), err))
			return
		}
		g.confState = g.rn.ApplyConfChange(&cc)
		n.touch(g)
		return
	case raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			n.stop(fmt.Errorf("group %d index %d: bad conf change: %v", g.id, e.GetIndex(), err))
			return
		}
		g.confState = g.rn.ApplyConfChange(&cc)
		n.touch(g)
		return
	}
	if g.leader && e.GetTerm() == g.term && g.readyTerm != g.term {
		g.readyTerm = g.term
		n.reportGroup(g)
	}
	if n.cfg.Bug == BugAckByIndex && g.part != nil {
		n.bugApplyByIndex(g, e)
		return
	}
	if len(e.GetData()) == 0 {
		return
	}
	if n.cfg.Observer != nil {
		n.cfg.Observer.Applied(g.id, e.GetIndex(), e.GetTerm(), e.GetData())
	}
	h, body, err := parseEntryHeader(e.GetData())
	if err != nil {
		n.stop(fmt.Errorf("group %d index %d: %v", g.id, e.GetIndex(), err))
		return
	}
	var res any
	if g.part != nil && h.cmd == cmdGroupWrite && g.part.coord != nil {
		r := g.part.applyGroupWrite(e.GetIndex(), e.GetTerm(), body, n.cfg.Bug)
		g.part.idx.noteApplied(e.GetIndex())
		n.noteAppend(g)
		res = r
		if r.code == 0 {
			n.wakeParked(g)
		}
	} else if g.part != nil && h.cmd == cmdLogStart {
		res = n.applyLogStartEntry(g, e.GetIndex(), body)
	} else if g.part != nil && h.cmd == cmdExpireProducers {
		res = g.part.applyExpireProducers(body)
	} else if g.part != nil && h.cmd == cmdCompact {
		res = n.applyCompactEntry(g, e.GetIndex(), len(e.GetData())-len(body), body)
	} else if g.part != nil {
		if h.cmd != cmdProduce {
			n.stop(fmt.Errorf("group %d index %d: command %d in a partition", g.id, e.GetIndex(), h.cmd))
			return
		}
		term := e.GetTerm()
		if n.cfg.Bug == BugEpochNotTerm {
			// Planted: the batch keeps the epoch its leader stamped.
			if bh, err := wire.ParseBatchHeader(body); err == nil && bh.PartitionLeaderEpoch >= 0 {
				term = uint64(bh.PartitionLeaderEpoch)
			}
		}
		r := g.part.applyProduce(e.GetIndex(), term, body, n.cfg.Bug)
		g.part.idx.noteApplied(e.GetIndex())
		n.noteAppend(g)
		if n.cfg.Bug == BugAppendTimeAtApply && r.code == 0 {
			n.bugStampAtApply(g.part, e.GetIndex())
		}
		res = r
		if r.code == 0 {
			n.wakeParked(g)
		}
	} else {
		var eff metaEffects
		n.reportCheck = true // what is reported is in the metadata state
		res = n.meta.apply(e.GetIndex(), h, body, n.voters, &eff)
		n.applyMetaEffects(eff)
		for _, id := range eff.leaders {
			if pg, ok := n.groups[id]; ok {
				n.reportGroup(pg) // another node's report may have overwritten ours
			}
		}
	}
	if h.proposer == n.cfg.ID && h.incarnation == n.cfg.Incarnation {
		if p, ok := n.pending[h.reqID]; ok {
			delete(n.pending, h.reqID)
			delete(g.pending, h.reqID)
			p.done(res)
		}
	}
}

func (n *Node) applyMetaEffects(eff metaEffects) {
	for _, t := range eff.created {
		delete(n.creating, t.name)
		for i, pm := range t.partitions {
			if !slices.Contains(pm.replicas, n.cfg.ID) {
				continue
			}
			if err := n.addGroup(pm.group, pm.replicas, newPartState(t.name, int32(i), pm.group)); err != nil {
				n.stop(err)
				return
			}
			n.stepEarly(pm.group)
		}
	}
	for _, t := range eff.deleted {
		for _, pm := range t.partitions {
			n.removeGroup(pm.group)
		}
	}
	if len(eff.created) > 0 && len(n.early.byGroup) > 0 {
		n.dropEarly()
	}
	if len(eff.deleted) > 0 {
		n.dropDeletedTopicsOffsets(eff.deleted)
	}
}

// reportInterval is how often a node repeats a report to the metadata group
// (its address, a partition it leads) until the report is in the state.
const reportInterval = 2 * time.Second

// leaderReportsPerEntryMax bounds the leadership reports in one metadata
// entry: at most 30 bytes each, under the 64 KiB a forwarded proposal may
// be (stepForward).
const leaderReportsPerEntryMax = 2048

// maybeReport keeps the metadata group's view of this node true: its
// advertised address, and the partitions it leads (with their term), so that
// every broker, replica or not, can answer Metadata. Reports from a follower
// are forwarded to the metadata leader; a lost one is repeated.
func (n *Node) maybeReport() {
	mg := n.groups[metaGroup]
	n.reportDue = time.Time{}
	if mg.lead == 0 {
		return // a Process that learns the leader calls again
	}
	if !n.now.After(n.reportAt) {
		// Maybe nothing is left to report by then; one Tick to look.
		n.reportDue = n.reportAt.Add(1)
		return
	}
	if !n.reportCheck {
		// Nothing it looks at changed since it last found nothing to
		// send: it would find nothing again. Not a scan per Process.
		return
	}
	n.reportCheck = false
	sent := false
	want := brokerInfo{host: n.cfg.AdvertisedHost, port: n.cfg.AdvertisedPort}
	if got, ok := n.meta.brokers[int32(n.cfg.ID)]; !ok || got != want {
		n.propose(mg, cmdRegister, appendRegister(nil, int32(n.cfg.ID), want.host, want.port), n.now.Add(reportInterval), func(any) {}, func(int16) {})
		sent = true
	}
	if n.reportAll {
		n.reportAll = false
		for _, id := range n.groupOrder {
			n.reportGroup(n.groups[id])
		}
	}
	// Only the groups whose leadership or record may have changed: not a
	// scan of every group per Process.
	// They travel together, up to leaderReportsPerEntryMax to an entry:
	// one entry per group would be thousands of metadata entries (and
	// forwarded proposals, each repeated until applied) when thousands
	// of groups elect at once.
	slices.SortFunc(n.reportOwed, func(a, b *group) int { return cmp.Compare(a.id, b.id) })
	k := 0
	var body []byte
	reports := 0
	for _, g := range n.reportOwed {
		if n.groups[g.id] != g || g.part == nil || !g.serving() {
			g.inReport = false // it is marked again when it serves
			continue
		}
		if li := n.meta.leaders[g.id]; li.leader != n.cfg.ID || li.term != n.epochOf(g) {
			body = appendLeader(body, g.id, n.cfg.ID, n.epochOf(g))
			if reports++; reports == leaderReportsPerEntryMax {
				n.propose(mg, cmdLeader, body, n.now.Add(reportInterval), func(any) {}, func(int16) {})
				body, reports = nil, 0
			}
			sent = true
			n.reportOwed[k] = g // until the record shows it (a report may be lost)
			k++
			continue
		}
		g.inReport = false
	}
	if reports > 0 {
		n.propose(mg, cmdLeader, body, n.now.Add(reportInterval), func(any) {}, func(int16) {})
	}
	clear(n.reportOwed[k:])
	n.reportOwed = n.reportOwed[:k]
	if sent {
		n.reportAt = n.now.Add(reportInterval)
		n.reportDue = n.reportAt.Add(1)
		n.reportCheck = true // a report lost is sent again then
	}
}

// proposal is a request waiting for its entry to apply.
type proposal struct {
	group    uint64
	deadline time.Time
	done     func(result any)
	fail     func(code int16)
	cn       *conn // the connection waiting for the answer, if any
}

// propose appends a command to a group's log. On success the request waits
// for apply (done) or for leadership loss / its deadline (fail); if raft
// refuses the proposal, fail runs before propose returns.
//
// Metadata proposals made on a follower are forwarded to the metadata
// group's leader, which proposes them unchanged; the entry still names this
// node as proposer, so this node answers when it applies the entry.
func (n *Node) propose(g *group, c cmd, body []byte, deadline time.Time, done func(any), fail func(int16)) {
	forward := !g.leader && g.id == metaGroup && g.lead != 0 && g.lead != n.cfg.ID
	if !g.leader && !forward {
		fail(kerr.NotLeaderForPartition.Code)
		return
	}
	if len(n.pending) >= pendingProposalsMax {
		fail(kerr.RequestTimedOut.Code)
		return
	}
	n.nextReqID++
	id := n.nextReqID
	data := appendEntryHeader(make([]byte, 0, 32+len(body)), entryHeader{cmd: c, proposer: n.cfg.ID, incarnation: n.cfg.Incarnation, reqID: id})
	data = append(data, body...)
	if forward {
		n.out.Messages = append(n.out.Messages, PeerMessage{Group: g.id, To: g.lead, Forward: data})
		n.addPending(g, id, &proposal{group: g.id, deadline: deadline, done: done, fail: fail})
		return
	}
	n.touch(g)
	n.wake(g)
	if err := g.rn.Propose(data); err != nil {
		// Dropped: not leader any more, or too much uncommitted data.
		if errors.Is(err, raft.ErrProposalDropped) && g.leader {
			fail(kerr.RequestTimedOut.Code)
		} else {
			fail(kerr.NotLeaderForPartition.Code)
		}
		return
	}
	n.addPending(g, id, &proposal{group: g.id, deadline: deadline, done: done, fail: fail})
}

// addPending records a proposal waiting for apply, on behalf of the
// connection being handled, if any.
func (n *Node) addPending(g *group, id uint64, p *proposal) {
	p.cn = n.handling
	n.pending[id] = p
	g.pending[id] = true
	n.schedulePending(id, p.deadline)
	if cn := p.cn; cn != nil {
		if len(cn.proposals) >= cn.proposalsCompactAt {
			// Forget the ids already answered, so a long-lived
			// connection's list stays as long as what it waits for.
			k := 0
			for _, pid := range cn.proposals {
				if q := n.pending[pid]; q != nil && q.cn == cn {
					cn.proposals[k] = pid
					k++
				}
			}
			cn.proposals = cn.proposals[:k]
			cn.proposalsCompactAt = 2*k + 64
		}
		cn.proposals = append(cn.proposals, id)
	}
}

// dropPending forgets the proposals a closed connection waits for: their
// entries may still commit, but nobody is left to answer.
func (n *Node) dropPending(cn *conn) {
	for _, id := range cn.proposals {
		p := n.pending[id]
		if p == nil || p.cn != cn {
			continue
		}
		delete(n.pending, id)
		if g, ok := n.groups[p.group]; ok {
			delete(g.pending, id)
		}
	}
	cn.proposals = nil
}

// stepForward proposes a metadata command a follower forwarded, if this
// node leads the metadata group (otherwise the follower's request times out
// and its client retries). Only commands a follower may forward are accepted.
func (n *Node) stepForward(g *group, data []byte) {
	if g.id != metaGroup || !g.leader || len(data) > 1<<16 {
		return
	}
	h, _, err := parseEntryHeader(data)
	if err != nil {
		return
	}
	switch h.cmd {
	case cmdCreateTopic, cmdAllocProducer, cmdRegister, cmdLeader, cmdAlterConfigs, cmdCreatePartitions:
		_ = g.rn.Propose(data)
		n.touch(g)
	}
}

// failGroup answers everything waiting on a group that this node no longer
// leads (or that went away). The outcome of its proposals is unknown: they may
// still commit under the next leader, so the answer must be a retriable
// NOT_LEADER_OR_FOLLOWER, and idempotent retries find their original offsets.
func (n *Node) failGroup(g *group, code int16) {
	if n.cfg.Bug == BugAckByIndex && g.part != nil && code == kerr.NotLeaderForPartition.Code {
		// Planted bug: a term change fails no produce waiter; each still
		// waits for whatever entry appears at its index.
		g.readyTerm = 0
		n.failFetches(g, code)
		return
	}
	ids := make([]uint64, 0, len(g.pending))
	for id := range g.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := n.pending[id]
		delete(n.pending, id)
		delete(g.pending, id)
		if p != nil {
			p.fail(code)
		}
	}
	g.readyTerm = 0
	n.reportGroup(g)
	n.failFetches(g, code)
}

// raftLogger sends etcd raft's logging to slog: its chatter at debug level.
// Raft logs at debug on hot paths (every append answer, every heartbeat
// under some conditions): the text is built only when the level is on, so a
// discarding logger costs no formatting.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) debug() bool { return r.l.Enabled(context.Background(), slog.LevelDebug) }

func (r raftLogger) Debug(v ...any) {
	if r.debug() {
		r.l.Debug(fmt.Sprint(v...))
	}
}

func (r raftLogger) Debugf(f string, v ...any) {
	if r.debug() {
		r.l.Debug(fmt.Sprintf(f, v...))
	}
}

func (r raftLogger) Info(v ...any) {
	if r.debug() {
		r.l.Debug(fmt.Sprint(v...))
	}
}

func (r raftLogger) Infof(f string, v ...any) {
	if r.debug() {
		r.l.Debug(fmt.Sprintf(f, v...))
	}
}

func (r raftLogger) Warning(v ...any)            { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(f string, v ...any) { r.l.Warn(fmt.Sprintf(f, v...)) }
func (r raftLogger) Error(v ...any)              { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(f string, v ...any)   { r.l.Error(fmt.Sprintf(f, v...)) }
func (r raftLogger) Fatal(v ...any)              { panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
func (r raftLogger) Panic(v ...any)              { panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }

// bugIndexWaiters records, for BugAckByIndex, the raft index at which each
// of this node's waiting produce proposals was appended (they are in the
// Ready's entries the round after they were proposed).
func (n *Node) bugIndexWaiters(g *group, ents []*raftpb.Entry) {
	for _, e := range ents {
		if len(e.GetData()) == 0 {
			continue
		}
		h, _, err := parseEntryHeader(e.GetData())
		if err != nil || h.cmd != cmdProduce || h.proposer != n.cfg.ID || h.incarnation != n.cfg.Incarnation || !g.pending[h.reqID] {
			continue
		}
		if g.bugByIndex == nil {
			g.bugByIndex = map[uint64]uint64{}
		}
		g.bugByIndex[e.GetIndex()] = h.reqID
	}
}

// bugApplyByIndex applies a partition entry under BugAckByIndex (Redpanda
// PR #3003): the waiter registered at the entry's index is answered with
// that entry's outcome, whoever proposed it and in whatever term. An entry
// of a new leader that replaced this node's proposal (its no-op, or another
// client's batch) so answers this node's client as if its batch were
// written there.
func (n *Node) bugApplyByIndex(g *group, e *raftpb.Entry) {
	res := produceResult{base: g.part.next} // a no-op: the offset the batch would have had
	if len(e.GetData()) > 0 {
		if n.cfg.Observer != nil {
			n.cfg.Observer.Applied(g.id, e.GetIndex(), e.GetTerm(), e.GetData())
		}
		h, body, err := parseEntryHeader(e.GetData())
		if err != nil {
			n.stop(fmt.Errorf("group %d index %d: %v", g.id, e.GetIndex(), err))
			return
		}
		if h.cmd == cmdLogStart {
			// Not a produce: its waiter is answered by request id.
			r := n.applyLogStartEntry(g, e.GetIndex(), body)
			if p, ok := n.pending[h.reqID]; ok && h.proposer == n.cfg.ID && h.incarnation == n.cfg.Incarnation {
				delete(n.pending, h.reqID)
				delete(g.pending, h.reqID)
				p.done(r)
			}
			return
		}
		switch h.cmd {
		case cmdExpireProducers:
			g.part.applyExpireProducers(body)
		case cmdCompact:
			n.applyCompactEntry(g, e.GetIndex(), len(e.GetData())-len(body), body)
		case cmdProduce:
			res = g.part.applyProduce(e.GetIndex(), e.GetTerm(), body, n.cfg.Bug)
			g.part.idx.noteApplied(e.GetIndex())
			n.noteAppend(g)
		default:
			n.stop(fmt.Errorf("group %d index %d: command %d in a partition", g.id, e.GetIndex(), h.cmd))
			return
		}
		if res.code == 0 {
			n.wakeParked(g)
		}
	}
	id, ok := g.bugByIndex[e.GetIndex()]
	if !ok {
		return
	}
	delete(g.bugByIndex, e.GetIndex())
	if p, ok := n.pending[id]; ok {
		delete(n.pending, id)
		delete(g.pending, id)
		p.done(res)
	}
}
