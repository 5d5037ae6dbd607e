package node

// The classic group protocol's state machine (JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup, session and rebalance timers), as Kafka's
// coordinator runs it, with one difference of substance: a new generation
// is written to the log (its members and their subscriptions) before any
// member hears of it, and its assignment before any member receives it, so
// a generation number is never handed out twice across a coordinator
// failover and a zombie of an older one is fenced by the log itself.
//
// Every change of a group waits for the group write before it in flight
// (liveGroup.writing; requests arriving meanwhile run after it), so the
// session state is never ahead of what the log will hold.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// A member's join and sync answers are held one at a time; afterWrite
// holds the requests that arrive during a write, bounded.
const groupAfterWriteMax = 2 * membersPerGroupMax

// newLiveGroup is a group the coordinator has no session state for: empty,
// at the generation the log holds (0 for a group with offsets only).
func (n *Node) newLiveGroup(cs *coordState, name string) *liveGroup {
	return &liveGroup{
		name:           name,
		state:          stateEmpty,
		stateSince:     n.now,
		generation:     cs.group(name).generation(),
		members:        map[string]*liveMember{},
		instances:      map[string]string{},
		pendingMembers: map[string]time.Time{},
	}
}

// newMemberID is clientID-<uuid> as Kafka makes them, unique across nodes
// and runs without randomness: the uuid hashes this node, its incarnation
// and a counter.
func (n *Node) newMemberID(clientID string) string {
	n.memberSeq++
	var b [24]byte
	binary.BigEndian.PutUint64(b[0:], n.cfg.ID)
	binary.BigEndian.PutUint64(b[8:], n.cfg.Incarnation)
	binary.BigEndian.PutUint64(b[16:], n.memberSeq)
	h := sha256.Sum256(b[:])
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	if len(clientID) > groupIDBytesMax {
		clientID = clientID[:groupIDBytesMax]
	}
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", clientID, h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func (lg *liveGroup) setState(s groupState, now time.Time) {
	if lg.state != s {
		lg.state = s
		lg.stateSince = now
	}
}

// nextDeadline is the earliest time after now the group's timer has work
// (zero: none). Whatever was due by now the last groupTimer did, or cannot
// do yet: during a write nothing is (the write's end reschedules), and an
// initial delay that passed without every member joined waits for them or
// the join deadline.
func (lg *liveGroup) nextDeadline(now time.Time) time.Time {
	if lg.writing {
		return time.Time{}
	}
	var at time.Time
	earlier := func(t time.Time) {
		if t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	for _, t := range lg.pendingMembers {
		earlier(t)
	}
	for _, m := range lg.members {
		if m.join == nil && m.sync == nil {
			earlier(m.expires)
		}
	}
	if lg.state == statePreparingRebalance {
		earlier(lg.joinDeadline)
		earlier(lg.initialDelayUntil)
	}
	return at
}

// groupTimer expires pending members and sessions, and ends a join phase
// whose time is up.
func (n *Node) groupTimer(g *group, lg *liveGroup) {
	if lg.writing {
		return // the write's end reschedules
	}
	for _, id := range sortedKeys(lg.pendingMembers) {
		if !n.now.Before(lg.pendingMembers[id]) {
			delete(lg.pendingMembers, id)
		}
	}
	changed := false
	for _, m := range lg.sortedMembers() {
		if m.join == nil && m.sync == nil && !n.now.Before(m.expires) {
			n.removeMember(lg, m, kerr.UnknownMemberID.Code)
			changed = true
		}
	}
	if changed {
		n.membershipChanged(g, lg)
	}
	n.maybeCompleteJoin(g, lg)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// removeMember takes a member out (left, expired or fenced), answering
// whatever it waits for with code.
func (n *Node) removeMember(lg *liveGroup, m *liveMember, code int16) {
	m.answerJoin(code)
	m.answerSync(code)
	delete(lg.members, m.id)
	if m.instanceID != nil && lg.instances[*m.instanceID] == m.id {
		delete(lg.instances, *m.instanceID)
	}
}

// membershipChanged starts a rebalance after members left or expired, or
// completes the join phase if that was what it waited for.
func (n *Node) membershipChanged(g *group, lg *liveGroup) {
	switch lg.state {
	case stateStable, stateCompletingRebalance:
		n.prepareRebalance(g, lg)
	case statePreparingRebalance:
		n.maybeCompleteJoin(g, lg)
	case stateEmpty:
		if len(lg.members) > 0 {
			n.prepareRebalance(g, lg)
		}
	}
}

// prepareRebalance starts a join phase: every member must rejoin within the
// largest rebalance timeout; held syncs of the old generation are answered
// REBALANCE_IN_PROGRESS.
func (n *Node) prepareRebalance(g *group, lg *liveGroup) {
	for _, m := range lg.sortedMembers() {
		m.answerSync(kerr.RebalanceInProgress.Code)
		m.joined = m.join != nil
	}
	var timeout time.Duration
	for _, m := range lg.members {
		timeout = max(timeout, m.rebalanceTimeout)
	}
	if lg.state == stateEmpty {
		// An empty group's first join waits for others to come
		// (group.initial.rebalance.delay.ms), within the rebalance timeout.
		delay := min(n.cfg.GroupInitialRebalanceDelay, timeout)
		lg.initialDelayUntil = n.now.Add(delay)
	} else {
		lg.initialDelayUntil = time.Time{}
	}
	lg.joinDeadline = n.now.Add(timeout)
	lg.setState(statePreparingRebalance, n.now)
	n.maybeCompleteJoin(g, lg)
	n.scheduleGroup(g, lg)
}

// maybeCompleteJoin ends the join phase when every member rejoined and no
// member given an id is still to come, or when its time is up.
func (n *Node) maybeCompleteJoin(g *group, lg *liveGroup) {
	if lg.state != statePreparingRebalance || lg.writing {
		return
	}
	timeUp := !n.now.Before(lg.joinDeadline)
	if !timeUp && n.now.Before(lg.initialDelayUntil) {
		return
	}
	all := len(lg.pendingMembers) == 0
	for _, m := range lg.members {
		all = all && m.joined
	}
	if !all && !timeUp {
		return
	}
	n.completeJoin(g, lg)
}

// completeJoin writes the next generation: the members that rejoined, the
// protocol they agree on and the leader. Members that did not rejoin are
// removed. Their JoinGroup answers leave once the write applied.
func (n *Node) completeJoin(g *group, lg *liveGroup) {
	for _, m := range lg.sortedMembers() {
		if !m.joined {
			n.removeMember(lg, m, kerr.UnknownMemberID.Code)
		}
	}
	clear(lg.pendingMembers)
	next := lg.generation + 1
	members := lg.sortedMembers()
	protocol, leader := "", ""
	if len(members) > 0 {
		protocol = lg.selectProtocol()
		leader = lg.leader
		if lg.members[leader] == nil {
			leader = members[0].id
		}
	}
	cs := g.part.coord
	val := lg.metadataValue(next, protocol, leader, n.now, false)
	n.groupWrite(g, lg, groupGuard{kind: guardGeneration, group: lg.name, gen: lg.generation}, val, func(code int16) {
		if code != 0 {
			// Not written (timed out, or the log moved on without this
			// view): nobody heard of the generation. Every member must
			// join again, against the generation the log holds.
			lg.generation = cs.group(lg.name).generation()
			for _, m := range lg.sortedMembers() {
				m.answerJoin(code)
				m.joined = false
			}
			return
		}
		lg.generation, lg.protocol, lg.leader = next, protocol, leader
		for _, m := range lg.members {
			m.assignment = nil
			m.joined = false
		}
		if len(lg.members) == 0 {
			// The protocol type stays, as Kafka reports an empty group's
			// (the next member may bring another).
			lg.setState(stateEmpty, n.now)
			return
		}
		lg.setState(stateCompletingRebalance, n.now)
		for _, m := range lg.sortedMembers() {
			m.expires = n.now.Add(m.sessionTimeout)
			m.answerJoin(0)
		}
	})
}

// selectProtocol is the protocol every member supports that most members
// prefer (ties to the first in the leader-to-be's order).
func (lg *liveGroup) selectProtocol() string {
	members := lg.sortedMembers()
	var candidates []string
	for _, p := range members[0].protocols {
		ok := true
		for _, m := range members[1:] {
			ok = ok && m.supports(p.name)
		}
		if ok {
			candidates = append(candidates, p.name)
		}
	}
	votes := map[string]int{}
	for _, m := range members {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func (m *liveMember) supports(name string) bool {
	for _, p := range m.protocols {
		if p.name == name {
			return true
		}
	}
	return false
}

func (m *liveMember) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// metadataValue is the group metadata record of a generation: members with
// their subscription to the protocol and, once synced, their assignment.
func (lg *liveGroup) metadataValue(gen int32, protocol, leader string, now time.Time, withAssignment bool) *kmsg.GroupMetadataValue {
	v := kmsg.NewGroupMetadataValue()
	v.Version = valueVersionGroupMetadata
	v.ProtocolType = lg.protocolType
	v.Generation = gen
	v.CurrentStateTimestamp = now.UnixMilli()
	if protocol != "" {
		v.Protocol = &protocol
	}
	if leader != "" {
		v.Leader = &leader
	}
	for _, m := range lg.sortedMembers() {
		mm := kmsg.NewGroupMetadataValueMember()
		mm.MemberID = m.id
		mm.InstanceID = m.instanceID
		mm.ClientID = m.clientID
		mm.ClientHost = m.clientHost
		mm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		mm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		mm.Subscription = m.metadataFor(protocol)
		if withAssignment {
			mm.Assignment = m.assignment
		}
		v.Members = append(v.Members, mm)
	}
	return &v
}

// groupWrite writes a group metadata record, holding the group's other
// changes until it applied; then done runs, then what arrived meanwhile.
func (n *Node) groupWrite(g *group, lg *liveGroup, gd groupGuard, v *kmsg.GroupMetadataValue, done func(code int16)) {
	rec := wire.Record{Key: groupMetadataKey(lg.name), Value: v.AppendTo(nil)}
	n.groupWriteRecords(g, lg, gd, []wire.Record{rec}, done)
}

// groupWriteRecords is groupWrite of any records of the group (a delete's
// tombstones).
func (n *Node) groupWriteRecords(g *group, lg *liveGroup, gd groupGuard, recs []wire.Record, done func(code int16)) {
	lg.writing = true
	cs := g.part.coord
	finish := func(code int16) {
		if cs.live == nil || cs.live[lg.name] != lg {
			return // no longer coordinating it: its waiters were answered
		}
		lg.writing = false
		done(code)
		after := lg.afterWrite
		lg.afterWrite = nil
		for _, f := range after {
			if cs.live == nil || cs.live[lg.name] != lg {
				return
			}
			if lg.writing {
				lg.afterWrite = append(lg.afterWrite, f)
				continue
			}
			f()
		}
		if cs.live != nil && cs.live[lg.name] == lg {
			// A write refused as NOT_COORDINATOR may have failed inside
			// propose (raft dropped it: the node is no longer leader and
			// has not stepped down yet), so completing the join again now
			// would propose and fail again, recursing without end; the
			// timer retries it on the next Tick, by which time the node
			// has stepped down or leads again.
			if code != kerr.NotCoordinator.Code {
				n.maybeCompleteJoin(g, lg)
			}
			n.scheduleGroup(g, lg)
		}
	}
	switch n.cfg.Bug {
	case BugGroupStateInMemory:
		// Planted (KAFKA-2720, Redpanda #14487): generations and
		// membership are the coordinator's memory only; nothing of them
		// reaches the log (offsets still do), so the next coordinator
		// starts the group over.
		var kept []wire.Record
		for _, r := range recs {
			if !isGroupMetadataKey(r.Key) {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 {
			finish(0)
			return
		}
		recs = kept
	case BugMutateOnPropose:
		// Planted (KAFKA-9666, Redpanda #6018): the group takes its new
		// state, and members hear of it, as soon as it is proposed; the
		// write's outcome is not waited for.
		n.writeGroup(g, gd, recs, func(int16) {})
		finish(0)
		return
	}
	n.writeGroup(g, gd, recs, finish)
}

func isGroupMetadataKey(k []byte) bool {
	return len(k) >= 2 && int16(binary.BigEndian.Uint16(k)) == keyVersionGroupMetadata
}

// whenIdle runs f now, or after the group's write in flight; false if too
// much already waits (the caller answers COORDINATOR_NOT_AVAILABLE, which
// clients retry).
func (lg *liveGroup) whenIdle(f func()) bool {
	if !lg.writing {
		f()
		return true
	}
	if len(lg.afterWrite) >= groupAfterWriteMax {
		return false
	}
	lg.afterWrite = append(lg.afterWrite, f)
	return true
}

func sameProtocols(a, b []memberProtocol) bool {
	return slices.EqualFunc(a, b, func(x, y memberProtocol) bool {
		return x.name == y.name && bytes.Equal(x.metadata, y.metadata)
	})
}

// checkInstance validates a static member's instance id against the member
// id it claims: UNKNOWN_MEMBER_ID if the instance is unknown,
// FENCED_INSTANCE_ID if another member now holds it.
func (lg *liveGroup) checkInstance(instanceID *string, memberID string) int16 {
	if instanceID == nil {
		return 0
	}
	id, ok := lg.instances[*instanceID]
	if !ok {
		return kerr.UnknownMemberID.Code
	}
	if id != memberID {
		return kerr.FencedInstanceID.Code
	}
	return 0
}
