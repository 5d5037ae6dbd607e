package node

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// plant sets a bug on every node directly, after the harness built them
// (and again after a restart: h.start builds a node from the harness's
// config, which does not carry it).
func (h *harness) plant(bug string) {
	for _, tn := range h.nodes {
		tn.n.cfg.Bug = bug
	}
}

// createTopic creates a topic and waits until every live node knows it.
func (h *harness) createTopic(name string, partitions int32) {
	h.t.Helper()
	h.until(20*time.Second, "topic "+name+" created", func() bool {
		ml := h.nodes[h.ids[0]].n.groups[metaGroup].lead
		if ml == 0 || h.nodes[ml].down {
			return false
		}
		r, ok := h.tryDo(ml, createReq(name, partitions, 3), 5*time.Second)
		if !ok {
			return false
		}
		c := r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
		return c == 0 || c == kerr.TopicAlreadyExists.Code
	})
	h.until(10*time.Second, "every node knows "+name, func() bool {
		for _, id := range h.ids {
			if !h.nodes[id].down && h.nodes[id].n.meta.topics[name] == nil {
				return false
			}
		}
		return true
	})
}

// awaitAll sends requests to a node and runs until each is answered.
func (h *harness) awaitAll(id uint64, reqs []kmsg.Request) []kmsg.Response {
	h.t.Helper()
	conns := make([]ConnID, len(reqs))
	for i, r := range reqs {
		conns[i], _ = h.send(id, r)
	}
	h.until(30*time.Second, "answers", func() bool {
		for _, c := range conns {
			if len(h.nodes[id].got[c]) == 0 {
				return false
			}
		}
		return true
	})
	out := make([]kmsg.Response, len(reqs))
	for i, c := range conns {
		_, resp, err := wire.ParseResponse(h.nodes[id].got[c][0], reqs[i])
		if err != nil {
			h.t.Fatal(err)
		}
		out[i] = resp
	}
	return out
}

func consumerJoinReq(group, member string, topics ...string) *kmsg.JoinGroupRequest {
	r := joinReq9(group, member)
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = topics
	r.Protocols[0].Metadata = md.AppendTo(nil)
	return r
}

// stableGroup forms a consumer group of n members subscribed to topics and
// syncs it; it returns the member ids and the generation.
func (h *harness) stableGroup(coord uint64, group string, n int, topics ...string) ([]string, int32) {
	h.t.Helper()
	var ids []string
	for range n {
		r := h.do(coord, consumerJoinReq(group, "", topics...)).(*kmsg.JoinGroupResponse)
		if r.ErrorCode != kerr.MemberIDRequired.Code {
			h.t.Fatalf("first join: %d", r.ErrorCode)
		}
		ids = append(ids, r.MemberID)
	}
	var joins []kmsg.Request
	for _, id := range ids {
		joins = append(joins, consumerJoinReq(group, id, topics...))
	}
	var gen int32
	var leader string
	for _, r := range h.awaitAll(coord, joins) {
		j := r.(*kmsg.JoinGroupResponse)
		if j.ErrorCode != 0 {
			h.t.Fatalf("join: %d", j.ErrorCode)
		}
		gen, leader = j.Generation, j.LeaderID
	}
	var syncs []kmsg.Request
	for _, id := range ids {
		s := kmsg.NewPtrSyncGroupRequest()
		s.Version = 5
		s.Group, s.Generation, s.MemberID = group, gen, id
		s.ProtocolType, s.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
		if id == leader {
			for _, m := range ids {
				a := kmsg.NewSyncGroupRequestGroupAssignment()
				a.MemberID, a.MemberAssignment = m, []byte("parts-of-"+m)
				s.GroupAssignment = append(s.GroupAssignment, a)
			}
		}
		syncs = append(syncs, s)
	}
	for _, r := range h.awaitAll(coord, syncs) {
		if c := r.(*kmsg.SyncGroupResponse).ErrorCode; c != 0 {
			h.t.Fatalf("sync: %d", c)
		}
	}
	return ids, gen
}

// commitReq commits offs[i] for partition i of topic (v9, leader epoch 7,
// metadata "m").
func commitReq(group string, gen int32, member, topic string, offs ...int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 9
	r.Group, r.Generation, r.MemberID = group, gen, member
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	for i, o := range offs {
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = int32(i), o, 7, kmsg.StringPtr("m")
		t.Partitions = append(t.Partitions, p)
	}
	r.Topics = append(r.Topics, t)
	return r
}

// commitCodes are a commit's per-partition answers, in order.
func commitCodes(r kmsg.Response) []int16 {
	var out []int16
	for _, t := range r.(*kmsg.OffsetCommitResponse).Topics {
		for _, p := range t.Partitions {
			out = append(out, p.ErrorCode)
		}
	}
	return out
}

func (h *harness) commit(id uint64, req *kmsg.OffsetCommitRequest) []int16 {
	h.t.Helper()
	return commitCodes(h.do(id, req))
}

// fetched asks a node (OffsetFetch v8) for a group's offsets of
// partitions 0..n-1 of topic; it returns the group's error code and the
// offsets.
func (h *harness) fetched(id uint64, group, topic string, n int32) (int16, []int64) {
	h.t.Helper()
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 8
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic = topic
	for p := range n {
		rt.Partitions = append(rt.Partitions, p)
	}
	rg.Topics = append(rg.Topics, rt)
	r.Groups = append(r.Groups, rg)
	g := h.do(id, r).(*kmsg.OffsetFetchResponse).Groups[0]
	if g.ErrorCode != 0 {
		return g.ErrorCode, nil
	}
	var out []int64
	for _, p := range g.Topics[0].Partitions {
		out = append(out, p.Offset)
	}
	return 0, out
}

func eqInts[T comparable](a, b []T) bool {
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

// sameCoordinator is a group name other than group hashed to the same
// __consumer_offsets partition (so one node coordinates both).
func sameCoordinator(group string, partitions int) string {
	want := coordinatorPartition(group, partitions)
	for i := 0; ; i++ {
		name := group + "-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if coordinatorPartition(name, partitions) == want {
			return name
		}
	}
}

func TestOffsetCommitFetch(t *testing.T) {
	h := groupHarness(t)
	h.createTopic("t", 2)
	coord := h.findCoordinator("g")
	ids, gen := h.stableGroup(coord, "g", 2, "t")

	if c := h.commit(coord, commitReq("g", gen, ids[0], "t", 5, 7)); !eqInts(c, []int16{0, 0}) {
		t.Fatalf("commit: %v", c)
	}
	// Refused commits change nothing.
	for _, tc := range []struct {
		what string
		req  *kmsg.OffsetCommitRequest
		want int16
	}{
		{"a stale generation", commitReq("g", gen-1, ids[0], "t", 1, 1), kerr.IllegalGeneration.Code},
		{"an unknown member", commitReq("g", gen, "nobody", "t", 1, 1), kerr.UnknownMemberID.Code},
		{"from outside the protocol into a group with members", commitReq("g", -1, "", "t", 1, 1), kerr.UnknownMemberID.Code},
		{"an unknown topic", commitReq("g", gen, ids[0], "nope", 1, 1), kerr.UnknownTopicOrPartition.Code},
	} {
		if c := h.commit(coord, tc.req); !eqInts(c, []int16{tc.want, tc.want}) {
			t.Errorf("commit of %s: %v, want %d", tc.what, c, tc.want)
		}
	}
	// Per partition: one too many, one with metadata too large.
	r := commitReq("g", gen, ids[1], "t", 9, 9, 9)
	r.Topics[0].Partitions[1].Metadata = kmsg.StringPtr(strings.Repeat("x", offsetMetadataBytesMax+1))
	if c := h.commit(coord, r); !eqInts(c, []int16{0, kerr.OffsetMetadataTooLarge.Code, kerr.UnknownTopicOrPartition.Code}) {
		t.Fatalf("mixed commit: %v", c)
	}
	if code, offs := h.fetched(coord, "g", "t", 2); code != 0 || !eqInts(offs, []int64{9, 7}) {
		t.Fatalf("fetch: %d %v, want [9 7]", code, offs)
	}

	// OffsetFetch v5 (one group, null topics: every committed partition)
	// carries leader epoch and metadata.
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 5
	f.Group = "g"
	fr := h.do(coord, f).(*kmsg.OffsetFetchResponse)
	if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 2 {
		t.Fatalf("fetch v5: %+v", fr)
	}
	for i, p := range fr.Topics[0].Partitions {
		if p.Partition != int32(i) || p.LeaderEpoch != 7 || p.Metadata == nil || *p.Metadata != "m" {
			t.Fatalf("fetch v5 partition %d: %+v", i, p)
		}
	}
	// v8: two groups in one request; a group without commits answers -1.
	other := sameCoordinator("g", 2)
	f8 := kmsg.NewPtrOffsetFetchRequest()
	f8.Version = 8
	for _, g := range []string{"g", other} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = "t", []int32{1}
		rg.Topics = append(rg.Topics, rt)
		f8.Groups = append(f8.Groups, rg)
	}
	f8r := h.do(coord, f8).(*kmsg.OffsetFetchResponse)
	if len(f8r.Groups) != 2 || f8r.Groups[0].Topics[0].Partitions[0].Offset != 7 ||
		f8r.Groups[1].ErrorCode != 0 || f8r.Groups[1].Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("fetch v8 of two groups: %+v", f8r.Groups)
	}

	// A group the coordinator does not know: commits with a generation
	// are GROUP_ID_NOT_FOUND from v9, ILLEGAL_GENERATION before; one from
	// outside the protocol creates a simple group.
	if c := h.commit(coord, commitReq(other, 3, "m", "t", 1)); !eqInts(c, []int16{kerr.GroupIDNotFound.Code}) {
		t.Errorf("v9 commit to an unknown group: %v", c)
	}
	r = commitReq(other, 3, "m", "t", 1)
	r.Version = 8
	if c := h.commit(coord, r); !eqInts(c, []int16{kerr.IllegalGeneration.Code}) {
		t.Errorf("v8 commit to an unknown group: %v", c)
	}
	if c := h.commit(coord, commitReq(other, -1, "", "t", 11)); !eqInts(c, []int16{0}) {
		t.Errorf("simple commit: %v", c)
	}
	if code, offs := h.fetched(coord, other, "t", 1); code != 0 || !eqInts(offs, []int64{11}) {
		t.Errorf("simple group fetch: %d %v", code, offs)
	}

	// v10 names topics by id.
	id := h.nodes[coord].n.meta.topics["t"].id
	r = commitReq("g", gen, ids[0], "", 21)
	r.Version = 10
	r.Topics[0].TopicID = id
	if c := h.commit(coord, r); !eqInts(c, []int16{0}) {
		t.Fatalf("v10 commit: %v", c)
	}
	f10 := kmsg.NewPtrOffsetFetchRequest()
	f10.Version = 10
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = "g"
	f10.Groups = append(f10.Groups, rg) // null topics: all
	f10r := h.do(coord, f10).(*kmsg.OffsetFetchResponse)
	if g := f10r.Groups[0]; len(g.Topics) != 1 || g.Topics[0].TopicID != id || g.Topics[0].Partitions[0].Offset != 21 {
		t.Fatalf("v10 fetch: %+v", f10r.Groups)
	}

	// Not the coordinator: NOT_COORDINATOR, from both APIs.
	notCoord := uint64(1)
	if notCoord == coord {
		notCoord = 2
	}
	if c := h.commit(notCoord, commitReq("g", gen, ids[0], "t", 1, 1)); c[0] != kerr.NotCoordinator.Code {
		t.Errorf("commit at a non-coordinator: %v", c)
	}
	if code, _ := h.fetched(notCoord, "g", "t", 2); code != kerr.NotCoordinator.Code {
		t.Errorf("fetch at a non-coordinator: %d", code)
	}
}

// TestOffsetCommitDuringRebalance: a member of a generation whose
// assignment is not out yet is told REBALANCE_IN_PROGRESS; a static
// member's instance id held by another member id is FENCED_INSTANCE_ID.
func TestOffsetCommitDuringRebalance(t *testing.T) {
	h := groupHarness(t)
	h.createTopic("t", 1)
	coord := h.findCoordinator("s")
	j := consumerJoinReq("s", "", "t")
	j.InstanceID = kmsg.StringPtr("i1")
	jr := h.do(coord, j).(*kmsg.JoinGroupResponse)
	if jr.ErrorCode != 0 {
		t.Fatalf("static join: %d", jr.ErrorCode)
	}
	r := commitReq("s", jr.Generation, jr.MemberID, "t", 3)
	r.InstanceID = kmsg.StringPtr("i1")
	if c := h.commit(coord, r); c[0] != kerr.RebalanceInProgress.Code {
		t.Fatalf("commit while CompletingRebalance: %v", c)
	}
	r.MemberID = "impostor"
	if c := h.commit(coord, r); c[0] != kerr.FencedInstanceID.Code {
		t.Fatalf("commit by another member id of the instance: %v", c)
	}
	r.InstanceID = kmsg.StringPtr("i2")
	if c := h.commit(coord, r); c[0] != kerr.UnknownMemberID.Code {
		t.Fatalf("commit of an unknown instance: %v", c)
	}
}

// commitFencing runs a group across a coordinator crash and answers the
// codes of two commits the group's new generation must refuse: one by a
// member of the old generation that checks pass at the handler but the
// log's generation moved on before it applies, one by the old generation
// after the rebalance; and what OffsetFetch answers after both.
func commitFencing(t *testing.T, bug string) (raced, stale int16, after []int64) {
	h := groupHarness(t)
	h.createTopic("t", 2)
	h.plant(bug)
	coord := h.findCoordinator("g")
	ids, gen := h.stableGroup(coord, "g", 2, "t")
	if c := h.commit(coord, commitReq("g", gen, ids[0], "t", 5, 7)); !eqInts(c, []int16{0, 0}) {
		t.Fatalf("commit: %v", c)
	}

	// The coordinator dies; the new one answers the commits from the log.
	h.crash(coord)
	next := h.findCoordinator("g")
	h.plant(bug)
	if code, offs := h.fetched(next, "g", "t", 2); code != 0 || !eqInts(offs, []int64{5, 7}) {
		t.Fatalf("fetch at the new coordinator: %d %v, want [5 7]", code, offs)
	}
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 7
	f.Group = "g"
	fr := h.do(next, f).(*kmsg.OffsetFetchResponse)
	if p := fr.Topics[0].Partitions[0]; p.LeaderEpoch != 7 || *p.Metadata != "m" {
		t.Fatalf("fetch v7 at the new coordinator: %+v", p)
	}

	// ids[1] leaves; ids[0] rejoins, and in the same instant (before the
	// new generation's write applies) commits for the old generation: the
	// handler sees generation gen, the log says gen+1 when it applies.
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Version = 5
	lv.Group = "g"
	lv.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[1]}}
	if r := h.do(next, lv).(*kmsg.LeaveGroupResponse); r.Members[0].ErrorCode != 0 {
		t.Fatalf("leave: %+v", r)
	}
	jc, _ := h.send(next, consumerJoinReq("g", ids[0], "t"))
	if lg := h.nodes[next].n.groups[h.offsetsGroupOf(next, "g")].part.coord.live["g"]; !lg.writing || lg.generation != gen {
		t.Fatalf("the new generation is not in flight: writing %v generation %d", lg.writing, lg.generation)
	}
	raced = commitCodes(h.do(next, commitReq("g", gen, ids[0], "t", 50, 70)))[0]
	h.until(10*time.Second, "rejoin", func() bool { return len(h.nodes[next].got[jc]) > 0 })
	_, jr, err := wire.ParseResponse(h.nodes[next].got[jc][0], consumerJoinReq("g", "", "t"))
	if err != nil || jr.(*kmsg.JoinGroupResponse).Generation != gen+1 {
		t.Fatalf("rejoin: %v %+v", err, jr)
	}
	// The old generation's commit, after the rebalance.
	stale = h.commit(next, commitReq("g", gen, ids[0], "t", 51, 71))[0]
	_, after = h.fetched(next, "g", "t", 2)
	return raced, stale, after
}

// offsetsGroupOf is the raft group of a group id's coordinator partition,
// as node id knows it.
func (h *harness) offsetsGroupOf(id uint64, group string) uint64 {
	gid, _, _ := h.nodes[id].n.coordinatorGroup(group)
	return gid
}

func TestOffsetCommitFencedAcrossCoordinatorCrash(t *testing.T) {
	raced, stale, after := commitFencing(t, "")
	if raced != kerr.IllegalGeneration.Code {
		t.Errorf("commit racing the new generation: %d, want ILLEGAL_GENERATION (refused at apply)", raced)
	}
	if stale != kerr.IllegalGeneration.Code {
		t.Errorf("commit of the fenced generation: %d, want ILLEGAL_GENERATION", stale)
	}
	if !eqInts(after, []int64{5, 7}) {
		t.Errorf("offsets after the refused commits: %v, want [5 7]", after)
	}
}

// TestPlantedCommitAnyGeneration: with the bug both fenced commits land.
func TestPlantedCommitAnyGeneration(t *testing.T) {
	raced, stale, after := commitFencing(t, BugCommitAnyGeneration)
	if raced != 0 || stale != 0 || !eqInts(after, []int64{51, 71}) {
		t.Fatalf("with %s: raced %d stale %d offsets %v, want both accepted and [51 71]", BugCommitAnyGeneration, raced, stale, after)
	}
}

func describe(h *harness, id uint64, version int16, groups ...string) []kmsg.DescribeGroupsResponseGroup {
	h.t.Helper()
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Version = version
	r.Groups = groups
	r.IncludeAuthorizedOperations = version >= 3
	return h.do(id, r).(*kmsg.DescribeGroupsResponse).Groups
}

// listed is every group ListGroups v5 answers on any live node, as
// name -> state, with the filters given.
func listed(h *harness, states, types []string) map[string]string {
	h.t.Helper()
	out := map[string]string{}
	for _, id := range h.ids {
		if h.nodes[id].down {
			continue
		}
		r := kmsg.NewPtrListGroupsRequest()
		r.Version = 5
		r.StatesFilter, r.TypesFilter = states, types
		resp := h.do(id, r).(*kmsg.ListGroupsResponse)
		if resp.ErrorCode != 0 {
			h.t.Fatalf("list groups at %d: %d", id, resp.ErrorCode)
		}
		for _, g := range resp.Groups {
			if g.GroupType != groupTypeClassic {
				h.t.Fatalf("group %s of type %q", g.Group, g.GroupType)
			}
			if _, dup := out[g.Group]; dup {
				h.t.Fatalf("group %s listed by two coordinators", g.Group)
			}
			out[g.Group] = g.GroupState
		}
	}
	return out
}

func leaveAll(h *harness, coord uint64, group string, ids []string) {
	h.t.Helper()
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Version = 5
	lv.Group = group
	for _, id := range ids {
		lv.Members = append(lv.Members, kmsg.LeaveGroupRequestMember{MemberID: id})
	}
	if r := h.do(coord, lv).(*kmsg.LeaveGroupResponse); r.ErrorCode != 0 {
		h.t.Fatalf("leave: %+v", r)
	}
	h.until(10*time.Second, group+" empty", func() bool {
		d := describe(h, coord, 5, group)[0]
		return d.State == "Empty"
	})
}

func TestGroupAdminAPIs(t *testing.T) {
	h := groupHarness(t)
	h.createTopic("t", 2)
	h.createTopic("u", 1)
	coord := h.findCoordinator("g")
	ids, gen := h.stableGroup(coord, "g", 2, "t")
	if c := h.commit(coord, commitReq("g", gen, ids[0], "t", 5, 7)); !eqInts(c, []int16{0, 0}) {
		t.Fatalf("commit t: %v", c)
	}
	if c := h.commit(coord, commitReq("g", gen, ids[0], "u", 3)); !eqInts(c, []int16{0}) {
		t.Fatalf("commit u: %v", c)
	}
	simple := sameCoordinator("g", 2)
	if c := h.commit(coord, commitReq(simple, -1, "", "t", 1)); !eqInts(c, []int16{0}) {
		t.Fatalf("simple commit: %v", c)
	}

	// DescribeGroups: a Stable group shows its protocol, subscriptions
	// and assignments; a simple group is Empty; an unknown one Dead, and
	// GROUP_ID_NOT_FOUND from v6.
	unknown := sameCoordinator(simple, 2)
	ds := describe(h, coord, 5, "g", simple, unknown)
	if d := ds[0]; d.ErrorCode != 0 || d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != "range" ||
		len(d.Members) != 2 || d.AuthorizedOperations != groupOpsAll {
		t.Fatalf("describe g: %+v", d)
	}
	for _, m := range ds[0].Members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.ProtocolMetadata); err != nil || !eqInts(md.Topics, []string{"t"}) || string(m.MemberAssignment) != "parts-of-"+m.MemberID {
			t.Fatalf("describe g member: %+v (%v)", m, err)
		}
	}
	if d := ds[1]; d.ErrorCode != 0 || d.State != "Empty" || d.ProtocolType != "" || len(d.Members) != 0 {
		t.Fatalf("describe simple: %+v", d)
	}
	if d := ds[2]; d.ErrorCode != 0 || d.State != "Dead" {
		t.Fatalf("describe unknown v5: %+v", d)
	}
	if d := describe(h, coord, 6, unknown)[0]; d.ErrorCode != kerr.GroupIDNotFound.Code || d.State != "Dead" {
		t.Fatalf("describe unknown v6: %+v", d)
	}

	// ListGroups across the cluster, with filters.
	if got := listed(h, nil, nil); len(got) != 2 || got["g"] != "Stable" || got[simple] != "Empty" {
		t.Fatalf("list: %v", got)
	}
	if got := listed(h, []string{"stable"}, []string{"Classic"}); len(got) != 1 || got["g"] != "Stable" {
		t.Fatalf("list Stable classic: %v", got)
	}
	if got := listed(h, nil, []string{"consumer"}); len(got) != 0 {
		t.Fatalf("list type consumer: %v", got)
	}

	// OffsetDelete: a subscribed topic's offsets stay while members
	// subscribe to it; others go.
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	for _, tp := range []struct {
		topic string
		part  int32
	}{{"t", 0}, {"u", 0}, {"nope", 0}} {
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = tp.topic
		rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: tp.part}}
		od.Topics = append(od.Topics, rt)
	}
	odr := h.do(coord, od).(*kmsg.OffsetDeleteResponse)
	if odr.ErrorCode != 0 || odr.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code ||
		odr.Topics[1].Partitions[0].ErrorCode != 0 || odr.Topics[2].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("offset delete: %+v", odr)
	}
	if _, offs := h.fetched(coord, "g", "u", 1); !eqInts(offs, []int64{-1}) {
		t.Fatalf("u after offset delete: %v", offs)
	}
	if _, offs := h.fetched(coord, "g", "t", 2); !eqInts(offs, []int64{5, 7}) {
		t.Fatalf("t after offset delete: %v", offs)
	}

	// DeleteGroups: a group with members is NON_EMPTY_GROUP, an unknown
	// one GROUP_ID_NOT_FOUND; once empty, it goes with its offsets.
	del := func(groups ...string) []int16 {
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Version = 3
		r.Groups = groups
		var out []int16
		for _, g := range h.do(coord, r).(*kmsg.DeleteGroupsResponse).Groups {
			out = append(out, g.ErrorCode)
		}
		return out
	}
	if c := del("g", unknown); !eqInts(c, []int16{kerr.NonEmptyGroup.Code, kerr.GroupIDNotFound.Code}) {
		t.Fatalf("delete: %v", c)
	}
	leaveAll(h, coord, "g", ids)
	if c := del("g", simple); !eqInts(c, []int16{0, 0}) {
		t.Fatalf("delete empty groups: %v", c)
	}
	if _, offs := h.fetched(coord, "g", "t", 2); !eqInts(offs, []int64{-1, -1}) {
		t.Fatalf("offsets of a deleted group: %v", offs)
	}
	if d := describe(h, coord, 6, "g")[0]; d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe a deleted group: %+v", d)
	}
	if got := listed(h, nil, nil); len(got) != 0 {
		t.Fatalf("list after delete: %v", got)
	}
	// The group can start again.
	if _, gen2 := h.stableGroup(coord, "g", 1, "t"); gen2 != 1 {
		t.Fatalf("a new group after delete: generation %d", gen2)
	}
}

// TestDeletedTopicDropsCommits: deleting a topic deletes the groups'
// commits for it.
func TestDeletedTopicDropsCommits(t *testing.T) {
	h := groupHarness(t)
	h.createTopic("t", 1)
	h.createTopic("u", 1)
	coord := h.findCoordinator("s")
	h.commit(coord, commitReq("s", -1, "", "t", 4))
	h.commit(coord, commitReq("s", -1, "", "u", 6))
	ml := h.nodes[coord].n.groups[metaGroup].lead
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.Version = 6
	dt.TimeoutMillis = 10000
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr("t")
	dt.Topics = append(dt.Topics, rt)
	if r := h.do(ml, dt).(*kmsg.DeleteTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete topic: %+v", r.Topics[0])
	}
	h.until(10*time.Second, "t's commit dropped", func() bool {
		_, offs := h.fetched(coord, "s", "t", 1)
		return eqInts(offs, []int64{-1})
	})
	if _, offs := h.fetched(coord, "s", "u", 1); !eqInts(offs, []int64{6}) {
		t.Fatalf("u's commit: %v", offs)
	}
}

// expiryHarness: offsets retained a minute, checked every five seconds.
func expiryHarness(t *testing.T) *harness {
	return newHarness(t, 3, func(c *Config) {
		c.OffsetsPartitions = 2
		c.GroupInitialRebalanceDelay = -1
		c.OffsetsRetention = time.Minute
		c.OffsetsRetentionCheckInterval = 5 * time.Second
	})
}

// keepAlive runs the world for d, every member heartbeating each second.
func (h *harness) keepAlive(coord uint64, group string, gen int32, ids []string, d time.Duration) {
	h.t.Helper()
	for end := h.now.Add(d); h.now.Before(end); {
		for _, id := range ids {
			r := kmsg.NewPtrHeartbeatRequest()
			r.Version = 4
			r.Group, r.Generation, r.MemberID = group, gen, id
			if c := h.do(coord, r).(*kmsg.HeartbeatResponse).ErrorCode; c != 0 {
				h.t.Fatalf("heartbeat of %s: %d", id, c)
			}
		}
		h.run(time.Second)
	}
}

func TestOffsetExpiry(t *testing.T) {
	h := expiryHarness(t)
	h.createTopic("t", 1)
	h.createTopic("u", 1)
	coord := h.findCoordinator("g")
	simple := sameCoordinator("g", 2)
	short := sameCoordinator(simple, 2)
	ids, gen := h.stableGroup(coord, "g", 1, "t")
	h.commit(coord, commitReq("g", gen, ids[0], "t", 5))
	h.commit(coord, commitReq("g", gen, ids[0], "u", 3))
	h.commit(coord, commitReq(simple, -1, "", "t", 1))
	// v2's retention time: this offset expires 10s after its commit.
	r := commitReq(short, -1, "", "t", 2)
	r.Version, r.RetentionTimeMillis = 2, 10000
	h.commit(coord, r)
	has := func(group, topic string) bool {
		_, offs := h.fetched(coord, group, topic, 1)
		return offs[0] >= 0
	}

	h.keepAlive(coord, "g", gen, ids, 30*time.Second)
	if has(short, "t") || !has(simple, "t") || !has("g", "t") || !has("g", "u") {
		t.Fatalf("after 30s: short %v simple %v g/t %v g/u %v, want only short gone",
			has(short, "t"), has(simple, "t"), has("g", "t"), has("g", "u"))
	}
	// Past the retention: the simple group's offset (since its commit)
	// and the Stable group's offset of a topic it does not subscribe to
	// go; its subscribed topic's stays.
	h.keepAlive(coord, "g", gen, ids, 40*time.Second)
	if has(simple, "t") || has("g", "u") || !has("g", "t") {
		t.Fatalf("after 70s: simple %v g/u %v g/t %v, want only g/t", has(simple, "t"), has("g", "u"), has("g", "t"))
	}
	if d := describe(h, coord, 6, simple)[0]; d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("simple group after its offsets expired: %+v", d)
	}

	// The group empties: its offset, committed 70s ago, is kept a
	// retention from now, then goes with the group.
	leaveAll(h, coord, "g", ids)
	h.run(50 * time.Second)
	if !has("g", "t") {
		t.Fatalf("offset of a group empty for 50s expired")
	}
	h.run(20 * time.Second)
	if has("g", "t") {
		t.Fatalf("offset of a group empty for 70s kept")
	}
	if d := describe(h, coord, 6, "g")[0]; d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("empty group after its offsets expired: %+v", d)
	}
}

// expireDuringRebalance commits, keeps the group Stable past the
// retention, then holds it in a rebalance across an expiry check; it
// answers whether the commit survived.
func expireDuringRebalance(t *testing.T, bug string) bool {
	h := expiryHarness(t)
	h.createTopic("t", 1)
	h.plant(bug)
	coord := h.findCoordinator("g")
	ids, gen := h.stableGroup(coord, "g", 2, "t")
	h.commit(coord, commitReq("g", gen, ids[0], "t", 5))
	h.keepAlive(coord, "g", gen, ids, 70*time.Second)
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Version = 5
	lv.Group = "g"
	lv.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[1]}}
	h.do(coord, lv)
	h.run(8 * time.Second) // ids[0] has 10s to rejoin; a check runs meanwhile
	if d := describe(h, coord, 5, "g")[0]; d.State != "PreparingRebalance" {
		t.Fatalf("group %s, want PreparingRebalance", d.State)
	}
	if j := h.do(coord, consumerJoinReq("g", ids[0], "t")).(*kmsg.JoinGroupResponse); j.ErrorCode != 0 {
		t.Fatalf("rejoin: %d", j.ErrorCode)
	}
	_, offs := h.fetched(coord, "g", "t", 1)
	return offs[0] == 5
}

func TestOffsetsKeptDuringRebalance(t *testing.T) {
	if !expireDuringRebalance(t, "") {
		t.Fatal("a group's offset expired during a rebalance")
	}
}

func TestPlantedExpireDuringRebalance(t *testing.T) {
	if expireDuringRebalance(t, BugExpireDuringRebalance) {
		t.Fatalf("with %s the offset survived the rebalance", BugExpireDuringRebalance)
	}
}

// offsetsWhileLoading commits twice; the second commit's commit index never
// reaches the followers before the coordinator dies, so the new leader has
// the entry but has not applied it. It answers what OffsetFetch at the new
// leader says while it loads, and once it serves.
func offsetsWhileLoading(t *testing.T, bug string) (loadingCode int16, loading, served []int64) {
	h := groupHarness(t)
	h.createTopic("t", 1)
	h.plant(bug)
	coord := h.findCoordinator("s")
	if c := h.commit(coord, commitReq("s", -1, "", "t", 10)); c[0] != 0 {
		t.Fatalf("commit: %v", c)
	}
	h.run(time.Second)
	gid := h.offsetsGroupOf(coord, "s")
	before := h.nodes[coord].n.groups[gid].rn.Status().GetCommit()
	h.drop = func(from uint64, m PeerMessage) bool {
		return from == coord && m.Group == gid && m.Msg != nil && m.Msg.GetCommit() > before
	}
	if c := h.commit(coord, commitReq("s", -1, "", "t", 20)); c[0] != 0 {
		t.Fatalf("commit: %v", c)
	}
	h.crash(coord)
	h.drop = nil
	var next uint64
	h.until(30*time.Second, "a new leader, loading", func() bool {
		for _, id := range h.ids {
			if g := h.nodes[id].n.groups[gid]; !h.nodes[id].down && g.leader && !g.serving() {
				next = id
				return true
			}
		}
		return false
	})
	if o, _ := h.nodes[next].n.groups[gid].part.coord.group("s").offsetOf("t", 0); o.offset == 20 {
		t.Fatalf("the new leader already applied the second commit: the test shows nothing")
	}
	loadingCode, loading = h.fetched(next, "s", "t", 1)
	h.until(10*time.Second, "the new leader serving", func() bool { return h.nodes[next].n.groups[gid].serving() })
	_, served = h.fetched(next, "s", "t", 1)
	return loadingCode, loading, served
}

func TestOffsetFetchWhileLoading(t *testing.T) {
	code, _, served := offsetsWhileLoading(t, "")
	if code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("OffsetFetch at a loading coordinator: %d, want COORDINATOR_LOAD_IN_PROGRESS", code)
	}
	if !eqInts(served, []int64{20}) {
		t.Fatalf("OffsetFetch once served: %v, want [20]", served)
	}
}

func TestPlantedOffsetsWhileLoading(t *testing.T) {
	code, loading, _ := offsetsWhileLoading(t, BugOffsetsWhileLoading)
	if code != 0 || !eqInts(loading, []int64{10}) {
		t.Fatalf("with %s: code %d offsets %v, want the stale [10]", BugOffsetsWhileLoading, code, loading)
	}
}

// TestDeleteGuard: a delete's guard holds only while the log's group has no
// members, and commit-any-generation, which lifts a commit's guard, leaves
// it alone.
func TestDeleteGuard(t *testing.T) {
	cs := newCoordState()
	v := kmsg.NewGroupMetadataValue()
	v.Version, v.ProtocolType, v.Generation = valueVersionGroupMetadata, "consumer", 3
	v.Members = []kmsg.GroupMetadataValueMember{{MemberID: "m"}}
	cs.fold(groupMetadataKey("g"), v.AppendTo(nil))
	gd := groupGuard{kind: guardNoMembers, group: "g"}
	for _, bug := range []string{"", BugCommitAnyGeneration} {
		if c := cs.check(gd, bug); c != kerr.NonEmptyGroup.Code {
			t.Fatalf("bug %q: delete of a group with members: %d, want NON_EMPTY_GROUP", bug, c)
		}
	}
	v.Members, v.Generation = nil, 4
	cs.fold(groupMetadataKey("g"), v.AppendTo(nil))
	if c := cs.check(gd, ""); c != 0 {
		t.Fatalf("delete of an empty group: %d", c)
	}
}

// TestOffsetCommitKeepsSession: a member that commits and never
// heartbeats keeps its place past its session timeout (Kafka reschedules
// the session on a commit); once it stops committing too, it expires.
func TestOffsetCommitKeepsSession(t *testing.T) {
	h := groupHarness(t)
	h.createTopic("t", 1)
	coord := h.findCoordinator("g")
	ids, gen := h.stableGroup(coord, "g", 1, "t") // session 10s
	for i := range 8 {
		if c := h.commit(coord, commitReq("g", gen, ids[0], "t", int64(i))); c[0] != 0 {
			t.Fatalf("commit %d: %v", i, c)
		}
		h.run(3 * time.Second)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 4
	hb.Group, hb.Generation, hb.MemberID = "g", gen, ids[0]
	if c := h.do(coord, hb).(*kmsg.HeartbeatResponse).ErrorCode; c != 0 {
		t.Fatalf("heartbeat after 24s of commits only: %d, want NONE", c)
	}
	h.run(12 * time.Second)
	if c := h.do(coord, hb).(*kmsg.HeartbeatResponse).ErrorCode; c == 0 {
		t.Fatalf("heartbeat after 12s of silence: NONE, want the session over")
	}
}

// TestOffsetExpiryAcrossCoordinatorCrash: when a group became empty is in
// the log (its metadata record's state timestamp), so the next coordinator
// expires its offsets a retention after that, not after it took over.
func TestOffsetExpiryAcrossCoordinatorCrash(t *testing.T) {
	h := expiryHarness(t)
	h.createTopic("t", 1)
	coord := h.findCoordinator("g")
	ids, gen := h.stableGroup(coord, "g", 1, "t")
	h.commit(coord, commitReq("g", gen, ids[0], "t", 5))
	leaveAll(h, coord, "g", ids)
	h.run(30 * time.Second)
	h.crash(coord)
	next := h.findCoordinator("g")
	if _, offs := h.fetched(next, "g", "t", 1); !eqInts(offs, []int64{5}) {
		t.Fatalf("offset at the new coordinator: %v", offs)
	}
	h.run(h.nodes[next].n.cfg.OffsetsRetention - 30*time.Second + 10*time.Second)
	if _, offs := h.fetched(next, "g", "t", 1); !eqInts(offs, []int64{-1}) {
		t.Fatalf("offset a retention and 10s after the group emptied, 30s of it at the old coordinator: %v, want expired", offs)
	}
}

// TestDeleteGroupsAfterCommitInFlight: a DeleteGroups that arrives while a
// commit of the group is in flight deletes that commit too.
func TestDeleteGroupsAfterCommitInFlight(t *testing.T) {
	h := groupHarness(t)
	h.createTopic("t", 2)
	coord := h.findCoordinator("s")
	h.commit(coord, commitReq("s", -1, "", "t", 4))
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version = 3
	del.Groups = []string{"s"}
	resps := h.awaitAll(coord, []kmsg.Request{commitReq("s", -1, "", "t", 5, 6), del})
	if c := commitCodes(resps[0]); !eqInts(c, []int16{0, 0}) {
		t.Fatalf("commit: %v", c)
	}
	if c := resps[1].(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode; c != 0 {
		t.Fatalf("delete: %d", c)
	}
	if _, offs := h.fetched(coord, "s", "t", 2); !eqInts(offs, []int64{-1, -1}) {
		t.Fatalf("offsets after the delete: %v, want none", offs)
	}
	if d := describe(h, coord, 6, "s")[0]; d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe after the delete: %+v", d)
	}
}

// TestOffsetDeleteAfterCommitInFlight: an OffsetDelete that arrives while
// a commit of the partition is in flight deletes it.
func TestOffsetDeleteAfterCommitInFlight(t *testing.T) {
	h := groupHarness(t)
	h.createTopic("t", 2)
	coord := h.findCoordinator("s")
	h.commit(coord, commitReq("s", -1, "", "t", 4))
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "s"
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = "t"
	rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}
	od.Topics = append(od.Topics, rt)
	resps := h.awaitAll(coord, []kmsg.Request{commitReq("s", -1, "", "t", 5, 6), od})
	if r := resps[1].(*kmsg.OffsetDeleteResponse); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete: %+v", r)
	}
	if _, offs := h.fetched(coord, "s", "t", 2); !eqInts(offs, []int64{5, -1}) {
		t.Fatalf("offsets after the delete: %v, want [5 -1]", offs)
	}
}

// TestDeletedTopicDropsCommitInFlight: a commit of a topic, checked before
// the topic was deleted and applied after, is dropped too.
func TestDeletedTopicDropsCommitInFlight(t *testing.T) {
	h := groupHarness(t)
	h.createTopic("t", 2)
	coord := h.findCoordinator("s")
	h.commit(coord, commitReq("s", -1, "", "t", 4))
	gid := h.offsetsGroupOf(coord, "s")
	// The coordinator hears no follower of its partition: the commit
	// stays in flight while the topic is deleted.
	h.drop = func(from uint64, m PeerMessage) bool { return m.Group == gid && m.To == coord }
	cc, _ := h.send(coord, commitReq("s", -1, "", "t", 5, 6))
	ml := h.nodes[coord].n.groups[metaGroup].lead
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.Version = 6
	dt.TimeoutMillis = 10000
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr("t")
	dt.Topics = append(dt.Topics, rt)
	if r := h.do(ml, dt).(*kmsg.DeleteTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete topic: %+v", r.Topics[0])
	}
	h.until(10*time.Second, "the coordinator applies the deletion", func() bool { return h.nodes[coord].n.meta.topics["t"] == nil })
	if len(h.nodes[coord].got[cc]) != 0 {
		t.Fatalf("the commit was answered before the deletion: the test shows nothing")
	}
	h.drop = nil
	h.until(10*time.Second, "the commit's answer", func() bool { return len(h.nodes[coord].got[cc]) > 0 })
	h.run(time.Second)
	if _, offs := h.fetched(coord, "s", "t", 2); !eqInts(offs, []int64{-1, -1}) {
		t.Fatalf("commits of the deleted topic: %v, want none", offs)
	}
}
