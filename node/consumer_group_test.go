package node

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *harness) cgHeartbeat(coord uint64, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	h.t.Helper()
	req.Group = "g"
	return h.do(coord, req).(*kmsg.ConsumerGroupHeartbeatResponse)
}

// TestConsumerGroupThroughCoordinator: KIP-848 members on a three-node
// cluster: each change is in every replica's fold once answered, the new
// coordinator after a crash serves the same epochs and assignments, and a
// partition moves only after its owner released it.
func TestConsumerGroupThroughCoordinator(t *testing.T) {
	h := groupHarness(t)
	h.until(20*time.Second, "topic created", func() bool {
		ctrl := h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0 && h.do(uint64(ctrl), createReq("t", 4, 3)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode == 0
	})
	coord := h.findCoordinator("g")
	h.until(10*time.Second, "topic known at the coordinator", func() bool { return h.nodes[coord].n.meta.topics["t"] != nil })
	tid := h.nodes[coord].n.meta.topics["t"].id

	ra := h.cgHeartbeat(coord, cgJoinReq("a", "t"))
	if ra.ErrorCode != 0 || ra.MemberEpoch != 1 || respSet(ra).count() != 4 {
		t.Fatalf("a joins: %v epoch %d assignment %v", kerr.ErrorForCode(ra.ErrorCode), ra.MemberEpoch, respSet(ra))
	}
	// Answered only once applied: the coordinator's fold has it.
	_, cs, _ := h.nodes[coord].n.coordinatorFor("g")
	if cs.consumer["g"] == nil {
		t.Fatal("a's join answered before the fold had the group")
	}
	if m := cs.consumer["g"].members["a"]; m == nil || m.epoch != 1 || m.assigned.count() != 4 {
		t.Fatalf("the fold after a's join: %+v", m)
	}
	rb := h.cgHeartbeat(coord, cgJoinReq("b", "t"))
	if rb.ErrorCode != 0 || rb.MemberEpoch != 2 || respSet(rb).count() != 0 {
		t.Fatalf("b joins: %v epoch %d assignment %v", kerr.ErrorForCode(rb.ErrorCode), rb.MemberEpoch, respSet(rb))
	}
	// a is told what it keeps; it has not released the rest yet.
	ra = h.cgHeartbeat(coord, cgHBReq("a", 1, partSet{tid: {0, 1, 2, 3}}))
	keep := respSet(ra)
	if ra.ErrorCode != 0 || ra.MemberEpoch != 1 || keep.count() != 2 {
		t.Fatalf("a revoking: %v epoch %d assignment %v", kerr.ErrorForCode(ra.ErrorCode), ra.MemberEpoch, keep)
	}

	// The coordinator dies mid-revocation. The new one has the same
	// state from the log: b still gets nothing until a releases.
	h.crash(coord)
	next := h.findCoordinator("g")
	if next == coord {
		t.Fatal("coordinator did not move")
	}
	if r := h.cgHeartbeat(next, cgHBReq("b", 2, partSet{})); r.ErrorCode != 0 || respSet(r).count() != 0 {
		t.Fatalf("b at the new coordinator before a released: %v %v", kerr.ErrorForCode(r.ErrorCode), respSet(r))
	}
	if r := h.cgHeartbeat(next, cgHBReq("a", 3, nil)); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("a with an epoch it never had: %v, want FENCED_MEMBER_EPOCH", kerr.ErrorForCode(r.ErrorCode))
	}
	ra = h.cgHeartbeat(next, cgHBReq("a", 1, keep))
	if ra.ErrorCode != 0 || ra.MemberEpoch != 2 {
		t.Fatalf("a releases: %v epoch %d", kerr.ErrorForCode(ra.ErrorCode), ra.MemberEpoch)
	}
	rb = h.cgHeartbeat(next, cgHBReq("b", 2, partSet{}))
	if got := respSet(rb); rb.ErrorCode != 0 || got.count() != 2 {
		t.Fatalf("b after a released: %v %v", kerr.ErrorForCode(rb.ErrorCode), got)
	}

	// Commits of a consumer group take the member epoch as generation.
	_, cs, _ = h.nodes[next].n.coordinatorFor("g")
	for _, c := range []struct {
		member  string
		epoch   int32
		version int16
		want    int16
	}{
		{"a", 2, 9, 0},
		{"a", 1, 9, kerr.StaleMemberEpoch.Code},
		{"zz", 2, 9, kerr.UnknownMemberID.Code},
		{"a", 2, 8, kerr.UnsupportedVersion.Code},
		{"", -1, 9, kerr.UnknownMemberID.Code}, // outside the group while it has members
	} {
		if isCG, code := cs.consumerGroupCommitCheck("g", c.member, c.epoch, c.version); !isCG || code != c.want {
			t.Errorf("commit by %q epoch %d v%d: %d, want %d", c.member, c.epoch, c.version, code, c.want)
		}
	}

	for _, c := range []struct {
		member string
		epoch  int32
		want   int16
	}{
		{"a", 2, 0},
		{"", -1, 0},
		{"a", 1, kerr.StaleMemberEpoch.Code},
		{"zz", 2, kerr.UnknownMemberID.Code},
	} {
		if isCG, code := cs.consumerGroupFetchCheck("g", c.member, c.epoch); !isCG || code != c.want {
			t.Errorf("offset fetch by %q epoch %d: %d, want %d", c.member, c.epoch, code, c.want)
		}
	}

	// Describe from the new coordinator.
	dreq := kmsg.NewPtrConsumerGroupDescribeRequest()
	dreq.Version = 1
	dreq.Groups = []string{"g", "nope"}
	d := h.do(next, dreq).(*kmsg.ConsumerGroupDescribeResponse)
	if len(d.Groups) != 2 || d.Groups[0].ErrorCode != 0 || d.Groups[0].Epoch != 2 || d.Groups[0].AssignorName != "uniform" || len(d.Groups[0].Members) != 2 {
		t.Fatalf("describe: %+v", d.Groups)
	}
	if d.Groups[0].Members[0].MemberType != 1 {
		t.Fatalf("describe v1 member type %d, want 1", d.Groups[0].Members[0].MemberType)
	}
	if c := d.Groups[1].ErrorCode; c != kerr.GroupIDNotFound.Code && c != kerr.NotCoordinator.Code {
		t.Fatalf("describe of an unknown group: %d", c)
	}

	// The classic protocol cannot join it.
	if r := h.do(next, joinReq9("g", "")).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join of a consumer group: %v, want INCONSISTENT_GROUP_PROTOCOL", kerr.ErrorForCode(r.ErrorCode))
	}

	// b stops heartbeating: after the session timeout it is removed, and
	// a, heartbeating, gets all four.
	h.until(2*cgSessionTimeoutMs*time.Millisecond, "b's session to end", func() bool {
		ra = h.cgHeartbeat(next, cgHBReq("a", ra.MemberEpoch, respSet(ra)))
		h.run(2 * time.Second)
		return ra.ErrorCode == 0 && respSet(ra) != nil && respSet(ra).count() == 4
	})
	_, cs, _ = h.nodes[next].n.coordinatorFor("g")
	if cs.consumer["g"].members["b"] != nil {
		t.Fatal("b still a member after its session ended")
	}
}

// TestConsumerGroupNotOverClassic: a classic group with members is not
// converted (GROUP_ID_NOT_FOUND).
func TestConsumerGroupNotOverClassic(t *testing.T) {
	h := groupHarness(t)
	coord := h.findCoordinator("g")
	r := h.do(coord, joinReq9("g", "")).(*kmsg.JoinGroupResponse)
	h.joinAll(coord, "g", []string{r.MemberID})
	if r := h.cgHeartbeat(coord, cgJoinReq("a", "t")); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("848 join of a classic group with members: %v, want GROUP_ID_NOT_FOUND", kerr.ErrorForCode(r.ErrorCode))
	}

	// An empty consumer group is converted by a classic join, as Kafka
	// converts it.
	hc := h.findCoordinator("h")
	jh := cgJoinReq("a", "t")
	jh.Group = "h"
	if r := h.do(hc, jh).(*kmsg.ConsumerGroupHeartbeatResponse); r.ErrorCode != 0 {
		t.Fatalf("848 join of h: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	lv := cgHBReq("a", -1, nil)
	lv.Group = "h"
	if r := h.do(hc, lv).(*kmsg.ConsumerGroupHeartbeatResponse); r.ErrorCode != 0 {
		t.Fatalf("leave h: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	jr := h.do(hc, joinReq9("h", "")).(*kmsg.JoinGroupResponse)
	if jr.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("classic join of the empty consumer group h: %v, want MEMBER_ID_REQUIRED (joining)", kerr.ErrorForCode(jr.ErrorCode))
	}
	if j := h.joinAll(hc, "h", []string{jr.MemberID})[0]; j.ErrorCode != 0 || j.Generation != 1 {
		t.Fatalf("classic join of h: %+v", j)
	}
	_, cs, _ := h.nodes[hc].n.coordinatorFor("h")
	if cs.consumer["h"] != nil {
		t.Fatal("the consumer group h is still folded after a classic group took its name")
	}
}

// TestPlantedAssignBeforeRevoke: with KAFKA-16147's lost partition epochs
// planted through Config.Bug, the coordinator gives b partitions a is still
// revoking (a's heartbeat still lists them as owned); without it, b waits.
func TestPlantedAssignBeforeRevoke(t *testing.T) {
	for _, bug := range []string{"", BugAssignBeforeRevoke} {
		h := newHarness(t, 3, func(c *Config) {
			c.OffsetsPartitions = 2
			c.Bug = bug
		})
		h.until(20*time.Second, "topic created", func() bool {
			ctrl := h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
			return ctrl > 0 && h.do(uint64(ctrl), createReq("t", 4, 3)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode == 0
		})
		coord := h.findCoordinator("g")
		h.until(10*time.Second, "topic known at the coordinator", func() bool { return h.nodes[coord].n.meta.topics["t"] != nil })
		tid := h.nodes[coord].n.meta.topics["t"].id
		all := partSet{tid: {0, 1, 2, 3}}
		if r := h.cgHeartbeat(coord, cgJoinReq("a", "t")); r.ErrorCode != 0 || !respSet(r).equal(all) {
			t.Fatalf("bug %q: a joins: %v %v", bug, kerr.ErrorForCode(r.ErrorCode), respSet(r))
		}
		h.cgHeartbeat(coord, cgJoinReq("b", "t"))
		// a hears what it keeps but still owns all four.
		h.cgHeartbeat(coord, cgHBReq("a", 1, all))
		rb := h.cgHeartbeat(coord, cgHBReq("b", 2, partSet{}))
		both := 0
		for id, parts := range respSet(rb) {
			for _, p := range parts {
				if all.has(id, p) {
					both++
				}
			}
		}
		switch {
		case bug == "" && both != 0:
			t.Fatalf("b given %v while a still owns it", respSet(rb))
		case bug != "" && both == 0:
			t.Fatalf("planted %s: b given %v, not a partition a still owns", bug, respSet(rb))
		}
	}
}

// TestConsumerGroupWithClassicAPIs: the group and offset APIs of the classic
// side on a KIP-848 group: commits and fetches take the member epoch,
// ListGroups names it type "consumer", DescribeGroups does not know it,
// DeleteGroups waits for it to empty, and the offsets of topics its members
// subscribe to do not expire.
func TestConsumerGroupWithClassicAPIs(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) {
		c.OffsetsPartitions = 2
		c.OffsetsRetention = time.Minute
		c.OffsetsRetentionCheckInterval = 5 * time.Second
	})
	h.until(20*time.Second, "topics created", func() bool {
		ctrl := h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		if ctrl <= 0 {
			return false
		}
		a := h.do(uint64(ctrl), createReq("t", 2, 3)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
		b := h.do(uint64(ctrl), createReq("old", 1, 3)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
		return (a == 0 || a == kerr.TopicAlreadyExists.Code) && (b == 0 || b == kerr.TopicAlreadyExists.Code)
	})
	coord := h.findCoordinator("g")
	r := h.cgHeartbeat(coord, cgJoinReq("a", "t"))
	if r.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	epoch := r.MemberEpoch

	if c := h.commit(coord, commitReq("g", epoch, "a", "t", 10, 20)); !eqInts(c, []int16{0, 0}) {
		t.Fatalf("commit at the member epoch: %v", c)
	}
	if c := h.commit(coord, commitReq("g", epoch, "a", "old", 5)); !eqInts(c, []int16{0}) {
		t.Fatalf("commit of an unsubscribed topic: %v", c)
	}
	if c := h.commit(coord, commitReq("g", epoch-1, "a", "t", 11, 21)); !eqInts(c, []int16{kerr.StaleMemberEpoch.Code, kerr.StaleMemberEpoch.Code}) {
		t.Fatalf("commit at an old epoch: %v, want STALE_MEMBER_EPOCH", c)
	}
	v8 := commitReq("g", epoch, "a", "t", 11, 21)
	v8.Version = 8
	if c := h.commit(coord, v8); !eqInts(c, []int16{kerr.UnsupportedVersion.Code, kerr.UnsupportedVersion.Code}) {
		t.Fatalf("commit v8 by a consumer-protocol member: %v, want UNSUPPORTED_VERSION", c)
	}
	if c := h.commit(coord, commitReq("g", -1, "", "t", 0, 0)); !eqInts(c, []int16{kerr.UnknownMemberID.Code, kerr.UnknownMemberID.Code}) {
		t.Fatalf("commit from outside a group with members: %v, want UNKNOWN_MEMBER_ID", c)
	}
	fetch := func(member string, e int32) (int16, []int64) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 9
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group, rg.MemberEpoch = "g", e
		if member != "" {
			rg.MemberID = kmsg.StringPtr(member)
		}
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = "t", []int32{0, 1}
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
		g := h.do(coord, req).(*kmsg.OffsetFetchResponse).Groups[0]
		var offs []int64
		for _, p := range g.Topics {
			for _, pp := range p.Partitions {
				offs = append(offs, pp.Offset)
			}
		}
		return g.ErrorCode, offs
	}
	if code, offs := fetch("a", epoch); code != 0 || !eqInts(offs, []int64{10, 20}) {
		t.Fatalf("fetch by the member: %d %v", code, offs)
	}
	if code, _ := fetch("a", epoch+1); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("fetch at a wrong epoch: %d, want STALE_MEMBER_EPOCH", code)
	}
	if code, offs := fetch("", -1); code != 0 || !eqInts(offs, []int64{10, 20}) {
		t.Fatalf("fetch by an admin: %d %v", code, offs)
	}

	lr := kmsg.NewPtrListGroupsRequest()
	lr.Version = 5
	lr.TypesFilter = []string{"consumer"}
	found := false
	for _, id := range h.ids {
		for _, lg := range h.do(id, lr).(*kmsg.ListGroupsResponse).Groups {
			if lg.Group == "g" {
				found = found || (lg.GroupType == "consumer" && lg.ProtocolType == "consumer" && lg.GroupState == "Stable")
			}
		}
	}
	if !found {
		t.Fatal("ListGroups does not list g as a Stable consumer group")
	}
	lr.TypesFilter = nil
	listed := 0
	for _, id := range h.ids {
		for _, lg := range h.do(id, lr).(*kmsg.ListGroupsResponse).Groups {
			if lg.Group == "g" {
				listed++
			}
		}
	}
	if listed != 1 {
		t.Fatalf("ListGroups without filters lists g %d times, want once", listed)
	}
	dr := kmsg.NewPtrDescribeGroupsRequest()
	dr.Version = 6
	dr.Groups = []string{"g"}
	if d := h.do(coord, dr).(*kmsg.DescribeGroupsResponse).Groups[0]; d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("DescribeGroups of a consumer group: %d, want GROUP_ID_NOT_FOUND", d.ErrorCode)
	}

	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version = 2
	del.Groups = []string{"g"}
	if d := h.do(coord, del).(*kmsg.DeleteGroupsResponse).Groups[0]; d.ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("DeleteGroups with a member: %d, want NON_EMPTY_GROUP", d.ErrorCode)
	}

	// Two minutes on, a heartbeating: the subscribed topic's offsets are
	// kept, the other's expired.
	for i := 0; i < 12; i++ {
		h.run(10 * time.Second)
		r = h.cgHeartbeat(coord, cgHBReq("a", epoch, nil))
		if r.ErrorCode != 0 {
			t.Fatalf("keepalive: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	if code, offs := fetch("a", epoch); code != 0 || !eqInts(offs, []int64{10, 20}) {
		t.Fatalf("subscribed offsets after the retention: %d %v", code, offs)
	}
	if code, offs := h.fetched(coord, "g", "old", 1); code != 0 || !eqInts(offs, []int64{-1}) {
		t.Fatalf("unsubscribed offset after the retention: %d %v, want expired (-1)", code, offs)
	}

	// a leaves: the group can be deleted, and is gone.
	if r := h.cgHeartbeat(coord, cgHBReq("a", -1, nil)); r.ErrorCode != 0 {
		t.Fatalf("leave: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if d := h.do(coord, del).(*kmsg.DeleteGroupsResponse).Groups[0]; d.ErrorCode != 0 {
		t.Fatalf("DeleteGroups of the empty group: %d", d.ErrorCode)
	}
	desc := kmsg.NewPtrConsumerGroupDescribeRequest()
	desc.Groups = []string{"g"}
	if d := h.do(coord, desc).(*kmsg.ConsumerGroupDescribeResponse).Groups[0]; d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("ConsumerGroupDescribe after the delete: %d, want GROUP_ID_NOT_FOUND", d.ErrorCode)
	}
}
