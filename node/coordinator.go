package node

// The group coordinator's routing and its leader-only half. A group's
// coordinator is the raft leader of its __consumer_offsets partition
// (Kafka's rule: abs(groupId.hashCode()) % partitions). That leader serves
// the group from the partition's fold (groups.go) once it has applied an
// entry of its own term, which is when it has applied everything committed
// before it led: until then it answers COORDINATOR_LOAD_IN_PROGRESS, never a
// state it has not finished loading (KAFKA-16030). Sessions, pending
// JoinGroup and SyncGroup answers and the timers that expire members live
// only in that leader's memory (liveGroup), built from the fold when it
// first serves a group request of its term and dropped when it stops
// leading; members rejoin as they do with Kafka after a coordinator moves.

import (
	"cmp"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ketch-dev/ketch/wire"
)

// Group coordinator defaults, as Kafka's.
const (
	offsetsPartitionsDefault          = 8
	groupInitialRebalanceDelayDefault = 3 * time.Second    // group.initial.rebalance.delay.ms
	groupMinSessionTimeoutDefault     = 6 * time.Second    // group.min.session.timeout.ms
	groupMaxSessionTimeoutDefault     = 30 * time.Minute   // group.max.session.timeout.ms
	offsetsRetentionDefault           = 7 * 24 * time.Hour // offsets.retention.minutes
	offsetsRetentionCheckDefault      = 10 * time.Minute   // offsets.retention.check.interval.ms
	groupWriteTimeout                 = 30 * time.Second   // a group write not applied by then fails
)

// Classic group states, named as DescribeGroups and ListGroups report them.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s groupState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	}
	return "Dead"
}

// liveGroup is the coordinator's session state of one classic group: who is
// in it, who it waits for, and when members expire. Its generation,
// protocol, leader and members' subscriptions and assignments mirror the
// fold's group metadata once written; between a rebalance's start and the
// write of its generation they are the coordinator's plan.
type liveGroup struct {
	name  string
	part  uint64 // the coordinator partition's raft group
	state groupState
	// stateSince is when the group entered state (CurrentStateTimestamp).
	stateSince time.Time

	protocolType string
	protocol     string // chosen at the end of a join phase
	generation   int32
	leader       string
	members      map[string]*liveMember
	// instances maps a static member's group.instance.id to its member id.
	instances map[string]string
	// pendingMembers are dynamic members given an id (MEMBER_ID_REQUIRED)
	// that have not joined with it yet, each with the time it expires.
	pendingMembers map[string]time.Time

	// joinDeadline ends the join phase of a rebalance (the largest
	// rebalance timeout of the members, or the initial delay of an
	// empty group's first join).
	joinDeadline time.Time
	// initialDelayUntil: an empty group's first join waits this long for
	// others (group.initial.rebalance.delay.ms), extended by each new
	// joiner up to the rebalance timeout.
	initialDelayUntil time.Time
	// writing: a generation or assignment write is in flight; the group
	// waits for it before changing again.
	writing bool
	// afterWrite are the requests that arrived during the write, run
	// in order once it applied.
	afterWrite []func()

	// timerAt is the time of this group's entry in the node's coordinator
	// timer heap (zero: none).
	timerAt time.Time
}

type liveMember struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []memberProtocol
	assignment       []byte
	// expires is when the member's session ends without a heartbeat.
	expires time.Time
	// join and sync are the member's held JoinGroup and SyncGroup
	// answers, if it is waiting for one.
	join *heldAnswer
	sync *heldAnswer
	// joined: the member has (re)joined in the current join phase.
	joined bool
}

type memberProtocol struct {
	name     string
	metadata []byte
}

// heldAnswer is a request whose answer waits for the group: a slot to fill
// and a function that builds the answer (given the error code).
type heldAnswer struct {
	cn     *conn
	s      *slot
	corr   int32
	answer func(code int16)
}

// heldRef names a group a connection holds an answer in.
type heldRef struct {
	group uint64
	name  string
}

// noteHeld records that cn holds an answer in a group (once per group).
func (cn *conn) noteHeld(lg *liveGroup) {
	if cn.heldGroups == nil {
		cn.heldGroups = map[heldRef]bool{}
	}
	cn.heldGroups[heldRef{lg.part, lg.name}] = true
}

// releaseHeld lets go of the JoinGroup and SyncGroup answers a closed
// connection waited for. Nobody can read them: a member whose join was held
// there has not rejoined, as far as the join phase goes (a live client
// sends its JoinGroup again on a new connection), and its session runs
// from now. Kafka, which does not see the close, keeps such a member in the
// next generation, as its leader if it led, and the group waits a session
// for it.
func (n *Node) releaseHeld(cn *conn) {
	refs := make([]heldRef, 0, len(cn.heldGroups))
	for ref := range cn.heldGroups {
		refs = append(refs, ref)
	}
	slices.SortFunc(refs, func(a, b heldRef) int {
		if a.group != b.group {
			return cmp.Compare(a.group, b.group)
		}
		return strings.Compare(a.name, b.name)
	})
	cn.heldGroups = nil
	for _, ref := range refs {
		g := n.groups[ref.group]
		if g == nil || g.part == nil || g.part.coord == nil || g.part.coord.live == nil {
			continue
		}
		lg := g.part.coord.live[ref.name]
		if lg == nil {
			continue
		}
		for _, m := range lg.sortedMembers() {
			if m.join != nil && m.join.cn == cn {
				m.join = nil
				m.joined = false
				m.expires = n.now.Add(m.sessionTimeout)
			}
			if m.sync != nil && m.sync.cn == cn {
				m.sync = nil
				m.expires = n.now.Add(m.sessionTimeout)
			}
		}
		n.scheduleGroup(g, lg)
	}
}

// javaStringHash is Java's String.hashCode over the UTF-16 code units.
func javaStringHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// coordinatorPartition is Kafka's partitionFor: Utils.abs(hashCode) % n
// (Utils.abs maps MinInt32 to 0).
func coordinatorPartition(groupID string, partitions int) int32 {
	h := javaStringHash(groupID)
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % int32(partitions)
}

// CoordinatorPartition is the __consumer_offsets partition of a group, of
// partitions (the simulator aims faults at a group's coordinator with it).
func CoordinatorPartition(groupID string, partitions int) int32 {
	return coordinatorPartition(groupID, partitions)
}

// OffsetsTopic is the internal topic groups live in, of
// OffsetsPartitionsDefault partitions unless Config says otherwise.
const (
	OffsetsTopic             = offsetsTopic
	OffsetsPartitionsDefault = offsetsPartitionsDefault
)

func (n *Node) offsetsPartitions() int32 {
	return n.cfg.OffsetsPartitions
}

// ensureOffsetsTopic creates __consumer_offsets if it does not exist yet
// (through the metadata group, as any topic).
func (n *Node) ensureOffsetsTopic() {
	if n.meta.topics[offsetsTopic] == nil {
		n.createTopicAsync(offsetsTopic, n.offsetsPartitions())
	}
}

// coordinatorGroup is the raft group of a group id's __consumer_offsets
// partition and the partition's index (nil if the topic does not exist).
func (n *Node) coordinatorGroup(groupID string) (uint64, int32, bool) {
	t := n.meta.topics[offsetsTopic]
	if t == nil || len(t.partitions) == 0 {
		return 0, 0, false
	}
	p := coordinatorPartition(groupID, len(t.partitions))
	return t.partitions[p].group, p, true
}

// coordinatorNode is who coordinates a group, for FindCoordinator: this
// node if it leads and serves the partition, else the leader this node
// knows of. COORDINATOR_NOT_AVAILABLE while none is known (the topic is
// created on the first ask).
func (n *Node) coordinatorNode(groupID string) (int32, int16) {
	gid, p, ok := n.coordinatorGroup(groupID)
	if !ok {
		n.ensureOffsetsTopic()
		return -1, kerr.CoordinatorNotAvailable.Code
	}
	if g := n.groups[gid]; g != nil && g.leader {
		// Serving or still loading: clients come here either way (a
		// loading one answers COORDINATOR_LOAD_IN_PROGRESS, which they
		// retry at the same coordinator).
		return int32(n.cfg.ID), 0
	}
	lead, _ := n.knownLeader(offsetsTopic, p)
	if lead < 0 || n.meta.fenced[lead] {
		return -1, kerr.CoordinatorNotAvailable.Code
	}
	if _, ok := n.meta.brokers[lead]; !ok && lead != int32(n.cfg.ID) {
		return -1, kerr.CoordinatorNotAvailable.Code
	}
	return lead, 0
}

// coordinatorFor is the coordinator state of a group if this node
// coordinates it and has loaded it: NOT_COORDINATOR if it does not lead the
// group's partition (or the topic does not exist yet),
// COORDINATOR_LOAD_IN_PROGRESS while it leads but has not applied an entry
// of its term.
func (n *Node) coordinatorFor(groupID string) (*group, *coordState, int16) {
	gid, _, ok := n.coordinatorGroup(groupID)
	if !ok {
		n.ensureOffsetsTopic()
		return nil, nil, kerr.NotCoordinator.Code
	}
	g := n.groups[gid]
	if g == nil || !g.leader || g.part == nil || g.part.coord == nil {
		return nil, nil, kerr.NotCoordinator.Code
	}
	if !g.serving() {
		return nil, nil, kerr.CoordinatorLoadInProgress.Code
	}
	n.loadCoordinator(g)
	return g, g.part.coord, 0
}

// groupCoordinator starts every group request: the group id is checked
// (INVALID_GROUP_ID), then the coordinator state found as coordinatorFor
// finds it.
func (n *Node) groupCoordinator(groupID string) (*group, *coordState, int16) {
	if groupID == "" || len(groupID) > groupIDBytesMax {
		return nil, nil, kerr.InvalidGroupID.Code
	}
	return n.coordinatorFor(groupID)
}

// loadCoordinator builds the leader's session state of its term from the
// fold: every group with metadata comes back in its last written state
// (Stable if its generation had an assignment written, CompletingRebalance
// if not, Empty without members), each member with a fresh session.
func (n *Node) loadCoordinator(g *group) {
	cs := g.part.coord
	if cs.live != nil && cs.loadedTerm == g.term {
		return
	}
	cs.live = map[string]*liveGroup{}
	cs.loadedTerm = g.term
	for _, r := range cs.sortedGroups() {
		if r.meta == nil {
			continue
		}
		lg := n.liveFromRec(r)
		lg.part = g.id
		cs.live[r.name] = lg
		n.scheduleGroup(g, lg)
	}
	n.cgLeaderOf(g, cs) // the KIP-848 groups' sessions (consumer_group_heartbeat.go)
}

func (n *Node) liveFromRec(r *groupRec) *liveGroup {
	m := r.meta
	lg := &liveGroup{
		name:           r.name,
		stateSince:     n.now,
		protocolType:   m.ProtocolType,
		generation:     m.Generation,
		members:        map[string]*liveMember{},
		instances:      map[string]string{},
		pendingMembers: map[string]time.Time{},
	}
	if m.Protocol != nil {
		lg.protocol = *m.Protocol
	}
	if m.Leader != nil {
		lg.leader = *m.Leader
	}
	assigned := false
	for i := range m.Members {
		mm := &m.Members[i]
		lm := &liveMember{
			id:               mm.MemberID,
			instanceID:       mm.InstanceID,
			clientID:         mm.ClientID,
			clientHost:       mm.ClientHost,
			sessionTimeout:   time.Duration(mm.SessionTimeoutMillis) * time.Millisecond,
			rebalanceTimeout: time.Duration(mm.RebalanceTimeoutMillis) * time.Millisecond,
			protocolType:     m.ProtocolType,
			protocols:        []memberProtocol{{name: lg.protocol, metadata: mm.Subscription}},
			assignment:       mm.Assignment,
		}
		if lm.rebalanceTimeout <= 0 {
			lm.rebalanceTimeout = lm.sessionTimeout
		}
		lm.expires = n.now.Add(lm.sessionTimeout)
		if mm.Assignment != nil {
			assigned = true
		}
		lg.members[lm.id] = lm
		if lm.instanceID != nil {
			lg.instances[*lm.instanceID] = lm.id
		}
	}
	switch {
	case len(lg.members) == 0:
		lg.state = stateEmpty
	case assigned:
		lg.state = stateStable
	default:
		lg.state = stateCompletingRebalance
	}
	return lg
}

// dropCoordinator forgets a partition's session state when this node stops
// leading it: every held answer gets NOT_COORDINATOR, and clients find the
// new coordinator.
func (n *Node) dropCoordinator(g *group) {
	if g.part == nil || g.part.coord == nil || g.part.coord.live == nil {
		return
	}
	cs := g.part.coord
	live := cs.live
	cs.live = nil
	names := make([]string, 0, len(live))
	for name := range live {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		lg := live[name]
		for _, m := range lg.sortedMembers() {
			m.answerJoin(kerr.NotCoordinator.Code)
			m.answerSync(kerr.NotCoordinator.Code)
		}
	}
}

func (lg *liveGroup) sortedMembers() []*liveMember {
	ids := make([]string, 0, len(lg.members))
	for id := range lg.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*liveMember, len(ids))
	for i, id := range ids {
		out[i] = lg.members[id]
	}
	return out
}

func (m *liveMember) answerJoin(code int16) {
	if h := m.join; h != nil {
		m.join = nil
		h.answer(code)
	}
}

func (m *liveMember) answerSync(code int16) {
	if h := m.sync; h != nil {
		m.sync = nil
		h.answer(code)
	}
}

// writeGroup proposes records to a coordinator partition behind a guard;
// done hears the apply's answer (0, or the guard's or raft's error; a
// write that loses leadership or times out answers NOT_COORDINATOR, whose
// outcome clients treat as unknown and retry).
func (n *Node) writeGroup(g *group, gd groupGuard, recs []wire.Record, done func(code int16)) {
	batch := groupRecordsBatch(n.now.UnixMilli(), recs)
	// The write is the coordinator's, not the asking connection's: its
	// effects on the group must land even if that connection closes.
	handling := n.handling
	n.handling = nil
	defer func() { n.handling = handling }()
	n.propose(g, cmdGroupWrite, appendGroupWrite(nil, gd, batch), n.now.Add(groupWriteTimeout),
		func(res any) { done(res.(groupWriteResult).code) },
		func(int16) { done(kerr.NotCoordinator.Code) })
}

// Coordinator timers: each live group has at most one live entry in
// Node.coordTimers (a timer with id the partition's raft group and name the
// group), at or before its earliest deadline: a later deadline keeps the
// earlier entry, which finds nothing due and reschedules, so heartbeats
// moving a session's end do not grow the heap. Entries whose group is gone
// or whose time no longer matches are skipped.
func (n *Node) scheduleGroup(g *group, lg *liveGroup) {
	at := lg.nextDeadline(n.now)
	if at.IsZero() || !lg.timerAt.IsZero() && !at.Before(lg.timerAt) {
		return
	}
	lg.timerAt = at
	n.timerSeq++
	n.coordTimers.push(timer{at: at, seq: n.timerSeq, id: g.id, name: lg.name})
}

// expireGroups runs the coordinator timers that are due (from Tick).
func (n *Node) expireGroups() {
	// Those due now, taken first: what they schedule is for later Ticks.
	var due []timer
	for len(n.coordTimers) > 0 && !n.now.Before(n.coordTimers[0].at) {
		due = append(due, n.coordTimers.pop())
	}
	for _, t := range due {
		g := n.groups[t.id]
		if g == nil || g.part == nil || g.part.coord == nil || g.part.coord.live == nil || !g.leader {
			continue
		}
		lg := g.part.coord.live[t.name]
		if lg == nil && n.consumerGroupTimer(g, t) {
			continue // a KIP-848 group's (consumer_group_heartbeat.go)
		}
		if lg == nil || !lg.timerAt.Equal(t.at) {
			continue
		}
		lg.timerAt = time.Time{}
		if lg.writing {
			// The write's end reschedules. Rescheduling here would
			// push the same past deadline again and spin: a join
			// phase whose deadline passed during the write (all
			// members left at once: a deadline of now) never ends.
			continue
		}
		n.groupTimer(g, lg)
		if g.part.coord.live != nil && g.part.coord.live[t.name] == lg {
			n.scheduleGroup(g, lg)
		}
	}
}

// nextGroupDeadline is the earliest coordinator timer (zero if none).
func (n *Node) nextGroupDeadline() time.Time {
	if len(n.coordTimers) == 0 {
		return time.Time{}
	}
	return n.coordTimers[0].at
}
