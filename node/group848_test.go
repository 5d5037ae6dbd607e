package node

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeTopics is a metadata view for the state machine tests.
type fakeTopics map[string]int32

func fakeID(name string) [16]byte {
	var id [16]byte
	copy(id[:], "id-"+name)
	return id
}

func (f fakeTopics) topicByName(name string) ([16]byte, int32, bool) {
	n, ok := f[name]
	return fakeID(name), n, ok
}

func (f fakeTopics) topicNames() []string {
	var out []string
	for n := range f {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

type cgHarness struct {
	t      testing.TB
	g      *cgGroup
	topics fakeTopics
	now    int64
	bug    string
	ids    int
	// intervalMs is group.consumer.heartbeat.interval.ms (0: the default).
	intervalMs int64
	// replica folds the records of every change (consumer_group_records.go).
	replica *coordState
}

func newCGHarness(t testing.TB, topics fakeTopics) *cgHarness {
	return &cgHarness{t: t, g: newCGGroup("g"), topics: topics}
}

func (h *cgHarness) env() cgEnv {
	return cgEnv{nowMs: h.now, clientID: "c", clientHost: "/127.0.0.1", topics: h.topics, bug: h.bug, intervalMs: h.intervalMs,
		newID: func() string { h.ids++; return fmt.Sprintf("gen-%d", h.ids) }}
}

// hb sends one heartbeat after validating it as the coordinator would.
func (h *cgHarness) hb(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	req.Group = "g"
	if err, msg := validateCGHeartbeat(req); err != nil {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode, resp.ErrorMessage = err.Code, &msg
		return resp
	}
	// As the coordinator: run on a copy, and keep it only if it answered
	// without error; the records of the difference, folded by a replica,
	// must give the same group.
	work := h.g.clone()
	resp := work.heartbeat(req, h.env())
	if resp.ErrorCode == 0 {
		h.adopt(work)
	}
	return resp
}

// adopt makes work the group, checking the records of the change.
func (h *cgHarness) adopt(work *cgGroup) {
	recs := cgRecords(h.g, work)
	if h.replica == nil {
		h.replica = newCoordState()
	}
	for _, r := range recs {
		h.replica.fold(r.Key, r.Value)
	}
	if err := cgSamePersisted(h.replica.consumer["g"], work); err != nil {
		h.t.Fatalf("a replica folding the records differs: %v", err)
	}
	h.g = work
}

func (h *cgHarness) expire() []string {
	work := h.g.clone()
	gone := work.expire(h.now, h.topics)
	h.adopt(work)
	return gone
}

// cgSamePersisted compares what the records carry of two groups.
func cgSamePersisted(a, b *cgGroup) error {
	if a == nil {
		a = newCGGroup(b.name)
	}
	if a.writes != b.writes {
		return fmt.Errorf("%d writes applied, want %d", a.writes, b.writes)
	}
	if a.epoch != b.epoch || a.metaHash != b.metaHash || a.assignEpoch != b.assignEpoch {
		return fmt.Errorf("group epoch %d/%d hash %d/%d assignment epoch %d/%d", a.epoch, b.epoch, a.metaHash, b.metaHash, a.assignEpoch, b.assignEpoch)
	}
	if len(a.members) != len(b.members) {
		return fmt.Errorf("%d members, want %d", len(a.members), len(b.members))
	}
	for id, m := range b.members {
		o := a.members[id]
		if o == nil || !o.sameMetadata(m) || !o.sameCurrent(m) || !o.target.equal(m.target) {
			return fmt.Errorf("member %s: %+v, want %+v", id, o, m)
		}
	}
	return nil
}

func cgJoinReq(member string, topics ...string) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.MemberID = member
	req.MemberEpoch = 0
	req.RebalanceTimeoutMillis = 60000
	req.SubscribedTopicNames = topics
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return req
}

func cgHBReq(member string, epoch int32, owned partSet) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.MemberID = member
	req.MemberEpoch = epoch
	if owned != nil {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for _, id := range owned.ids() {
			req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: owned[id]})
		}
	}
	return req
}

func respSet(r *kmsg.ConsumerGroupHeartbeatResponse) partSet {
	if r.Assignment == nil {
		return nil
	}
	s := partSet{}
	for _, t := range r.Assignment.Topics {
		for _, p := range t.Partitions {
			s.add(t.TopicID, p)
		}
	}
	return s
}

func mustOK(t testing.TB, r *kmsg.ConsumerGroupHeartbeatResponse) {
	t.Helper()
	if r.ErrorCode != 0 {
		t.Fatalf("heartbeat failed: %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
	}
}

func ps(topic string, parts ...int32) partSet {
	s := partSet{}
	for _, p := range parts {
		s.add(fakeID(topic), p)
	}
	return s
}

// TestCGRevokeBeforeReassign walks the protocol's central rule: a second
// member joins; the first is told to revoke half; the second is given those
// partitions only after the first's heartbeat shows it released them.
func TestCGRevokeBeforeReassign(t *testing.T) {
	h := newCGHarness(t, fakeTopics{"t": 4})
	r := h.hb(cgJoinReq("a", "t"))
	mustOK(t, r)
	if r.MemberEpoch != 1 || !respSet(r).equal(ps("t", 0, 1, 2, 3)) {
		t.Fatalf("a joined at epoch %d with %v, want 1 with all four", r.MemberEpoch, respSet(r))
	}
	r = h.hb(cgJoinReq("b", "t"))
	mustOK(t, r)
	if r.MemberEpoch != 2 || respSet(r).count() != 0 {
		t.Fatalf("b joined at epoch %d with %v: want epoch 2 and nothing while a still holds everything", r.MemberEpoch, respSet(r))
	}
	if h.g.state() != "Reconciling" {
		t.Fatalf("state %s, want Reconciling", h.g.state())
	}
	// a's keepalive (owned unreported) learns what it keeps; it stays at
	// epoch 1 until it releases the rest.
	r = h.hb(cgHBReq("a", 1, nil))
	mustOK(t, r)
	keep := respSet(r)
	if r.MemberEpoch != 1 || keep.count() != 2 {
		t.Fatalf("a: epoch %d assignment %v, want epoch 1 keeping two", r.MemberEpoch, keep)
	}
	// b heartbeats again: still nothing, a has not released.
	r = h.hb(cgHBReq("b", 2, partSet{}))
	mustOK(t, r)
	if got := respSet(r); got != nil && got.count() != 0 {
		t.Fatalf("b given %v before a released it", got)
	}
	// a reports it still owns all four: nothing changes.
	r = h.hb(cgHBReq("a", 1, ps("t", 0, 1, 2, 3)))
	mustOK(t, r)
	if r.MemberEpoch != 1 {
		t.Fatalf("a moved to epoch %d before releasing", r.MemberEpoch)
	}
	// a releases: it moves to epoch 2, and b then gets the other two.
	r = h.hb(cgHBReq("a", 1, keep))
	mustOK(t, r)
	if r.MemberEpoch != 2 {
		t.Fatalf("a at epoch %d after releasing, want 2", r.MemberEpoch)
	}
	r = h.hb(cgHBReq("b", 2, partSet{}))
	mustOK(t, r)
	got := respSet(r)
	if got.count() != 2 {
		t.Fatalf("b got %v after a released, want two", got)
	}
	for id, parts := range got {
		for _, p := range parts {
			if keep.has(id, p) {
				t.Fatalf("b got %d, which a keeps", p)
			}
		}
	}
	h.hb(cgHBReq("b", 2, got))
	if h.g.state() != "Stable" {
		t.Fatalf("state %s, want Stable", h.g.state())
	}
}

func TestCGFencing(t *testing.T) {
	h := newCGHarness(t, fakeTopics{"t": 2})
	mustOK(t, h.hb(cgJoinReq("a", "t")))
	mustOK(t, h.hb(cgJoinReq("b", "t")))
	for _, c := range []struct {
		name string
		req  *kmsg.ConsumerGroupHeartbeatRequest
		want *kerr.Error
	}{
		{"unknown member", cgHBReq("zz", 1, nil), kerr.UnknownMemberID},
		{"epoch from the future", cgHBReq("a", 7, nil), kerr.FencedMemberEpoch},
		{"old epoch, owned unreported", cgHBReq("b", 1, nil), kerr.FencedMemberEpoch},
		{"join with owned partitions", func() *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgJoinReq("c", "t")
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: fakeID("t"), Partitions: []int32{0}}}
			return r
		}(), kerr.InvalidRequest},
		{"unknown assignor", func() *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgJoinReq("c", "t")
			r.ServerAssignor = kmsg.StringPtr("sticky")
			return r
		}(), kerr.UnsupportedAssignor},
		{"bad regex", func() *kmsg.ConsumerGroupHeartbeatRequest {
			r := cgJoinReq("c")
			r.SubscribedTopicNames = nil
			r.SubscribedTopicRegex = kmsg.StringPtr("(")
			return r
		}(), kerr.InvalidRegularExpression},
		{"no member id on v1", cgHBReq("", 1, nil), kerr.InvalidRequest},
		{"static leave without instance", cgHBReq("a", -2, nil), kerr.InvalidRequest},
		{"epoch -3", cgHBReq("a", -3, nil), kerr.InvalidRequest},
	} {
		r := h.hb(c.req)
		if r.ErrorCode != c.want.Code {
			t.Errorf("%s: got %v, want %v", c.name, kerr.ErrorForCode(r.ErrorCode), c.want)
		}
	}
	// The previous epoch is accepted while what the member reports is within
	// its assignment (it missed the answer that moved it on).
	mustOK(t, h.hb(cgHBReq("a", 1, ps("t", 0, 1))))
	mustOK(t, h.hb(cgHBReq("a", 1, h.g.members["a"].assigned.clone())))
	a := h.g.members["a"]
	if a.epoch != 2 || a.prevEpoch != 1 {
		t.Fatalf("a at epoch %d (previous %d), want 2 (1)", a.epoch, a.prevEpoch)
	}
	if r := h.hb(cgHBReq("a", 1, a.assigned.clone())); r.ErrorCode != 0 {
		t.Fatalf("previous epoch with owned within assignment refused: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := h.hb(cgHBReq("a", 1, ps("t", 0, 1))); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("previous epoch owning more than its assignment: %v, want FENCED_MEMBER_EPOCH", kerr.ErrorForCode(r.ErrorCode))
	}
}

func TestCGStaticMembership(t *testing.T) {
	h := newCGHarness(t, fakeTopics{"t": 4})
	ja := cgJoinReq("a1", "t")
	ja.InstanceID = kmsg.StringPtr("inst-a")
	r := h.hb(ja)
	mustOK(t, r)
	held := respSet(r)
	epoch := h.g.epoch
	// Another process with the same instance while a1 is active.
	j2 := cgJoinReq("a2", "t")
	j2.InstanceID = kmsg.StringPtr("inst-a")
	if r := h.hb(j2); r.ErrorCode != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("second holder of an instance id: %v, want UNRELEASED_INSTANCE_ID", kerr.ErrorForCode(r.ErrorCode))
	}
	// a1 leaves for a while (epoch -2): nothing is reassigned, the group
	// epoch stays.
	lv := cgHBReq("a1", -2, nil)
	lv.InstanceID = kmsg.StringPtr("inst-a")
	mustOK(t, h.hb(lv))
	if h.g.epoch != epoch {
		t.Fatalf("static leave bumped the group epoch %d -> %d", epoch, h.g.epoch)
	}
	// A dynamic member joining meanwhile gets none of a1's partitions.
	r = h.hb(cgJoinReq("b", "t"))
	mustOK(t, r)
	if got := respSet(r); got.count() != 0 {
		t.Fatalf("b got %v while the static member is away holding them", got)
	}
	// a2 takes the instance over and inherits a1's partitions.
	r = h.hb(j2)
	mustOK(t, r)
	if _, ok := h.g.members["a1"]; ok {
		t.Fatal("a1 still a member after a2 took its instance")
	}
	got := respSet(r)
	for id, parts := range got {
		for _, p := range parts {
			if !held.has(id, p) {
				t.Fatalf("a2 got %v, not within a1's %v", got, held)
			}
		}
	}
	// The old member id is fenced as an instance now owned by another.
	old := cgHBReq("a1", 1, nil)
	old.InstanceID = kmsg.StringPtr("inst-a")
	if r := h.hb(old); r.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("old static member: %v, want FENCED_INSTANCE_ID", kerr.ErrorForCode(r.ErrorCode))
	}
}

func TestCGSessionTimeoutAndMaxSize(t *testing.T) {
	h := newCGHarness(t, fakeTopics{"t": 2})
	mustOK(t, h.hb(cgJoinReq("a", "t")))
	h.now += 1000
	mustOK(t, h.hb(cgJoinReq("b", "t")))
	h.now += cgSessionTimeoutMs - 1000 - 1
	if gone := h.expire(); len(gone) != 0 {
		t.Fatalf("expired %v early", gone)
	}
	h.now++
	if gone := h.expire(); len(gone) != 1 || gone[0] != "a" {
		t.Fatalf("expired %v, want [a]", gone)
	}
	if r := h.hb(cgHBReq("a", 1, nil)); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(r.ErrorCode))
	}
	// b now gets everything once it heartbeats.
	r := h.hb(cgHBReq("b", h.g.members["b"].epoch, partSet{}))
	mustOK(t, r)
	if respSet(r).count() != 2 {
		t.Fatalf("b got %v after a expired, want both", respSet(r))
	}

	for i := len(h.g.members); i < cgMembersMax; i++ {
		mustOK(t, h.hb(cgJoinReq(fmt.Sprintf("m%d", i), "t")))
	}
	if r := h.hb(cgJoinReq("one-too-many", "t")); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("member %d: %v, want GROUP_MAX_SIZE_REACHED", cgMembersMax+1, kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestCGHeartbeatInterval: members are told the configured interval
// (group.consumer.heartbeat.interval.ms), Kafka's 5s by default.
func TestCGHeartbeatInterval(t *testing.T) {
	h := newCGHarness(t, fakeTopics{"t": 2})
	r := h.hb(cgJoinReq("a", "t"))
	mustOK(t, r)
	if r.HeartbeatIntervalMillis != cgHeartbeatIntervalMs {
		t.Fatalf("default interval %dms, want %dms", r.HeartbeatIntervalMillis, cgHeartbeatIntervalMs)
	}
	h.intervalMs = 2000
	r = h.hb(cgHBReq("a", r.MemberEpoch, nil))
	mustOK(t, r)
	if r.HeartbeatIntervalMillis != 2000 {
		t.Fatalf("configured interval 2000ms answered as %dms", r.HeartbeatIntervalMillis)
	}
}

func TestCGRegexAndTopicGrowth(t *testing.T) {
	h := newCGHarness(t, fakeTopics{"orders-1": 1, "other": 3})
	j := cgJoinReq("a")
	j.SubscribedTopicNames = nil
	j.SubscribedTopicRegex = kmsg.StringPtr("orders-.*")
	r := h.hb(j)
	mustOK(t, r)
	if !respSet(r).equal(ps("orders-1", 0)) {
		t.Fatalf("regex subscription got %v", respSet(r))
	}
	e := h.g.epoch
	h.topics["orders-2"] = 2
	r = h.hb(cgHBReq("a", r.MemberEpoch, respSet(r)))
	mustOK(t, r)
	if h.g.epoch != e+1 || respSet(r).count() != 3 {
		t.Fatalf("a new matching topic: group epoch %d (was %d), assignment %v", h.g.epoch, e, respSet(r))
	}
}

// cgClient is a consumer as the Java client and franz-go run one: it starts
// consuming what an assignment adds at once; what an assignment takes away
// it keeps consuming until it has finished and committed, which it does just
// before its next heartbeat, the one that reports the partitions gone.
type cgClient struct {
	id       string
	instance string
	epoch    int32
	owned    partSet
	target   partSet // the last assignment received
	reported bool    // owned was sent since it last changed
	joined   bool
	needFull bool // an answer was lost: the next heartbeat carries every field, as the Java client's does after a failure
	subs     []string
}

// revoke releases what the last assignment took away.
func (c *cgClient) revoke() {
	if c.target == nil {
		return
	}
	for _, id := range c.owned.ids() {
		for _, p := range append([]int32(nil), c.owned[id]...) {
			if !c.target.has(id, p) {
				c.owned.remove(id, p)
				c.reported = false
			}
		}
	}
}

// runCGModel drives members through random joins, heartbeats, leaves, static
// leaves, restarts, session expiries and topic growth, checking after every
// step that no partition is held by two clients still in the group, and at
// the end that the group converges with every partition owned once. It
// returns the first violation.
func runCGModel(t testing.TB, seed uint64, steps int, bug string) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	topics := fakeTopics{"a": int32(1 + rng.IntN(6)), "b": int32(rng.IntN(5))}
	h := &cgHarness{t: t, g: newCGGroup("g"), topics: topics, bug: bug}
	var clients []*cgClient
	for i := 0; i < 1+rng.IntN(5); i++ {
		c := &cgClient{id: fmt.Sprintf("m%d", i), owned: partSet{}, subs: []string{"a", "b"}}
		if rng.IntN(3) == 0 {
			c.instance = fmt.Sprintf("i%d", i)
		}
		clients = append(clients, c)
	}
	assignors := []string{assignorUniform, assignorRange}
	assignor := assignors[rng.IntN(2)]
	lossy := true
	send := func(c *cgClient, req *kmsg.ConsumerGroupHeartbeatRequest) {
		req.Group = "g"
		if c.instance != "" {
			req.InstanceID = kmsg.StringPtr(c.instance)
		}
		r := h.hb(req)
		if lossy && rng.IntN(10) == 0 {
			c.needFull = true
			return // the answer is lost
		}
		c.needFull = false
		switch r.ErrorCode {
		case 0:
		case kerr.UnknownMemberID.Code, kerr.FencedMemberEpoch.Code, kerr.FencedInstanceID.Code:
			// Fenced: the client drops everything and rejoins later.
			c.joined, c.owned, c.target, c.epoch = false, partSet{}, nil, 0
			return
		default:
			return
		}
		if req.MemberEpoch < 0 {
			c.joined, c.owned, c.target, c.epoch = false, partSet{}, nil, 0
			return
		}
		c.joined, c.epoch = true, r.MemberEpoch
		if a := respSet(r); a != nil {
			c.target = a
			for id, parts := range a {
				for _, p := range parts {
					if !c.owned.has(id, p) {
						c.owned.add(id, p)
						c.reported = false
					}
				}
			}
		}
	}
	check := func(step int, what string) error {
		holder := map[assignTP]string{}
		for _, c := range clients {
			if !c.joined {
				continue
			}
			if _, in := h.g.members[c.id]; !in {
				continue // removed by the coordinator: a zombie until it learns
			}
			for id, parts := range c.owned {
				for _, p := range parts {
					k := assignTP{id: id, part: p}
					if o, dup := holder[k]; dup {
						return fmt.Errorf("seed %d step %d (%s): partition %x/%d owned by %s and %s", seed, step, what, id[3:4], p, o, c.id)
					}
					holder[k] = c.id
				}
			}
		}
		return nil
	}
	for step := 0; step < steps; step++ {
		c := clients[rng.IntN(len(clients))]
		what := ""
		switch k := rng.IntN(20); {
		case !c.joined && k < 12:
			what = "join " + c.id
			j := cgJoinReq(c.id, c.subs...)
			j.ServerAssignor = kmsg.StringPtr(assignor)
			send(c, j)
		case !c.joined:
			what = "idle"
		case k < 14:
			what = "heartbeat " + c.id
			c.revoke()
			var owned partSet
			if !c.reported || c.needFull || rng.IntN(4) == 0 {
				owned = c.owned
			}
			req := cgHBReq(c.id, c.epoch, owned.clone())
			if c.needFull || owned != nil && rng.IntN(2) == 0 {
				req.RebalanceTimeoutMillis = 60000
				req.SubscribedTopicNames = c.subs
				req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
				for _, id := range c.owned.ids() {
					req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: c.owned[id]})
				}
			}
			send(c, req)
			if owned != nil {
				c.reported = true
			}
		case k < 15:
			what = "leave " + c.id
			send(c, cgHBReq(c.id, -1, nil))
		case k < 16 && c.instance != "":
			what = "static leave " + c.id
			send(c, cgHBReq(c.id, -2, nil))
		case k < 17 && c.instance != "":
			// The process restarts under a new member id, same instance.
			what = "restart " + c.id
			c.id = c.id + "'"
			c.joined, c.owned = false, partSet{}
		case k < 18 && rng.IntN(2) == 0:
			// The application changes its subscription; the next
			// heartbeat carries it.
			what = "resubscribe " + c.id
			c.subs = [][]string{{"a"}, {"b"}, {"a", "b"}}[rng.IntN(3)]
			c.needFull = true
		case k < 18:
			what = "time passes"
			h.now += int64(rng.IntN(cgSessionTimeoutMs))
			h.expire()
		case k < 19:
			what = "topic grows"
			topics["b"]++
		default:
			what = "pause " + c.id
		}
		if err := check(step, what); err != nil {
			return err
		}
	}
	lossy = false
	// Converge: live clients heartbeat, reporting what they own, while time
	// passes, so members whose process is gone (a static member restarted
	// without leaving) time out; then everyone (re)joins and heartbeats
	// until nothing changes.
	for round := 0; round < 4; round++ {
		for _, c := range clients {
			if c.joined {
				c.revoke()
				send(c, fullIf(c.needFull, c.subs, cgHBReq(c.id, c.epoch, c.owned.clone())))
			}
		}
		h.now += cgSessionTimeoutMs / 3
		h.expire()
		if err := check(steps, "converge"); err != nil {
			return err
		}
	}
	for _, c := range clients {
		if !c.joined || h.g.members[c.id] == nil {
			c.joined = false
			j := cgJoinReq(c.id, c.subs...)
			j.ServerAssignor = kmsg.StringPtr(assignor)
			send(c, j)
		}
	}
	for round := 0; round < 10; round++ {
		for _, c := range clients {
			c.revoke()
			send(c, fullIf(c.needFull, c.subs, cgHBReq(c.id, c.epoch, c.owned.clone())))
			if err := check(steps+round, "converge"); err != nil {
				return err
			}
		}
	}
	if h.g.state() != "Stable" {
		var b []string
		for _, m := range h.g.sortedMembers() {
			b = append(b, fmt.Sprintf("%s e%d/%d st%d asg%v rev%v tgt%v", m.id, m.epoch, h.g.assignEpoch, m.state, m.assigned, m.revoking, m.target))
		}
		for _, c := range clients {
			b = append(b, fmt.Sprintf("client %s joined=%v e%d owned %v", c.id, c.joined, c.epoch, c.owned))
		}
		return fmt.Errorf("seed %d: state %s after converging: %v", seed, h.g.state(), b)
	}
	total := 0
	for _, c := range clients {
		m := h.g.members[c.id]
		if m == nil {
			return fmt.Errorf("seed %d: %s not a member after converging", seed, c.id)
		}
		if !m.assigned.equal(m.target) || !c.owned.equal(m.assigned) {
			return fmt.Errorf("seed %d: %s holds %v, assigned %v, target %v", seed, c.id, c.owned, m.assigned, m.target)
		}
		total += c.owned.count()
	}
	subscribed := map[string]bool{}
	for _, c := range clients {
		for _, t := range c.subs {
			subscribed[t] = true
		}
	}
	want := 0
	for t := range subscribed {
		want += int(topics[t])
	}
	if total != want {
		return fmt.Errorf("seed %d: %d partitions owned after converging, want %d", seed, total, want)
	}
	return nil
}

func fullIf(full bool, subs []string, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatRequest {
	if full {
		req.RebalanceTimeoutMillis = 60000
		req.SubscribedTopicNames = subs
	}
	return req
}

func TestCGModel(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		if err := runCGModel(t, seed, 200, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCGModelCatchesAssignBeforeRevoke: the same clients and checks, with the
// KAFKA-16147 bug planted, see a partition owned twice.
func TestCGModelCatchesAssignBeforeRevoke(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		if err := runCGModel(t, seed, 200, BugAssignBeforeRevoke); err != nil {
			t.Logf("caught: %v", err)
			return
		}
	}
	t.Fatal("assign-before-revoke not caught in 50 seeds")
}

// TestCGRebalanceTimeout: a member told to revoke that never releases is
// removed once its rebalance timeout passes, and its partitions go on.
func TestCGRebalanceTimeout(t *testing.T) {
	h := newCGHarness(t, fakeTopics{"t": 2})
	ja := cgJoinReq("a", "t")
	ja.RebalanceTimeoutMillis = 10000
	mustOK(t, h.hb(ja))
	h.now += 1000
	mustOK(t, h.hb(cgJoinReq("b", "t")))
	mustOK(t, h.hb(cgHBReq("a", 1, ps("t", 0, 1)))) // a learns it must revoke one
	if h.g.members["a"].rebalDeadlineMs != h.now+10000 {
		t.Fatalf("a's rebalance deadline %d, want %d", h.g.members["a"].rebalDeadlineMs, h.now+10000)
	}
	for i := 0; i < 9; i++ {
		h.now += 1000
		mustOK(t, h.hb(cgHBReq("a", 1, ps("t", 0, 1)))) // still holding both
		mustOK(t, h.hb(cgHBReq("b", 2, partSet{})))
		if gone := h.expire(); len(gone) != 0 {
			t.Fatalf("expired %v before the rebalance timeout", gone)
		}
	}
	h.now += 1000
	if gone := h.expire(); len(gone) != 1 || gone[0] != "a" {
		t.Fatalf("expired %v, want [a] at its rebalance timeout", gone)
	}
	r := h.hb(cgHBReq("b", 2, partSet{}))
	mustOK(t, r)
	if respSet(r).count() != 2 {
		t.Fatalf("b got %v after a was removed, want both", respSet(r))
	}
}

// FuzzCGHeartbeat: any sequence of decodable heartbeats leaves the group
// with no partition held by two members, and its records fold back to it.
func FuzzCGHeartbeat(f *testing.F) {
	for _, r := range []*kmsg.ConsumerGroupHeartbeatRequest{cgJoinReq("a", "t"), cgJoinReq("b", "t", "u"), cgHBReq("a", 1, ps("t", 0, 1)), cgHBReq("b", -2, nil)} {
		r.Group = "g"
		f.Add(r.AppendTo(nil), r.AppendTo(nil), true)
	}
	f.Fuzz(func(t *testing.T, a, b []byte, v1 bool) {
		h := newCGHarness(t, fakeTopics{"t": 3, "u": 2})
		version := int16(0)
		if v1 {
			version = 1
		}
		for i, raw := range [][]byte{a, b, a, b} {
			req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			req.Version = version
			if req.ReadFrom(raw) != nil {
				continue
			}
			h.now += int64(i) * 20000
			h.hb(req) // adopt checks the records fold back
			h.expire()
			seen := map[assignTP]string{}
			for _, m := range h.g.sortedMembers() {
				for _, s := range []partSet{m.assigned, m.revoking} {
					for id, parts := range s {
						for _, p := range parts {
							k := assignTP{id: id, part: p}
							if o, dup := seen[k]; dup && o != m.id {
								t.Fatalf("partition %d held by %s and %s", p, o, m.id)
							}
							seen[k] = m.id
						}
					}
				}
			}
		}
	})
}
