package node

// ConsumerGroupHeartbeat (key 68), v0–v1: the KIP-848 consumer group
// protocol, in which the coordinator assigns (server-side assignors
// "uniform" and "range") and each member converges to its target one
// heartbeat at a time (group848.go). v1 adds SubscribedTopicRegex and has
// the client choose its member id (KIP-1082); v0 members get one from the
// coordinator on joining.
//
// A heartbeat that changes what Kafka persists for the group (its epoch,
// members, target assignment, a member's epoch or partitions) is answered
// only once its records (consumer_group_records.go) have applied; each
// group has at most one such write in flight, and heartbeats arriving
// meanwhile run after it, against the state it left. One that changes
// nothing persisted (a keepalive) is answered at once. Sessions
// (group.consumer.session.timeout.ms, 45s) and rebalance timeouts run on
// the coordinator leader's clock, rebuilt fresh for every member when a
// node starts leading the partition.
//
// A classic group with members is not converted: the heartbeat answers
// GROUP_ID_NOT_FOUND (Kafka with group.consumer.migration.policy=disabled);
// an empty classic group is replaced (its metadata tombstoned in the same
// write), as Kafka does.

import (
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// guardConsumer is a consumer group write's guard: the group's count of
// applied writes (cgGroup.writes) must still be the one the write was
// computed at.
const guardConsumer guardKind = 16

// cgAfterWriteMax bounds the heartbeats one group holds during a write.
const cgAfterWriteMax = 2 * cgMembersMax

// cgExpireRetry is how long a coordinator waits to expire members again
// after the write removing them failed: their deadlines have passed, so
// scheduling on them would run the timer again at once, every Tick, while
// proposals are refused (raft dropping them while it cannot commit).
const cgExpireRetry = 200 * time.Millisecond

// cgLeader is the coordinator leader's session state of one partition's
// consumer groups, for one raft term.
type cgLeader struct {
	term   uint64
	groups map[string]*cgLive
}

type cgLive struct {
	writing bool
	after   []func()
	timerAt time.Time
}

func (l *cgLeader) live(name string) *cgLive {
	lv := l.groups[name]
	if lv == nil {
		lv = &cgLive{}
		l.groups[name] = lv
	}
	return lv
}

// checkConsumerWrite is guardConsumer's check at apply. A stale write is
// answered NOT_COORDINATOR: its heartbeat's outcome is unknown to the
// client, which sends it again.
func (cs *coordState) checkConsumerWrite(gd groupGuard) int16 {
	writes := int32(0)
	if cg := cs.consumer[gd.group]; cg != nil {
		writes = cg.writes
	}
	if writes != gd.gen {
		return kerr.NotCoordinator.Code
	}
	return 0
}

// consumerWriteApplied counts a guarded write that applied.
func (cs *coordState) consumerWriteApplied(group string) {
	if cg := cs.consumer[group]; cg != nil {
		cg.writes++
	}
}

// metaTopics is the metadata as a consumer group reads it.
type metaTopics struct{ m *metaState }

func (t metaTopics) topicByName(name string) ([16]byte, int32, bool) {
	tm := t.m.topics[name]
	if tm == nil {
		return [16]byte{}, 0, false
	}
	return tm.id, int32(len(tm.partitions)), true
}

// topicNames lists what a regex may match: internal topics are left out,
// as Kafka's coordinator leaves them out.
func (t metaTopics) topicNames() []string {
	var out []string
	for _, tm := range t.m.sortedTopics() {
		if !isInternalTopic(tm.name) {
			out = append(out, tm.name)
		}
	}
	return out
}

// cgLeaderOf is the partition's consumer group session state for this
// term, rebuilt when the term changed: every member gets a fresh session
// (and a fresh rebalance timeout if it is revoking), as Kafka schedules
// them when a coordinator loads.
func (n *Node) cgLeaderOf(g *group, cs *coordState) *cgLeader {
	if cs.cgLeader != nil && cs.cgLeader.term == g.term {
		return cs.cgLeader
	}
	l := &cgLeader{term: g.term, groups: map[string]*cgLive{}}
	cs.cgLeader = l
	now := n.now.UnixMilli()
	for _, name := range sortedKeys(cs.consumer) {
		for _, m := range cs.consumer[name].sortedMembers() {
			m.sessionDeadlineMs = now + cgEnv{sessionMs: n.cfg.ConsumerGroupSessionTimeout.Milliseconds()}.session()
			m.rebalDeadlineMs = 0
			if m.revoking.count() > 0 {
				m.rebalDeadlineMs = now + int64(m.rebalMs)
			}
		}
		n.scheduleCG(g, l, cs, name)
	}
	return l
}

func (n *Node) handleConsumerGroupHeartbeat(cn *conn, corr int32, req *kmsg.ConsumerGroupHeartbeatRequest) {
	s := n.newSlot(cn)
	answer := func(resp *kmsg.ConsumerGroupHeartbeatResponse) { n.fill(cn, s, corr, resp) }
	n.consumerHeartbeat(req, n.handlingClient, answer)
}

// consumerHeartbeat runs one heartbeat; answer hears its response, at once
// or once the group's write applied.
func (n *Node) consumerHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, clientID string, answer func(*kmsg.ConsumerGroupHeartbeatResponse)) {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(code int16, msg string) {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		answer(resp)
	}
	if err, msg := validateCGHeartbeat(req); err != nil {
		fail(err.Code, msg)
		return
	}
	if len(req.Group) > groupIDBytesMax {
		fail(kerr.InvalidGroupID.Code, "")
		return
	}
	g, cs, code := n.coordinatorFor(req.Group)
	if code != 0 {
		fail(code, "")
		return
	}
	l := n.cgLeaderOf(g, cs)
	lv := l.live(req.Group)
	if lv.writing {
		if len(lv.after) >= cgAfterWriteMax {
			fail(kerr.CoordinatorNotAvailable.Code, "")
			return
		}
		lv.after = append(lv.after, func() { n.consumerHeartbeat(req, clientID, answer) })
		return
	}

	// A classic group of that name: one with members stays classic; an
	// empty one is replaced.
	tombstoneClassic := false
	if lg := cs.live[req.Group]; lg != nil && (len(lg.members) > 0 || lg.writing) {
		fail(kerr.GroupIDNotFound.Code, "Group "+req.Group+" is not a consumer group.")
		return
	}
	if r := cs.group(req.Group); r != nil && r.meta != nil {
		if len(r.meta.Members) > 0 {
			fail(kerr.GroupIDNotFound.Code, "Group "+req.Group+" is not a consumer group.")
			return
		}
		tombstoneClassic = true
	}

	old := cs.consumer[req.Group]
	if old == nil && len(cs.consumer)+len(cs.live) >= groupsPerPartitionMax {
		fail(kerr.CoordinatorNotAvailable.Code, "")
		return
	}
	work := newCGGroup(req.Group)
	if old != nil {
		work = old.clone()
	}
	env := cgEnv{
		nowMs:      n.now.UnixMilli(),
		sessionMs:  n.cfg.ConsumerGroupSessionTimeout.Milliseconds(),
		intervalMs: n.cfg.ConsumerGroupHeartbeatInterval.Milliseconds(),
		clientID:   clientID,
		clientHost: "/",
		topics:     metaTopics{n.meta},
		newID:      func() string { return strings.TrimPrefix(n.newMemberID(""), "-") },
		bug:        n.cfg.Bug,
	}
	resp = work.heartbeat(req, env)
	if resp.ErrorCode != 0 {
		answer(resp)
		return
	}
	recs := cgRecords(old, work)
	if tombstoneClassic {
		recs = append([]wire.Record{{Key: groupMetadataKey(req.Group)}}, recs...)
	}
	if len(recs) == 0 {
		// Nothing persisted changed: keep the session, answer now.
		n.keepLeaderState(old, work)
		n.scheduleCG(g, l, cs, req.Group)
		answer(resp)
		return
	}
	before := int32(0)
	if old != nil {
		before = old.writes
	}
	lv.writing = true
	n.writeGroup(g, groupGuard{kind: guardConsumer, group: req.Group, gen: before}, recs, func(code int16) {
		lv.writing = false
		if code == 0 {
			if tombstoneClassic && cs.live != nil {
				if lg := cs.live[req.Group]; lg != nil && len(lg.members) == 0 && !lg.writing {
					delete(cs.live, req.Group)
				}
			}
			n.keepLeaderState(cs.consumer[req.Group], work)
			n.scheduleCG(g, l, cs, req.Group)
			answer(resp)
		} else {
			fail(code, "")
		}
		after := lv.after
		lv.after = nil
		for _, f := range after {
			f()
		}
	})
}

// keepLeaderState copies the leader-only deadlines from the group a
// heartbeat worked on into the fold's (which has the persisted fields).
func (n *Node) keepLeaderState(fold, work *cgGroup) {
	if fold == nil {
		return
	}
	for id, m := range fold.members {
		if w := work.members[id]; w != nil {
			m.sessionDeadlineMs, m.rebalDeadlineMs = w.sessionDeadlineMs, w.rebalDeadlineMs
		}
	}
}

// nextDeadline is a consumer group's earliest session or rebalance deadline
// (0: none).
func (g *cgGroup) nextDeadline() int64 {
	var at int64
	for _, m := range g.members {
		for _, d := range []int64{m.sessionDeadlineMs, m.rebalDeadlineMs} {
			if d != 0 && (at == 0 || d < at) {
				at = d
			}
		}
	}
	return at
}

// scheduleCG puts a consumer group's next deadline in the coordinator timer
// heap (coordinator.go), as scheduleGroup does for classic groups: an
// earlier entry stays and reschedules when it finds nothing due.
func (n *Node) scheduleCG(g *group, l *cgLeader, cs *coordState, name string) {
	n.scheduleCGAfter(g, l, cs, name, time.Time{})
}

// scheduleCGAfter is scheduleCG, no earlier than notBefore.
func (n *Node) scheduleCGAfter(g *group, l *cgLeader, cs *coordState, name string, notBefore time.Time) {
	cg := cs.consumer[name]
	if cg == nil {
		return
	}
	ms := cg.nextDeadline()
	if ms == 0 {
		return
	}
	at := time.UnixMilli(ms)
	if at.Before(notBefore) {
		at = notBefore
	}
	lv := l.live(name)
	if !lv.timerAt.IsZero() && !at.Before(lv.timerAt) {
		return
	}
	lv.timerAt = at
	n.timerSeq++
	n.coordTimers.push(timer{at: at, seq: n.timerSeq, id: g.id, name: name})
}

// consumerGroupTimer runs a due coordinator timer of a consumer group:
// members past their session or rebalance timeout are removed (one write).
// It reports whether the timer was a consumer group's.
func (n *Node) consumerGroupTimer(g *group, t timer) bool {
	cs := g.part.coord
	l := cs.cgLeader
	if l == nil || l.term != g.term || cs.consumer[t.name] == nil {
		return false
	}
	lv := l.live(t.name)
	if !lv.timerAt.Equal(t.at) {
		return true // superseded
	}
	lv.timerAt = time.Time{}
	if lv.writing {
		lv.after = append(lv.after, func() { n.expireConsumerGroup(g, l, cs, t.name) })
		return true
	}
	n.expireConsumerGroup(g, l, cs, t.name)
	return true
}

func (n *Node) expireConsumerGroup(g *group, l *cgLeader, cs *coordState, name string) {
	old := cs.consumer[name]
	if old == nil || cs.cgLeader != l || !g.leader {
		return
	}
	lv := l.live(name)
	if lv.writing {
		lv.after = append(lv.after, func() { n.expireConsumerGroup(g, l, cs, name) })
		return
	}
	work := old.clone()
	if gone := work.expire(n.now.UnixMilli(), metaTopics{n.meta}); len(gone) == 0 {
		n.scheduleCG(g, l, cs, name)
		return
	}
	lv.writing = true
	n.writeGroup(g, groupGuard{kind: guardConsumer, group: name, gen: old.writes}, cgRecords(old, work), func(code int16) {
		lv.writing = false
		retry := time.Time{}
		if code == 0 {
			n.keepLeaderState(cs.consumer[name], work)
		} else {
			retry = n.now.Add(cgExpireRetry)
		}
		if cs.cgLeader == l {
			n.scheduleCGAfter(g, l, cs, name, retry)
		}
		after := lv.after
		lv.after = nil
		for _, f := range after {
			f()
		}
	})
}

// isConsumerGroup says whether a group id names a KIP-848 consumer group
// with members in this partition: the classic APIs answer it
// INCONSISTENT_GROUP_PROTOCOL (JoinGroup) as Kafka does when it does not
// convert.
func (cs *coordState) isConsumerGroup(name string) bool {
	cg := cs.consumer[name]
	return cg != nil && len(cg.members) > 0
}

// consumerGroupCommitCheck is for OffsetCommit and OffsetFetch from members
// of a consumer group (owned by the offsets handlers): whether the group is
// a KIP-848 one, and if so the error to answer (0: allowed). A commit's
// generation is the member epoch: with no member id and a negative epoch it
// is a commit from outside the group, allowed only while the group has no
// members; otherwise the member must exist (UNKNOWN_MEMBER_ID) and, from
// OffsetCommit v9, be at that epoch (STALE_MEMBER_EPOCH); before v9 a
// consumer-protocol member cannot commit (UNSUPPORTED_VERSION), as Kafka's
// ConsumerGroup.validateOffsetCommit.
func (cs *coordState) consumerGroupCommitCheck(group, member string, epoch int32, version int16) (isConsumer bool, code int16) {
	cg := cs.consumer[group]
	if cg == nil {
		return false, 0
	}
	if epoch < 0 && member == "" && len(cg.members) == 0 {
		return true, 0
	}
	m := cg.members[member]
	switch {
	case version < 9 && m != nil:
		return true, kerr.UnsupportedVersion.Code
	case m == nil:
		return true, kerr.UnknownMemberID.Code
	case epoch != m.epoch:
		return true, kerr.StaleMemberEpoch.Code
	}
	return true, 0
}

// consumerGroupFetchCheck is for OffsetFetch (v9+ carries MemberID and
// MemberEpoch) on a KIP-848 group: a fetch naming no member (epoch < 0) is
// an admin's and always allowed; one naming a member needs it in the group
// (UNKNOWN_MEMBER_ID) at that epoch (STALE_MEMBER_EPOCH), as Kafka's
// ConsumerGroup.validateOffsetFetch.
func (cs *coordState) consumerGroupFetchCheck(group, member string, epoch int32) (isConsumer bool, code int16) {
	cg := cs.consumer[group]
	if cg == nil {
		return false, 0
	}
	if epoch < 0 && member == "" {
		return true, 0
	}
	m := cg.members[member]
	switch {
	case m == nil:
		return true, kerr.UnknownMemberID.Code
	case epoch != m.epoch:
		return true, kerr.StaleMemberEpoch.Code
	}
	return true, 0
}

// cgListing is one KIP-848 group as ListGroups reports it (its group type
// and protocol type are both "consumer").
type cgListing struct {
	name  string
	state string // Empty, Assigning, Reconciling, Stable
}

// consumerGroupListing lists the partition's KIP-848 groups by name, for
// ListGroups (owned by the classic handlers). DescribeGroups of one answers
// GROUP_ID_NOT_FOUND, as Kafka does for a group that is not classic.
func (cs *coordState) consumerGroupListing() []cgListing {
	var out []cgListing
	for _, name := range sortedKeys(cs.consumer) {
		out = append(out, cgListing{name: name, state: cs.consumer[name].state()})
	}
	return out
}

// groupTypeConsumer is ListGroups' type (and protocol type) of a KIP-848
// group.
const groupTypeConsumer = "consumer"

// consumerGroupDeleteRecords are the records that delete a KIP-848 group
// (DeleteGroups; its offsets are the caller's): NON_EMPTY_GROUP while it
// has members, else the tombstones of its target assignment epoch and its
// group epoch, written last as Kafka writes them.
func (cs *coordState) consumerGroupDeleteRecords(name string) ([]wire.Record, int16) {
	cg := cs.consumer[name]
	if cg == nil {
		return nil, kerr.GroupIDNotFound.Code
	}
	if len(cg.members) > 0 {
		return nil, kerr.NonEmptyGroup.Code
	}
	return cs.consumerGroupTombstones(name), 0
}

// consumerGroupTombstones are a KIP-848 group's deletion records, for
// DeleteGroups and a classic join's conversion (nil if there is no such
// group). Written under guardNoMembers, they apply only while the group has
// no members.
func (cs *coordState) consumerGroupTombstones(name string) []wire.Record {
	if cs.consumer[name] == nil {
		return nil
	}
	return []wire.Record{
		{Key: cgKey(keyVersionCGTargetMetadata, name, "", false)},
		{Key: cgKey(keyVersionCGMetadata, name, "", false)},
	}
}

// consumerSubscribedTopics are the topics some member of a KIP-848 group
// subscribes to (names and regex matches): offset expiry keeps their
// offsets however old.
func (cs *coordState) consumerSubscribedTopics(name string, t cgTopics) map[string]bool {
	out := map[string]bool{}
	if cg := cs.consumer[name]; cg != nil {
		for _, m := range cg.sortedMembers() {
			for _, n := range m.topics {
				out[n] = true // subscribed even if the topic is gone
			}
			for n := range m.subscribedTopics(t) {
				out[n] = true
			}
		}
	}
	return out
}
