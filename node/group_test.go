package node

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// sentReq is a request a random test sent and must see answered.
type sentReq struct {
	node uint64
	c    ConnID
	at   time.Time
	req  kmsg.Request
}

// checkAnswered runs the world past the longest a request could wait
// (rebalance timeouts, group writes), then fails on any request still
// unanswered on a connection that is open, to a node that is up.
func (h *harness) checkAnswered(seed uint64, waiting []sentReq) {
	h.t.Helper()
	h.run(2 * time.Minute)
	for _, w := range waiting {
		tn := h.nodes[w.node]
		if len(tn.got[w.c]) == 0 && !tn.closed[w.c] && !tn.down && tn.n.conns[w.c] != nil {
			h.t.Fatalf("seed %d: a %s sent to node %d at %v was never answered", seed, kmsg.NameForKey(w.req.Key()), w.node, w.at)
		}
	}
}

// checkFoldsAgree fails unless every replica's coordinator partition has
// the same digest (its log, and the fold the digest covers).
func (h *harness) checkFoldsAgree(seed, gid uint64) {
	h.t.Helper()
	var first GroupDigest
	for i, id := range h.ids {
		d, _, err := h.nodes[id].n.Digest(gid)
		if err != nil {
			h.t.Fatal(err)
		}
		if i == 0 {
			first = d
		} else if d != first {
			h.t.Fatalf("seed %d: node %d's coordinator partition %+v differs from node %d's %+v", seed, id, d, h.ids[0], first)
		}
	}
}

// groupHarness is a three-node cluster with small group timeouts.
func groupHarness(t *testing.T) *harness {
	return newHarness(t, 3, func(c *Config) {
		c.OffsetsPartitions = 2
		c.GroupInitialRebalanceDelay = -1
	})
}

// findCoordinator asks every live node until one names a coordinator that
// has loaded the group (a client told NOT_COORDINATOR or
// COORDINATOR_LOAD_IN_PROGRESS asks again, as this does).
func (h *harness) findCoordinator(group string) uint64 {
	h.t.Helper()
	var found uint64
	h.until(30*time.Second, "coordinator for "+group, func() bool {
		for _, id := range h.ids {
			if h.nodes[id].down {
				continue
			}
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.Version = 4
			req.CoordinatorKeys = []string{group}
			resp, ok := h.tryDo(id, req, time.Second)
			if !ok {
				continue
			}
			c := resp.(*kmsg.FindCoordinatorResponse).Coordinators[0]
			if c.ErrorCode != 0 || h.nodes[uint64(c.NodeID)].down {
				continue
			}
			if _, _, code := h.nodes[uint64(c.NodeID)].n.coordinatorFor(group); code == 0 {
				found = uint64(c.NodeID)
				return true
			}
		}
		return false
	})
	return found
}

func joinReq9(group, member string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group = group
	r.MemberID = member
	r.SessionTimeoutMillis = 10000
	r.RebalanceTimeoutMillis = 10000
	r.ProtocolType = "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	p.Metadata = []byte("sub-" + group)
	r.Protocols = append(r.Protocols, p)
	return r
}

// joinAll joins members (by their first JoinGroup's answer) in one
// rebalance and returns their answers.
func (h *harness) joinAll(coord uint64, group string, ids []string) []*kmsg.JoinGroupResponse {
	h.t.Helper()
	type pending struct {
		c    ConnID
		corr int32
	}
	var ps []pending
	for _, id := range ids {
		c, corr := h.send(coord, joinReq9(group, id))
		ps = append(ps, pending{c, corr})
	}
	out := make([]*kmsg.JoinGroupResponse, len(ids))
	h.until(30*time.Second, "join answers", func() bool {
		for _, p := range ps {
			if len(h.nodes[coord].got[p.c]) == 0 {
				return false
			}
		}
		return true
	})
	for i, p := range ps {
		_, resp, err := wire.ParseResponse(h.nodes[coord].got[p.c][0], joinReq9(group, ""))
		if err != nil {
			h.t.Fatal(err)
		}
		out[i] = resp.(*kmsg.JoinGroupResponse)
	}
	return out
}

func TestClassicGroupJoinSyncHeartbeatAcrossFailover(t *testing.T) {
	testClassicGroupAcrossFailover(t, "")
}

// With the group's state only in memory (KAFKA-2720), the new coordinator
// knows none of the members, and hands generation 1 out again.
func TestPlantedGroupStateInMemoryReusesGenerations(t *testing.T) {
	testClassicGroupAcrossFailover(t, BugGroupStateInMemory)
}

func testClassicGroupAcrossFailover(t *testing.T, bug string) {
	h := newHarness(t, 3, func(c *Config) {
		c.OffsetsPartitions = 2
		c.GroupInitialRebalanceDelay = -1
		c.Bug = bug
	})
	h.until(10*time.Second, "metadata leader", func() bool { return h.nodes[1].n.groups[metaGroup].lead != 0 })
	coord := h.findCoordinator("g")

	// KIP-394: a member without an id is given one first.
	var ids []string
	for range 2 {
		r := h.do(coord, joinReq9("g", "")).(*kmsg.JoinGroupResponse)
		if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
			t.Fatalf("first join: code %d member %q, want MEMBER_ID_REQUIRED with an id", r.ErrorCode, r.MemberID)
		}
		ids = append(ids, r.MemberID)
	}
	joins := h.joinAll(coord, "g", ids)
	gen := joins[0].Generation
	leader := joins[0].LeaderID
	for i, j := range joins {
		if j.ErrorCode != 0 || j.Generation != gen || j.LeaderID != leader || *j.Protocol != "range" {
			t.Fatalf("join %d: %+v", i, j)
		}
		if (j.MemberID == leader) != (len(j.Members) == 2) {
			t.Fatalf("join %d: leader %q member %q got %d members", i, leader, j.MemberID, len(j.Members))
		}
	}
	if gen != 1 {
		t.Fatalf("generation %d, want 1", gen)
	}
	// The follower's sync waits for the leader's.
	follower := ids[0]
	if follower == leader {
		follower = ids[1]
	}
	sync := func(member string, assign bool) *kmsg.SyncGroupRequest {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Version = 5
		r.Group, r.Generation, r.MemberID = "g", gen, member
		r.ProtocolType, r.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
		if assign {
			for _, id := range ids {
				a := kmsg.NewSyncGroupRequestGroupAssignment()
				a.MemberID, a.MemberAssignment = id, []byte("parts-of-"+id)
				r.GroupAssignment = append(r.GroupAssignment, a)
			}
		}
		return r
	}
	fc, fcorr := h.send(coord, sync(follower, false))
	h.run(time.Second)
	if got := len(h.nodes[coord].got[fc]); got != 0 {
		t.Fatalf("follower's sync answered before the leader's")
	}
	lr := h.do(coord, sync(leader, true)).(*kmsg.SyncGroupResponse)
	if lr.ErrorCode != 0 || string(lr.MemberAssignment) != "parts-of-"+leader {
		t.Fatalf("leader sync: %+v", lr)
	}
	h.until(5*time.Second, "follower sync", func() bool { return len(h.nodes[coord].got[fc]) > 0 })
	gotCorr, fr, err := wire.ParseResponse(h.nodes[coord].got[fc][0], sync(follower, false))
	if err != nil || gotCorr != fcorr {
		t.Fatal(err, gotCorr, fcorr)
	}
	if r := fr.(*kmsg.SyncGroupResponse); r.ErrorCode != 0 || string(r.MemberAssignment) != "parts-of-"+follower {
		t.Fatalf("follower sync: %+v", r)
	}
	hb := func(member string, g int32) *kmsg.HeartbeatRequest {
		r := kmsg.NewPtrHeartbeatRequest()
		r.Version = 4
		r.Group, r.Generation, r.MemberID = "g", g, member
		return r
	}
	if r := h.do(coord, hb(leader, gen)).(*kmsg.HeartbeatResponse); r.ErrorCode != 0 {
		t.Fatalf("heartbeat: %d", r.ErrorCode)
	}
	if r := h.do(coord, hb(leader, gen-1)).(*kmsg.HeartbeatResponse); r.ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("stale heartbeat: %d, want ILLEGAL_GENERATION", r.ErrorCode)
	}

	// The coordinator dies; the new one loads the group from the log:
	// same generation, same members, Stable (heartbeats answer NONE).
	h.crash(coord)
	next := h.findCoordinator("g")
	if next == coord {
		t.Fatalf("coordinator did not move")
	}
	if bug == BugGroupStateInMemory {
		if r := h.do(next, hb(ids[0], gen)).(*kmsg.HeartbeatResponse); r.ErrorCode != kerr.UnknownMemberID.Code {
			t.Fatalf("planted: heartbeat at the new coordinator: %d, want UNKNOWN_MEMBER_ID", r.ErrorCode)
		}
		r := h.do(next, joinReq9("g", "")).(*kmsg.JoinGroupResponse)
		j := h.joinAll(next, "g", []string{r.MemberID})[0]
		if j.Generation != gen {
			t.Fatalf("planted: rejoin got generation %d, want %d handed out again", j.Generation, gen)
		}
		return
	}
	for _, id := range ids {
		r := h.do(next, hb(id, gen)).(*kmsg.HeartbeatResponse)
		if r.ErrorCode != 0 {
			t.Fatalf("heartbeat of %s at the new coordinator: %d", id, r.ErrorCode)
		}
	}
	if r := h.do(next, sync(follower, false)).(*kmsg.SyncGroupResponse); r.ErrorCode != 0 || string(r.MemberAssignment) != "parts-of-"+follower {
		t.Fatalf("sync at the new coordinator: %+v", r)
	}

	// A member leaves: the other is told to rejoin, and the next
	// generation is above every one handed out before.
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Version = 5
	lv.Group = "g"
	lv.Members = []kmsg.LeaveGroupRequestMember{{MemberID: follower}}
	if r := h.do(next, lv).(*kmsg.LeaveGroupResponse); r.ErrorCode != 0 || r.Members[0].ErrorCode != 0 {
		t.Fatalf("leave: %+v", r)
	}
	if r := h.do(next, hb(leader, gen)).(*kmsg.HeartbeatResponse); r.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat after a leave: %d, want REBALANCE_IN_PROGRESS", r.ErrorCode)
	}
	again := h.joinAll(next, "g", []string{leader})
	if again[0].ErrorCode != 0 || again[0].Generation != gen+1 {
		t.Fatalf("rejoin: %+v", again[0])
	}
}

func TestGroupSessionExpiry(t *testing.T) {
	h := groupHarness(t)
	coord := h.findCoordinator("g")
	r := h.do(coord, joinReq9("g", "")).(*kmsg.JoinGroupResponse)
	a := r.MemberID
	r = h.do(coord, joinReq9("g", "")).(*kmsg.JoinGroupResponse)
	b := r.MemberID
	joins := h.joinAll(coord, "g", []string{a, b})
	gen := joins[0].Generation
	// Only a heartbeats; b's session (10s) runs out and a is told to rejoin.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 4
	hb.Group, hb.Generation, hb.MemberID = "g", gen, a
	code := int16(0)
	h.until(30*time.Second, "rebalance after b's session ends", func() bool {
		code = h.do(coord, hb).(*kmsg.HeartbeatResponse).ErrorCode
		h.run(2 * time.Second)
		return code != 0
	})
	if code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat: %d, want REBALANCE_IN_PROGRESS", code)
	}
	j := h.joinAll(coord, "g", []string{a})[0]
	if j.ErrorCode != 0 || j.Generation != gen+1 || len(j.Members) != 1 || j.LeaderID != a {
		t.Fatalf("rejoin: %+v", j)
	}
}

func TestProduceToOffsetsTopicRefused(t *testing.T) {
	h := groupHarness(t)
	h.findCoordinator("g")
	resp := h.do(1, metadataReq(offsetsTopic)).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || !resp.Topics[0].IsInternal || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("metadata of %s: %+v", offsetsTopic, resp.Topics)
	}
	p := h.do(1, produceReq(offsetsTopic, 0, nil, "x")).(*kmsg.ProduceResponse)
	if c := p.Topics[0].Partitions[0].ErrorCode; c != kerr.InvalidTopicException.Code {
		t.Fatalf("produce to %s: %d, want INVALID_TOPIC_EXCEPTION", offsetsTopic, c)
	}
}

// A coordinator partition is compacted like any compacted topic (its
// segments rolled every millisecond here): the log keeps the newest record
// per key, a reader from offset 0 gets them (no OFFSET_OUT_OF_RANGE), the
// fold of the log is the state on every replica, a follower that missed the
// writes catches up from the snapshot taken when raft storage was compacted
// below the first live batch, a restarted node from its own, and every
// replica ends with the same groups.
func TestOffsetsPartitionCompacted(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) {
		c.OffsetsPartitions = 1
		c.GroupInitialRebalanceDelay = -1
		c.CleanerInterval = time.Second
		c.BrokerConfigs = map[string]string{"log.roll.ms": "1"}
	})
	coord := h.findCoordinator("g")
	lagging := h.ids[0]
	if lagging == coord {
		lagging = h.ids[1]
	}
	h.isolate(lagging)
	gen := int32(0)
	for i := 0; i < 12; i++ {
		r := h.do(coord, joinReq9("g", "")).(*kmsg.JoinGroupResponse)
		j := h.joinAll(coord, "g", []string{r.MemberID})[0]
		if j.ErrorCode != 0 || j.Generation <= gen {
			t.Fatalf("round %d: join %+v after generation %d", i, j, gen)
		}
		lv := kmsg.NewPtrLeaveGroupRequest()
		lv.Version = 5
		lv.Group = "g"
		lv.Members = []kmsg.LeaveGroupRequestMember{{MemberID: j.MemberID}}
		if r := h.do(coord, lv).(*kmsg.LeaveGroupResponse); r.ErrorCode != 0 {
			t.Fatalf("leave: %+v", r)
		}
		gen = j.Generation + 1 // the leave writes the empty generation
	}
	gid, part, _ := h.nodes[coord].n.coordinatorGroup("g")
	cg := h.nodes[coord].n.groups[gid]
	h.until(20*time.Second, "a compaction of the coordinator partition", func() bool { return cg.part.cleanGen > 0 })
	if cg.snapIndex == 0 {
		t.Fatalf("raft storage not compacted after the clean")
	}
	// Read from the start: one group metadata record for g left, the newest.
	f := h.do(coord, fetchReq(offsetsTopic, part, 0, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if f.ErrorCode != 0 || f.LogStartOffset != 0 {
		t.Fatalf("fetch %s/%d from 0: code %d, log start %d", offsetsTopic, part, f.ErrorCode, f.LogStartOffset)
	}
	batches, err := wire.SplitBatches(f.RecordBatches)
	if err != nil {
		t.Fatal(err)
	}
	metas := 0
	for _, b := range batches {
		_, recs, err := wire.ParseRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if int16(binary.BigEndian.Uint16(r.Key)) == 2 {
				metas++
			}
		}
	}
	if metas > 2 { // the newest, and at most one more in the active segment
		t.Fatalf("%d group metadata records of g after compaction", metas)
	}
	if err := h.nodes[coord].n.CheckCoordinatorLog(gid); err != nil {
		t.Fatal(err)
	}
	h.heal()
	// A replica that installed the snapshot holds the index of batches whose
	// entries it has yet to receive: its digest reads them, so it is taken
	// once it caught up.
	digests := func() (map[uint64]GroupDigest, error) {
		out := map[uint64]GroupDigest{}
		for _, id := range h.ids {
			d, ok, err := h.nodes[id].n.Digest(gid)
			if err != nil || !ok {
				return nil, fmt.Errorf("node %d digest: %v %v", id, ok, err)
			}
			out[id] = d
		}
		return out, nil
	}
	h.until(20*time.Second, "replicas converged", func() bool {
		ds, err := digests()
		return err == nil && ds[lagging] == ds[coord]
	})
	if s := h.nodes[lagging].n.groups[gid].snapIndex; s == 0 {
		t.Fatalf("the lagging replica did not install a snapshot")
	}
	for _, id := range h.ids {
		if err := h.nodes[id].n.CheckCoordinatorLog(gid); err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
	}
	if g := h.nodes[lagging].n.groups[gid].part.coord.group("g"); g.generation() != gen {
		t.Fatalf("lagging replica's generation %d, want %d", g.generation(), gen)
	}
	// A restart rebuilds the partition from its snapshot and the entries after.
	ds, err := digests()
	if err != nil {
		t.Fatal(err)
	}
	before := ds[coord]
	fs := h.crash(coord)
	h.start(coord, fs)
	h.until(20*time.Second, "restarted replica caught up", func() bool {
		d, _, _ := h.nodes[coord].n.Digest(gid)
		return d.Applied >= before.Applied
	})
	if g := h.nodes[coord].n.groups[gid].part.coord.group("g"); g.generation() != gen {
		t.Fatalf("restarted replica's generation %d, want %d", g.generation(), gen)
	}
	if err := h.nodes[coord].n.CheckCoordinatorLog(gid); err != nil {
		t.Fatalf("restarted: %v", err)
	}
	next := h.findCoordinator("g")
	r := h.do(next, joinReq9("g", "")).(*kmsg.JoinGroupResponse)
	if j := h.joinAll(next, "g", []string{r.MemberID})[0]; j.Generation != gen+1 {
		t.Fatalf("join after the restart: generation %d, want %d", j.Generation, gen+1)
	}
}

// __consumer_offsets is readable like any topic: its records are Kafka's
// own group records, which a Kafka tool decodes.
func TestOffsetsTopicIsReadable(t *testing.T) {
	h := groupHarness(t)
	coord := h.findCoordinator("g")
	r := h.do(coord, joinReq9("g", "")).(*kmsg.JoinGroupResponse)
	j := h.joinAll(coord, "g", []string{r.MemberID})[0]
	_, p, _ := h.nodes[coord].n.coordinatorGroup("g")
	f := h.do(coord, fetchReq(offsetsTopic, p, 0, 0, 0)).(*kmsg.FetchResponse)
	fp := f.Topics[0].Partitions[0]
	if fp.ErrorCode != 0 {
		t.Fatalf("fetch %s/%d: %d", offsetsTopic, p, fp.ErrorCode)
	}
	batches, err := wire.SplitBatches(fp.RecordBatches)
	if err != nil || len(batches) == 0 {
		t.Fatalf("batches: %d, %v", len(batches), err)
	}
	_, recs, err := wire.ParseRecords(batches[len(batches)-1])
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %d, %v", len(recs), err)
	}
	var k kmsg.GroupMetadataKey
	var v kmsg.GroupMetadataValue
	if err := k.ReadFrom(recs[0].Key); err != nil || k.Group != "g" {
		t.Fatalf("key: %+v %v", k, err)
	}
	if err := v.ReadFrom(recs[0].Value); err != nil || v.Generation != j.Generation || len(v.Members) != 1 || v.Members[0].MemberID != j.MemberID {
		t.Fatalf("value: %+v %v", v, err)
	}
}

// A member whose JoinGroup waits on a connection that closes has not
// rejoined: the next generation goes on without it, rather than keeping a
// leader nobody hears (a restarted client's old identity led gen 4 of
// groups seed 23, and the group waited a session for it).
func TestClosedConnLeavesTheJoinPhase(t *testing.T) {
	h := groupHarness(t)
	coord := h.findCoordinator("g")
	a := h.do(coord, joinReq9("g", "")).(*kmsg.JoinGroupResponse).MemberID
	b := h.do(coord, joinReq9("g", "")).(*kmsg.JoinGroupResponse).MemberID
	joins := h.joinAll(coord, "g", []string{a, b})
	leader := joins[0].LeaderID
	other := a
	if other == leader {
		other = b
	}
	sr := kmsg.NewPtrSyncGroupRequest()
	sr.Version = 5
	sr.Group, sr.Generation, sr.MemberID = "g", joins[0].Generation, leader
	if r := h.do(coord, sr).(*kmsg.SyncGroupResponse); r.ErrorCode != 0 {
		t.Fatalf("sync: %d", r.ErrorCode)
	}
	// The leader rejoins (a rebalance) on a connection that then dies.
	c, _ := h.send(coord, joinReq9("g", leader))
	h.run(100 * time.Millisecond)
	h.nodes[coord].n.CloseConn(c)
	j := h.joinAll(coord, "g", []string{other})[0]
	if j.ErrorCode != 0 || j.LeaderID != other || len(j.Members) != 1 {
		t.Fatalf("next generation: leader %q (want %q), %d members, code %d", j.LeaderID, other, len(j.Members), j.ErrorCode)
	}
}

// A commit of an earlier incarnation of a topic (deleted and created again
// under its name) is not the new one's committed offset.
func TestOffsetOfEarlierIncarnationIsNone(t *testing.T) {
	n := &Node{meta: newMetaState()}
	n.meta.topics["t"] = &topicMeta{name: "t", id: [16]byte{2}}
	cs := newCoordState()
	r := cs.getOrAdd("g")
	r.offsets[tpKey{"t", 0}] = offsetRec{offset: 50, topicID: [16]byte{1}}
	r.offsets[tpKey{"t", 1}] = offsetRec{offset: 60, topicID: [16]byte{2}}
	if _, ok := n.currentOffset(r, "t", 0); ok {
		t.Fatal("an offset committed to the topic's earlier incarnation answered for the new one")
	}
	if o, ok := n.currentOffset(r, "t", 1); !ok || o.offset != 60 {
		t.Fatalf("the current incarnation's offset: %v %v", o, ok)
	}
}

// CheckCoordinatorLog fails when the state is not the fold of the log: an
// offset dropped from the state without its tombstone (Redpanda #4900's
// shape: a deletion the log does not record), or one in the state that no
// record carries.
func TestCheckCoordinatorLogCatchesStateNotInLog(t *testing.T) {
	h := groupHarness(t)
	h.createTopic("t", 2)
	coord := h.findCoordinator("g")
	ids, gen := h.stableGroup(coord, "g", 2, "t")
	if c := h.commit(coord, commitReq("g", gen, ids[0], "t", 5, 7)); !eqInts(c, []int16{0, 0}) {
		t.Fatalf("commit: %v", c)
	}
	gid, _, _ := h.nodes[coord].n.coordinatorGroup("g")
	n := h.nodes[coord].n
	if err := n.CheckCoordinatorLog(gid); err != nil {
		t.Fatalf("before: %v", err)
	}
	r := n.groups[gid].part.coord.group("g")
	k := tpKey{"t", 1}
	o := r.offsets[k]
	delete(r.offsets, k)
	if err := n.CheckCoordinatorLog(gid); err == nil || !strings.Contains(err.Error(), "t/1") {
		t.Fatalf("an offset gone from the state without a tombstone: %v", err)
	}
	r.offsets[k] = o
	r.offsets[tpKey{"u", 0}] = o
	if err := n.CheckCoordinatorLog(gid); err == nil || !strings.Contains(err.Error(), "u/0") {
		t.Fatalf("an offset in the state no record carries: %v", err)
	}
	delete(r.offsets, tpKey{"u", 0})
	if err := n.CheckCoordinatorLog(gid); err != nil {
		t.Fatalf("restored: %v", err)
	}
}
