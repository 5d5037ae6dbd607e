package node

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"regexp"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The KIP-848 consumer group as a pure state machine: a ConsumerGroupHeartbeat
// in, the group changed and the answer out. It holds what Kafka 4.x
// persists for such a group (group epoch, members and their subscriptions,
// the target assignment and its epoch, each member's current assignment:
// epoch, previous epoch, state, assigned partitions, partitions pending
// revocation) plus two leader-only deadlines per member that are never
// persisted. The coordinator clones a group, runs a heartbeat on the clone,
// writes the difference as Kafka's records (consumer_group_records.go) and
// answers once they apply; every replica folds the same records into the
// same group.
//
// Revocation before reassignment: a partition is in at most one member's
// assigned or pending-revocation set (cgGroup.owners), and a member is given
// a partition of its target only while nobody else holds it there. A
// member's pending revocation is cleared only by its own heartbeat listing
// its owned partitions without them, or by the member leaving or being
// fenced.

const (
	// Kafka's group.consumer.session.timeout.ms and
	// group.consumer.heartbeat.interval.ms defaults.
	cgSessionTimeoutMs    = 45000
	cgHeartbeatIntervalMs = 5000
	// Kafka's default rebalance timeout when a member names none.
	cgRebalanceTimeoutMsDefault = 300000
	// Kafka's group.consumer.max.size is unbounded by default; one group's
	// members are held in the coordinator's memory, so ketch bounds them.
	cgMembersMax = membersPerGroupMax
	// Bounds on what one heartbeat may carry, and so on what one member
	// holds.
	cgSubscribedTopicsMax  = 10000
	cgSubscriptionBytesMax = 256 << 10 // the topic names of one subscription, together
	cgRegexBytesMax        = 1024
	cgOwnedPartitionsMax   = 100000
	cgStringBytesMax       = 1024
)

// Epochs a heartbeat carries with a meaning of their own.
const (
	cgJoinEpoch        = 0
	cgLeaveEpoch       = -1
	cgStaticLeaveEpoch = -2
)

// Member states, with the values Kafka's records use.
const (
	cgStable     int8 = 0
	cgUnrevoked  int8 = 1 // waiting for the member to release partitions it must revoke
	cgUnreleased int8 = 2 // waiting for other members to release partitions of its target
)

func cgStateName(s int8) string {
	switch s {
	case cgStable:
		return "stable"
	case cgUnrevoked:
		return "unrevoked_partitions"
	case cgUnreleased:
		return "unreleased_partitions"
	}
	return "unknown"
}

type cgMember struct {
	id         string
	instanceID string // "" for a dynamic member
	rackID     string
	clientID   string
	clientHost string
	topics     []string // sorted subscribed topic names
	regex      string   // SubscribedTopicRegex, "" for none
	assignor   string   // ServerAssignor the member named, "" for none
	rebalMs    int32

	epoch     int32
	prevEpoch int32
	state     int8
	assigned  partSet
	revoking  partSet
	target    partSet

	// Leader-only, never persisted: rebuilt when a coordinator loads.
	sessionDeadlineMs int64
	rebalDeadlineMs   int64 // 0: no revocation outstanding
}

type cgGroup struct {
	name        string
	epoch       int32
	metaHash    int64 // hash of the subscribed topics' metadata the target was computed on
	assignEpoch int32
	members     map[string]*cgMember
	// writes counts the coordinator's writes applied to the group (not a
	// Kafka record: derived from the log, carried in snapshots). Each
	// write is guarded by the count it was computed at, so one computed
	// from a state another write has since changed (the first timed out,
	// the second was computed without it) appends nothing.
	writes int32
}

func newCGGroup(name string) *cgGroup {
	return &cgGroup{name: name, members: map[string]*cgMember{}}
}

// cgTopics is the metadata a group reads: topics by name, and every name for
// regex subscriptions.
type cgTopics interface {
	topicByName(name string) (id [16]byte, partitions int32, ok bool)
	topicNames() []string // sorted
}

// cgEnv is what a heartbeat needs besides the request.
type cgEnv struct {
	nowMs      int64
	sessionMs  int64 // group.consumer.session.timeout.ms (0: the default)
	intervalMs int64 // group.consumer.heartbeat.interval.ms (0: the default)
	clientID   string
	clientHost string
	topics     cgTopics
	newID      func() string // a member id for a v0 join that brings none
	bug        string
}

func (env cgEnv) session() int64 {
	if env.sessionMs > 0 {
		return env.sessionMs
	}
	return cgSessionTimeoutMs
}

func (env cgEnv) interval() int32 {
	if env.intervalMs > 0 {
		return int32(min(env.intervalMs, 1<<31-1))
	}
	return cgHeartbeatIntervalMs
}

func (g *cgGroup) clone() *cgGroup {
	c := *g
	c.members = make(map[string]*cgMember, len(g.members))
	for id, m := range g.members {
		mc := *m
		mc.topics = append([]string(nil), m.topics...)
		mc.assigned, mc.revoking, mc.target = m.assigned.clone(), m.revoking.clone(), m.target.clone()
		c.members[id] = &mc
	}
	return &c
}

func (g *cgGroup) sortedMembers() []*cgMember {
	out := make([]*cgMember, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (g *cgGroup) byInstance(inst string) *cgMember {
	if inst == "" {
		return nil
	}
	// Instance ids are unique in a group, so map order cannot choose.
	for _, m := range g.members {
		if m.instanceID == inst {
			return m
		}
	}
	return nil
}

// state is the group state ConsumerGroupDescribe and ListGroups report.
func (g *cgGroup) state() string {
	active := 0
	reconciling := false
	for _, m := range g.members {
		if m.epoch == cgStaticLeaveEpoch {
			continue
		}
		active++
		if m.state != cgStable || m.epoch != g.assignEpoch {
			reconciling = true
		}
	}
	switch {
	case active == 0 && len(g.members) == 0:
		return "Empty"
	case g.assignEpoch != g.epoch:
		return "Assigning"
	case reconciling:
		return "Reconciling"
	}
	return "Stable"
}

// owners maps each partition to the member holding it, in its assigned set
// or pending revocation. With BugAssignBeforeRevoke the pending revocations
// are left out, as KAFKA-16147's partition epochs lost them.
func (g *cgGroup) owners(bug string) map[assignTP]string {
	out := map[assignTP]string{}
	for _, m := range g.sortedMembers() {
		for id, ps := range m.assigned {
			for _, p := range ps {
				out[assignTP{id: id, part: p}] = m.id
			}
		}
		if bug == BugAssignBeforeRevoke {
			continue
		}
		for id, ps := range m.revoking {
			for _, p := range ps {
				out[assignTP{id: id, part: p}] = m.id
			}
		}
	}
	return out
}

// subscribedTopics resolves one member's subscription against the metadata.
func (m *cgMember) subscribedTopics(t cgTopics) map[string]bool {
	subs := map[string]bool{}
	for _, name := range m.topics {
		if _, _, ok := t.topicByName(name); ok {
			subs[name] = true
		}
	}
	if m.regex != "" {
		if re, err := compileSubscriptionRegex(m.regex); err == nil {
			for _, name := range t.topicNames() {
				if re.MatchString(name) {
					subs[name] = true
				}
			}
		}
	}
	return subs
}

// compileSubscriptionRegex compiles a SubscribedTopicRegex. Kafka matches
// it against the whole topic name (RE2/J), so it is anchored here.
func compileSubscriptionRegex(s string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + s + ")$")
}

// subscriptionMeta lists the topics some member subscribes to and a
// hash of their ids and partition counts, which Kafka stores with the group
// epoch (ConsumerGroupMetadataValue's metadata hash) to notice a topic
// created, deleted or grown under a subscription.
func (g *cgGroup) subscriptionMeta(t cgTopics) ([]assignTopic, map[string]map[string]bool, int64) {
	names := map[string]bool{}
	subs := map[string]map[string]bool{}
	for _, m := range g.sortedMembers() {
		s := m.subscribedTopics(t)
		subs[m.id] = s
		for n := range s {
			names[n] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	h := sha256.New()
	var topics []assignTopic
	for _, n := range sorted {
		id, parts, _ := t.topicByName(n)
		topics = append(topics, assignTopic{name: n, id: id, partitions: parts})
		h.Write([]byte(n))
		h.Write(id[:])
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(parts))
		h.Write(b[:])
	}
	if len(sorted) == 0 {
		return nil, subs, 0
	}
	return topics, subs, int64(binary.BigEndian.Uint64(h.Sum(nil)))
}

// preferredAssignor is the server assignor most members name (ties to the
// first by name), or uniform, Kafka's first configured one.
func (g *cgGroup) preferredAssignor() string {
	counts := map[string]int{}
	for _, m := range g.members {
		if m.assignor != "" {
			counts[m.assignor]++
		}
	}
	best := assignorUniform
	bestN := 0
	for _, a := range []string{assignorRange, assignorUniform} {
		if counts[a] > bestN {
			best, bestN = a, counts[a]
		}
	}
	return best
}

// bumpEpoch starts a new group epoch and computes its target assignment.
func (g *cgGroup) bumpEpoch(t cgTopics) {
	g.epoch++
	g.computeTarget(t)
}

func (g *cgGroup) computeTarget(t cgTopics) {
	topics, subs, hash := g.subscriptionMeta(t)
	g.metaHash = hash
	var ms []assignMember
	prev := map[string]partSet{}
	// A static member away (epoch -2) is still a member: the assignor keeps
	// its partitions for it, so its return moves nothing.
	for _, m := range g.sortedMembers() {
		ms = append(ms, assignMember{id: m.id, instanceID: m.instanceID, topics: subs[m.id]})
		prev[m.id] = m.target
	}
	out := assignPartitions(g.preferredAssignor(), topics, ms, prev)
	for id, ps := range out {
		g.members[id].target = ps
	}
	g.assignEpoch = g.epoch
}

// maybeRefreshMetadata bumps the group epoch when the subscribed topics'
// metadata changed since the target was computed (a topic created, deleted
// or given partitions), as Kafka checks on every heartbeat.
func (g *cgGroup) maybeRefreshMetadata(t cgTopics) {
	if len(g.members) == 0 {
		return
	}
	if _, _, hash := g.subscriptionMeta(t); hash != g.metaHash {
		g.bumpEpoch(t)
	}
}

// reconcile advances m toward its target, as Kafka's
// CurrentAssignmentBuilder: owned is what the member reported it owns (nil
// on a keepalive that reports nothing, read as "still owns everything").
func (g *cgGroup) reconcile(m *cgMember, owned partSet, subsChanged bool, t cgTopics, bug string) {
	// What the member no longer reports it has released.
	if owned != nil {
		for _, id := range m.revoking.ids() {
			for _, p := range append([]int32(nil), m.revoking[id]...) {
				if !owned.has(id, p) {
					m.revoking.remove(id, p)
				}
			}
		}
	}
	ownsRevoked := func(pending partSet) bool {
		if owned == nil {
			return pending.count() > 0
		}
		for id, ps := range pending {
			for _, p := range ps {
				if owned.has(id, p) {
					return true
				}
			}
		}
		return false
	}
	switch m.state {
	case cgStable:
		if m.epoch != g.assignEpoch {
			g.computeNext(m, ownsRevoked, bug)
		} else if subsChanged {
			g.dropUnsubscribed(m, ownsRevoked, t)
		}
	case cgUnrevoked:
		if ownsRevoked(m.revoking) {
			if subsChanged {
				g.dropUnsubscribed(m, ownsRevoked, t)
			}
		} else {
			g.computeNext(m, ownsRevoked, bug)
		}
	case cgUnreleased:
		g.computeNext(m, ownsRevoked, bug)
	}
}

func (g *cgGroup) computeNext(m *cgMember, ownsRevoked func(partSet) bool, bug string) {
	owners := g.owners(bug)
	keep, revoke, add := partSet{}, partSet{}, partSet{}
	unreleased := false
	for id, ps := range m.assigned {
		for _, p := range ps {
			if m.target.has(id, p) {
				keep.add(id, p)
			} else {
				revoke.add(id, p)
			}
		}
	}
	for id, ps := range m.target {
		for _, p := range ps {
			if m.assigned.has(id, p) {
				continue
			}
			// KAFKA-19449: a partition this member itself is revoking
			// is not held by another.
			if o, held := owners[assignTP{id: id, part: p}]; held && o != m.id {
				unreleased = true
				continue
			}
			add.add(id, p)
		}
	}
	// Partitions still pending revocation from an earlier round stay
	// pending until the member reports them released.
	for id, ps := range m.revoking {
		for _, p := range ps {
			if !m.target.has(id, p) {
				revoke.add(id, p)
			}
		}
	}
	switch {
	case revoke.count() > 0 && ownsRevoked(revoke):
		// Revoke first, at the same epoch.
		m.state = cgUnrevoked
		m.assigned, m.revoking = keep, revoke
	case add.count() > 0:
		for id, ps := range add {
			for _, p := range ps {
				keep.add(id, p)
			}
		}
		m.setEpoch(g.assignEpoch)
		m.assigned, m.revoking = keep, partSet{}
		m.state = cgStable
		if unreleased {
			m.state = cgUnreleased
		}
	default:
		m.setEpoch(g.assignEpoch)
		m.assigned, m.revoking = keep, partSet{}
		m.state = cgStable
		if unreleased {
			m.state = cgUnreleased
		}
	}
}

func (m *cgMember) setEpoch(e int32) {
	if m.epoch != e {
		m.prevEpoch, m.epoch = m.epoch, e
	}
}

// dropUnsubscribed revokes, at the same epoch, what a member holds of
// topics it no longer subscribes to (its new target arrives with the next
// group epoch).
func (g *cgGroup) dropUnsubscribed(m *cgMember, ownsRevoked func(partSet) bool, t cgTopics) {
	subs := m.subscribedTopics(t)
	ids := map[[16]byte]bool{}
	for n := range subs {
		id, _, _ := t.topicByName(n)
		ids[id] = true
	}
	revoke := m.revoking.clone()
	keep := partSet{}
	for id, ps := range m.assigned {
		for _, p := range ps {
			if ids[id] {
				keep.add(id, p)
			} else {
				revoke.add(id, p)
			}
		}
	}
	if revoke.count() == m.revoking.count() {
		return
	}
	m.assigned, m.revoking = keep, revoke
	if ownsRevoked(revoke) {
		m.state = cgUnrevoked
	}
}

// heartbeat handles one ConsumerGroupHeartbeat, changing g. The request has
// passed validateCGHeartbeat.
func (g *cgGroup) heartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, env cgEnv) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.HeartbeatIntervalMillis = env.interval()
	fail := func(err *kerr.Error, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
		resp.ErrorCode = err.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	inst := ""
	if req.InstanceID != nil {
		inst = *req.InstanceID
	}
	switch req.MemberEpoch {
	case cgLeaveEpoch, cgStaticLeaveEpoch:
		m := g.members[req.MemberID]
		if m == nil {
			return fail(kerr.UnknownMemberID, "")
		}
		if req.MemberEpoch == cgStaticLeaveEpoch && m.instanceID != "" {
			// A static member leaving for a while keeps its place: its
			// partitions stay reserved, nothing is reassigned, the group
			// epoch stays (Kafka's static member leave). Its session
			// timeout still runs.
			m.prevEpoch, m.epoch = m.epoch, cgStaticLeaveEpoch
			m.revoking = partSet{}
			m.rebalDeadlineMs = 0
		} else {
			g.removeMember(m.id, env.topics)
		}
		resp.MemberID = &req.MemberID
		resp.MemberEpoch = req.MemberEpoch
		return resp
	}

	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	var owned partSet
	if req.Topics != nil {
		owned = partSet{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				owned.add(t.TopicID, p)
			}
		}
	}

	var m *cgMember
	subsChanged := false
	if req.MemberEpoch == cgJoinEpoch {
		memberID := req.MemberID
		if memberID == "" {
			memberID = env.newID()
		}
		m = g.members[memberID]
		old := g.byInstance(inst)
		if old != nil && old.id != memberID {
			if old.epoch != cgStaticLeaveEpoch {
				return fail(kerr.UnreleasedInstanceID, fmt.Sprintf("static member %s is still in use", inst))
			}
		}
		if m == nil && old == nil && len(g.members) >= cgMembersMax {
			return fail(kerr.GroupMaxSizeReached, fmt.Sprintf("the consumer group has reached its maximum capacity of %d members", cgMembersMax))
		}
		if req.ServerAssignor != nil && !validAssignor(*req.ServerAssignor) {
			return fail(kerr.UnsupportedAssignor, "")
		}
		if m == nil {
			m = &cgMember{id: memberID, assigned: partSet{}, revoking: partSet{}, target: partSet{}}
			if old != nil && old.id != memberID {
				// The static member comes back under a new id: it takes
				// over what the departed one held, at its epoch.
				m.epoch, m.prevEpoch, m.state = old.prevEpoch, old.prevEpoch, old.state
				m.assigned, m.target = old.assigned.clone(), old.target.clone()
				m.topics, m.regex, m.assignor = old.topics, old.regex, old.assignor
				delete(g.members, old.id)
			} else {
				subsChanged = true
			}
			g.members[memberID] = m
		} else if m.epoch == cgStaticLeaveEpoch {
			m.epoch = m.prevEpoch
		}
		m.instanceID = inst
		if m.rebalMs = req.RebalanceTimeoutMillis; m.rebalMs <= 0 {
			m.rebalMs = cgRebalanceTimeoutMsDefault
		}
		// A rejoin reports nothing owned: whatever it held is released.
		owned = partSet{}
		full = true
	} else {
		m = g.members[req.MemberID]
		if m == nil {
			if o := g.byInstance(inst); o != nil {
				return fail(kerr.FencedInstanceID, "")
			}
			return fail(kerr.UnknownMemberID, "")
		}
		if req.MemberEpoch != m.epoch {
			// The member may have missed the answer that moved it to
			// its current epoch: its previous epoch is accepted while
			// what it reports owning is within what it was given.
			subset := owned != nil
			for id, ps := range owned {
				for _, p := range ps {
					subset = subset && m.assigned.has(id, p)
				}
			}
			if req.MemberEpoch != m.prevEpoch || !subset {
				return fail(kerr.FencedMemberEpoch, fmt.Sprintf("the member epoch %d is not the current one", req.MemberEpoch))
			}
		}
	}
	if req.ServerAssignor != nil && !validAssignor(*req.ServerAssignor) {
		return fail(kerr.UnsupportedAssignor, "")
	}

	m.clientID, m.clientHost = env.clientID, env.clientHost
	if req.RackID != nil {
		m.rackID = *req.RackID
	}
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalMs = req.RebalanceTimeoutMillis
	}
	if full {
		if req.SubscribedTopicNames != nil {
			ts := append([]string(nil), req.SubscribedTopicNames...)
			sort.Strings(ts)
			ts = dedupSorted(ts)
			if !equalStrings(ts, m.topics) {
				m.topics, subsChanged = ts, true
			}
		}
		if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
			m.regex, subsChanged = *req.SubscribedTopicRegex, true
		}
		if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
			m.assignor, subsChanged = *req.ServerAssignor, true
		}
	}
	m.sessionDeadlineMs = env.nowMs + env.session()

	if subsChanged {
		g.bumpEpoch(env.topics)
	} else {
		g.maybeRefreshMetadata(env.topics)
	}
	before := m.assigned.clone()
	beforeEpoch := m.epoch
	g.reconcile(m, owned, subsChanged, env.topics, env.bug)
	if m.revoking.count() > 0 {
		if m.rebalDeadlineMs == 0 || beforeEpoch != m.epoch {
			m.rebalDeadlineMs = env.nowMs + int64(m.rebalMs)
		}
	} else {
		m.rebalDeadlineMs = 0
	}

	resp.MemberID = &m.id
	resp.MemberEpoch = m.epoch
	if full || !before.equal(m.assigned) || beforeEpoch != m.epoch {
		a := &kmsg.ConsumerGroupHeartbeatResponseAssignment{}
		for _, id := range m.assigned.ids() {
			t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			t.TopicID, t.Partitions = id, append([]int32(nil), m.assigned[id]...)
			a.Topics = append(a.Topics, t)
		}
		resp.Assignment = a
	}
	return resp
}

// removeMember drops a member (leave, session or rebalance timeout): what it
// held is free, and a new group epoch reassigns it.
func (g *cgGroup) removeMember(id string, t cgTopics) {
	if _, ok := g.members[id]; !ok {
		return
	}
	delete(g.members, id)
	g.bumpEpoch(t)
}

// expire removes members whose session or rebalance deadline has passed and
// returns their ids (sorted).
func (g *cgGroup) expire(nowMs int64, t cgTopics) []string {
	var gone []string
	for _, m := range g.sortedMembers() {
		if (m.sessionDeadlineMs != 0 && nowMs >= m.sessionDeadlineMs) || (m.rebalDeadlineMs != 0 && nowMs >= m.rebalDeadlineMs) {
			gone = append(gone, m.id)
		}
	}
	for _, id := range gone {
		g.removeMember(id, t)
	}
	return gone
}

// validateCGHeartbeat checks a heartbeat as Kafka does before it reaches the
// group; a non-nil error is answered with its message.
func validateCGHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (*kerr.Error, string) {
	switch {
	case req.Group == "":
		return kerr.InvalidGroupID, "GroupId can't be empty."
	case len(req.Group) > cgStringBytesMax || len(req.MemberID) > cgStringBytesMax:
		return kerr.InvalidRequest, "GroupId or MemberId too long."
	case req.InstanceID != nil && (*req.InstanceID == "" || len(*req.InstanceID) > cgStringBytesMax):
		return kerr.InvalidRequest, "InstanceId can't be empty."
	case req.RackID != nil && (*req.RackID == "" || len(*req.RackID) > cgStringBytesMax):
		return kerr.InvalidRequest, "RackId can't be empty."
	case req.Version >= 1 && req.MemberID == "":
		return kerr.InvalidRequest, "MemberId can't be empty."
	case len(req.SubscribedTopicNames) > cgSubscribedTopicsMax:
		return kerr.InvalidRequest, "too many subscribed topics."
	}
	owned := 0
	for _, t := range req.Topics {
		owned += len(t.Partitions)
	}
	if owned > cgOwnedPartitionsMax {
		return kerr.InvalidRequest, "too many owned partitions."
	}
	subBytes := 0
	for _, n := range req.SubscribedTopicNames {
		if len(n) > topicNameBytesMax {
			return kerr.InvalidRequest, "subscribed topic name too long."
		}
		subBytes += len(n)
	}
	if subBytes > cgSubscriptionBytesMax {
		return kerr.InvalidRequest, "subscribed topic names too long together."
	}
	if req.SubscribedTopicRegex != nil {
		if len(*req.SubscribedTopicRegex) > cgRegexBytesMax {
			return kerr.InvalidRegularExpression, "SubscribedTopicRegex too long."
		}
		if _, err := compileSubscriptionRegex(*req.SubscribedTopicRegex); err != nil {
			return kerr.InvalidRegularExpression, "SubscribedTopicRegex is not a valid regular expression."
		}
	}
	switch {
	case req.MemberEpoch == cgJoinEpoch:
		if req.RebalanceTimeoutMillis == -1 {
			return kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request."
		}
		if req.Topics == nil || len(req.Topics) > 0 {
			return kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining."
		}
		if req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil {
			return kerr.InvalidRequest, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
		}
	case req.MemberEpoch == cgStaticLeaveEpoch:
		if req.InstanceID == nil {
			return kerr.InvalidRequest, "InstanceId can't be null."
		}
		fallthrough
	case req.MemberEpoch > 0 || req.MemberEpoch == cgLeaveEpoch:
		if req.MemberID == "" {
			return kerr.UnknownMemberID, "MemberId can't be empty."
		}
	default:
		return kerr.InvalidRequest, "MemberEpoch is invalid."
	}
	return nil, ""
}

// describe fills one ConsumerGroupDescribe group.
func (g *cgGroup) describe(out *kmsg.ConsumerGroupDescribeResponseGroup, t cgTopics) {
	out.State = g.state()
	out.Epoch = g.epoch
	out.AssignmentEpoch = g.assignEpoch
	out.AssignorName = g.preferredAssignor()
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID = m.id
		if m.instanceID != "" {
			dm.InstanceID = kmsg.StringPtr(m.instanceID)
		}
		if m.rackID != "" {
			dm.RackID = kmsg.StringPtr(m.rackID)
		}
		dm.MemberEpoch = m.epoch
		dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
		dm.SubscribedTopics = append([]string{}, m.topics...)
		if m.regex != "" {
			dm.SubscribedTopicRegex = kmsg.StringPtr(m.regex)
		}
		dm.Assignment = describeAssignment(m.assigned)
		dm.TargetAssignment = describeAssignment(m.target)
		dm.MemberType = 1 // a consumer-protocol member
		out.Members = append(out.Members, dm)
	}
}

func describeAssignment(s partSet) kmsg.Assignment {
	var a kmsg.Assignment
	for _, id := range s.ids() {
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID = id
		tp.Partitions = append([]int32(nil), s[id]...)
		a.TopicPartitions = append(a.TopicPartitions, tp)
	}
	return a
}

func dedupSorted(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
