package sim

// Simulated group consumers, run as the real clients run them (the classic
// protocol): find the coordinator, JoinGroup (the v4+ MEMBER_ID_REQUIRED
// round trip for a dynamic member; a static member, group.instance.id,
// joins at once), the leader computing the assignment on the client
// (range as the Java consumer's default, roundrobin as librdkafka may pick,
// cooperative-sticky as franz-go's default, with its two-step revocation),
// SyncGroup, Heartbeat every third of the session timeout, fetch from the
// committed offset (earliest when there is none, as auto.offset.reset=
// earliest), commit after processing (franz-go style, each fetch) or every
// five seconds (auto-commit, as librdkafka and Java do) and before giving
// partitions up, pauses past the session timeout that come back as zombies
// committing with their stale generation, restarts (a static member
// replaces itself, and its old incarnation sends one last commit), and
// LeaveGroup. Each group is one client kind, as a real group usually is.
//
// Every answer a check needs goes into the group history
// (checker.GroupHistory); checker.CheckGroups judges it at the end.

import (
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
)

// groupStyle is the client library a group's members behave like.
type groupStyle uint8

const (
	styleJava       groupStyle = iota // range (then cooperative-sticky), auto-commit, static members
	styleFranz                        // cooperative-sticky, commit after processing, static members
	styleLibrdkafka                   // roundrobin, auto-commit, older request versions
	styleFranz848                     // KIP-848 (group848.go), commit after processing
	styleJava848                      // KIP-848, auto-commit
)

func (s groupStyle) String() string {
	return [...]string{"java", "franz-go", "librdkafka", "franz-go-848", "java-848"}[s]
}

// autoCommits: the member commits every five seconds (Java, librdkafka),
// not after processing each fetch (franz-go).
func (s groupStyle) autoCommits() bool { return s != styleFranz && s != styleFranz848 }

const (
	groupRebalanceTimeout = int64(10 * time.Second)
	autoCommitInterval    = int64(5 * time.Second)
	groupBackoff          = int64(200 * time.Millisecond)
	// groupOpsMax bounds the group history a run keeps, as the world's
	// other records are bounded: past it events are counted, not kept.
	groupOpsMax = 200_000
)

// groupState is where a member is in the protocol.
type groupState uint8

const (
	gsJoining groupState = iota
	gsSyncing
	gsStable
	gsPaused
	gsStopped
)

// groupMember is one group consumer's state.
type groupMember struct {
	c        *client
	group    string
	style    groupStyle
	instance string // group.instance.id; "" for a dynamic member

	coord    uint64
	member   string
	gen      int32
	protocol string
	state    groupState
	// loop is bumped whenever the member's course changes (a rejoin, a
	// pause, a restart): a callback of an older loop records what it
	// learned but steers nothing.
	loop int

	owned    []partRef        // the current assignment
	pos      map[string]int64 // by history name
	posEpoch map[string]int32
	have     map[string]bool  // a position is known (else: OffsetFetch first)
	done     map[string]int64 // the last offset this member committed or was told is committed
	hw       map[string]int64 // the highest high watermark this member was told
	reset    map[string]bool  // the position moved on its own since the last commit
	next     int              // round robin over owned
	// leads is set while this member is its generation's leader; view is
	// the live partitions it assigned (liveView). A leader whose
	// metadata shows another set (a topic created, deleted or created
	// again) rejoins, as the Java client's leader and kgo do, so the new
	// partitions get owners.
	leads bool
	view  string

	// monitor: this client is no member but a lag monitor (Burrow, a
	// kafka-consumer-groups --describe loop): it asks every group's
	// coordinator for the committed offsets, over and over, one loop per
	// group (watches, each a groupMember of its own with the group's name
	// and coordinator), so answers come from every coordinator of the
	// run, new ones included, as soon as a client can find them.
	monitor bool
	watches []*groupMember
	// own: a watch's connections, its own (an admin client per group):
	// one group's reads waiting at a coordinator that cannot confirm its
	// leadership do not hold up another's FindCoordinator behind them.
	own      map[uint64]*simConn
	lastAuto int64
	// fetching is the loop whose fetch (of records or offsets) is in
	// flight: one at a time per loop; a new loop does not wait for an old
	// one's (0: none).
	fetching int
	// k is a KIP-848 member's protocol state (group848.go); nil for a
	// classic one.
	k *member848
}

// sessionTimeout is the members' session timeout (Config.GroupSession).
func (w *World) sessionTimeout() int64 { return int64(w.cfg.GroupSession) }

func (c *client) groupStart() {
	g := c.grp
	if g.monitor {
		for gi := 0; gi < c.w.cfg.groups(); gi++ {
			wg := &groupMember{c: c, monitor: true, group: groupName(gi), own: map[uint64]*simConn{}}
			g.watches = append(g.watches, wg)
			wg.monitorNext()
		}
		return
	}
	g.pos, g.posEpoch, g.have = map[string]int64{}, map[string]int32{}, map[string]bool{}
	g.done, g.hw, g.reset = map[string]int64{}, map[string]int64{}, map[string]bool{}
	g.lastAuto = c.w.now
	g.loop = 1 // loops count from 1: 0 is no loop (fetching)
	g.join(g.loop)
	g.heartbeatLater()
	// Once in a while a member stalls past its session timeout (a long GC,
	// a stuck handler) and comes back a zombie; or restarts; or leaves and
	// comes back. Drawn once, from the client's own stream.
	end := int64(c.w.cfg.Duration)
	switch r := c.rng.Float64(); {
	case r < 0.5:
		// Over before the faults are (the quiet period judges liveness).
		d := c.w.sessionTimeout() + c.rng.Int64N(int64(3*time.Second)) + int64(time.Second)
		if last := end - d - int64(time.Second); last > int64(2*time.Second) {
			at := c.rng.Int64N(last-int64(2*time.Second)) + int64(2*time.Second)
			c.w.at(at, "group-pause(client)", int64(c.id), 0, 0, func() { g.pause(d) })
		}
	case r < 0.7 && end > int64(3*time.Second):
		at := c.rng.Int64N(end-int64(2*time.Second)) + int64(time.Second)
		c.w.at(at, "group-restart(client)", int64(c.id), 0, 0, g.restart)
	case r < 0.8 && end > int64(3*time.Second) && g.instance == "":
		at := c.rng.Int64N(end-int64(2*time.Second)) + int64(time.Second)
		c.w.at(at, "group-leave(client)", int64(c.id), 0, 0, g.leave)
	}
}

// rec appends one event to the group history.
func (g *groupMember) rec(op checker.GroupOp) {
	w := g.c.w
	if len(w.groupHistory) >= groupOpsMax {
		w.stat("group.ops-dropped", 1)
		return
	}
	if op.Group == "" {
		op.Group = g.group
	}
	op.Client = g.c.id
	w.groupHistory = append(w.groupHistory, op)
	// Result.Stats: how much of each the run did, and how often the
	// coordinator said no (a zombie's refused commit, a rebalance).
	switch {
	case op.Ambiguous:
		w.stat("group."+op.Kind.String()+".ambiguous", 1)
	case op.OK:
		w.stat("group."+op.Kind.String(), 1)
	default:
		w.stat("group."+op.Kind.String()+"."+op.Err, 1)
	}
}

func (g *groupMember) inst() *string {
	if g.instance == "" {
		return nil
	}
	s := g.instance
	return &s
}

// conn is the client's connection to a node, or a watch's own.
func (g *groupMember) conn(id uint64) *simConn {
	if g.own == nil {
		return g.c.conn(id)
	}
	if cn := g.own[id]; cn != nil && cn.open {
		return cn
	}
	cn := g.c.w.dial(g.c, id)
	if cn != nil {
		g.own[id] = cn
	}
	return cn
}

func (g *groupMember) running() bool { return g.c.running() && g.state != gsStopped }

// retry runs fn after a backoff if the loop is still current.
func (g *groupMember) retry(loop int, what string, fn func(loop int)) {
	g.c.later(groupBackoff+g.c.rng.Int64N(groupBackoff), what, func() {
		if loop == g.loop && g.running() {
			fn(loop)
		}
	})
}

// coordinatorError handles the errors that send a client to find the
// coordinator again or to wait; it reports whether err was one.
func (g *groupMember) coordinatorError(api string, node uint64, code int16, call int64) bool {
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code:
		g.coord = 0
	case kerr.CoordinatorLoadInProgress.Code:
	default:
		return false
	}
	g.rec(checker.GroupOp{Kind: checker.GroupCoordinatorError, Node: node, Call: call, Return: g.c.w.now,
		Err: errName(code), Partition: api})
	return true
}

// findCoordinator asks some node which node coordinates the group, then
// runs then with the loop it was asked for.
func (g *groupMember) findCoordinator(loop int, then func(loop int)) {
	c := g.c
	c.metaNext = c.metaNext%uint64(len(c.w.nodes)) + 1
	node := c.metaNext
	cn := g.conn(node)
	if cn == nil {
		g.retry(loop, "group-find-coordinator(client)", func(l int) { g.findCoordinator(l, then) })
		return
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	if g.style == styleLibrdkafka {
		req.Version = 2
		req.CoordinatorKey = g.group
	} else {
		req.Version = 4
		req.CoordinatorKeys = []string{g.group}
	}
	call := c.w.now
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.FindCoordinatorResponse)
		code, id := resp.ErrorCode, resp.NodeID
		if req.Version >= 4 {
			if len(resp.Coordinators) != 1 || resp.Coordinators[0].Key != g.group {
				c.w.violate("c%d: FindCoordinator v%d for %s: bad answer to %d keys: %d coordinators", c.id, req.Version, g.group, 1, len(resp.Coordinators))
				g.retry(loop, "group-find-coordinator(client)", func(l int) { g.findCoordinator(l, then) })
				return
			}
			code, id = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
		}
		if code != 0 || id <= 0 || int(id) > len(c.w.nodes) {
			g.rec(checker.GroupOp{Kind: checker.GroupCoordinatorError, Node: node, Call: call, Return: c.w.now,
				Err: errName(code), Partition: "FindCoordinator"})
			g.retry(loop, "group-find-coordinator(client)", func(l int) { g.findCoordinator(l, then) })
			return
		}
		g.coord = uint64(id)
		if loop == g.loop && g.running() {
			then(loop)
		}
	}, func() { g.retry(loop, "group-find-coordinator(client)", func(l int) { g.findCoordinator(l, then) }) })
}

// coordConn is a connection to the coordinator, or nil after starting to
// find it (then runs once it is known).
func (g *groupMember) coordConn(loop int, then func(loop int)) *simConn {
	if g.coord == 0 {
		g.findCoordinator(loop, then)
		return nil
	}
	cn := g.c.conn(g.coord)
	if cn == nil {
		g.coord = 0
		g.retry(loop, "group-coordinator-down(client)", then)
	}
	return cn
}

// subscription is the topics every member subscribes to: the workload's.
func (g *groupMember) subscription() []string {
	var out []string
	for _, t := range g.c.w.topics {
		out = append(out, t.spec.Name)
	}
	sort.Strings(out)
	return out
}

func (g *groupMember) protocols() []string {
	switch g.style {
	case styleJava:
		return []string{"range", "cooperative-sticky"}
	case styleFranz:
		return []string{"cooperative-sticky"}
	}
	return []string{"roundrobin", "range"}
}

// rejoin starts a new round of the protocol. An eager member (range,
// roundrobin) first commits and gives up everything it owns; a cooperative
// one keeps its partitions through the rebalance.
func (g *groupMember) rejoin() {
	if g.k != nil {
		g.rejoin848()
		return
	}
	g.loop++
	loop := g.loop
	g.state = gsJoining
	if g.protocol != "cooperative-sticky" && len(g.owned) > 0 {
		g.commit(loop, g.owned, false, func() {
			g.owned = nil
			if loop == g.loop && g.running() {
				g.join(loop)
			}
		})
		return
	}
	g.join(loop)
}

// lost drops the assignment without committing: the generation is gone
// (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID), so a commit would be refused.
func (g *groupMember) lost() {
	g.owned = nil
	g.rejoin()
}

func (g *groupMember) join(loop int) {
	c := g.c
	if !g.running() {
		return
	}
	if g.k != nil {
		g.join848(loop)
		return
	}
	g.state = gsJoining
	cn := g.coordConn(loop, g.join)
	if cn == nil {
		return
	}
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	if g.style == styleLibrdkafka {
		req.Version = 5
	}
	req.Group = g.group
	req.SessionTimeoutMillis = int32(c.w.sessionTimeout() / 1e6)
	req.RebalanceTimeoutMillis = int32(groupRebalanceTimeout / 1e6)
	req.MemberID = g.member
	req.InstanceID = g.inst()
	req.ProtocolType = "consumer"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 1
	meta.Topics = g.subscription()
	for _, o := range g.ownedByTopic() {
		meta.OwnedPartitions = append(meta.OwnedPartitions, kmsg.ConsumerMemberMetadataOwnedPartition{Topic: o.Topic, Partitions: o.Partitions})
	}
	metaBytes := meta.AppendTo(nil)
	for _, p := range g.protocols() {
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name, jp.Metadata = p, metaBytes
		req.Protocols = append(req.Protocols, jp)
	}
	call, node := c.w.now, g.coord
	c.w.send(cn, req, groupRebalanceTimeout+int64(5*time.Second), func(r kmsg.Response) {
		resp := r.(*kmsg.JoinGroupResponse)
		if g.coordinatorError("JoinGroup", node, resp.ErrorCode, call) {
			g.retry(loop, "group-join-retry(client)", g.join)
			return
		}
		switch resp.ErrorCode {
		case 0:
		case kerr.MemberIDRequired.Code:
			g.member = resp.MemberID
			if loop == g.loop && g.running() {
				g.join(loop)
			}
			return
		case kerr.UnknownMemberID.Code:
			// Its membership is gone, and with it what it owned: the
			// Java client calls onPartitionsLost, kgo drops them, so the
			// positions are fetched again once they are assigned.
			g.member, g.owned = "", nil
			g.retry(loop, "group-join-retry(client)", g.join)
			return
		case kerr.FencedInstanceID.Code:
			g.fenced(loop, "JoinGroup", node, call)
			return
		default: // REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, ...: try again
			g.rec(checker.GroupOp{Kind: checker.GroupJoin, Node: node, Call: call, Return: c.w.now, Member: g.member,
				Instance: g.instance, Err: errName(resp.ErrorCode)})
			g.retry(loop, "group-join-retry(client)", g.join)
			return
		}
		op := checker.GroupOp{Kind: checker.GroupJoin, Node: node, Call: call, Return: c.w.now, OK: true,
			Generation: resp.Generation, Member: resp.MemberID, Instance: g.instance, Leader: resp.LeaderID == resp.MemberID}
		if op.Leader {
			for _, m := range resp.Members {
				op.Members = append(op.Members, m.MemberID)
			}
		}
		g.rec(op)
		if c.w.coordCrash {
			// The rebalance is between its join and its sync: the
			// coordinator loses power right after this answer left.
			c.w.coordCrash = false
			c.w.crashAfterOutput(node, "coord-crash(node)", "crash.coordinator-mid-rebalance", "power loss in the middle of a group's rebalance")
		}
		if loop != g.loop || !g.running() {
			return
		}
		g.member, g.gen = resp.MemberID, resp.Generation
		if resp.Protocol != nil {
			g.protocol = *resp.Protocol
		}
		var assign []kmsg.SyncGroupRequestGroupAssignment
		// A leader told to skip the assignment (KIP-814: a static leader
		// back in a stable group) keeps the view of the last one it
		// computed, as the Java client keeps its metadata snapshot; one
		// that never computed one will find the view changed and rejoin.
		g.leads = op.Leader
		if op.Leader && !resp.SkipAssignment {
			g.view = g.liveView()
			assign = g.assign(resp.Members)
		}
		g.sync(loop, assign)
	}, func() {
		g.coord = 0
		g.retry(loop, "group-join-retry(client)", g.join)
	})
}

// fenced: another process holds this member's group.instance.id. The Java
// consumer and kgo stop with a fatal error; the application restarts the
// consumer, which is what happens here a little later.
func (g *groupMember) fenced(loop int, api string, node uint64, call int64) {
	g.rec(checker.GroupOp{Kind: checker.GroupCoordinatorError, Node: node, Call: call, Return: g.c.w.now,
		Err: kerr.FencedInstanceID.Message, Partition: api, Member: g.member, Instance: g.instance})
	if loop != g.loop {
		return
	}
	g.loop++
	g.owned, g.member, g.state = nil, "", gsJoining
	g.retry(g.loop, "group-fenced-restart(client)", g.join)
}

func (g *groupMember) sync(loop int, assign []kmsg.SyncGroupRequestGroupAssignment) {
	c := g.c
	g.state = gsSyncing
	cn := g.coordConn(loop, func(l int) { g.rejoin() })
	if cn == nil {
		return
	}
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	if g.style == styleLibrdkafka {
		req.Version = 3
	}
	req.Group, req.Generation, req.MemberID, req.InstanceID = g.group, g.gen, g.member, g.inst()
	pt, proto := "consumer", g.protocol
	req.ProtocolType, req.Protocol = &pt, &proto
	req.GroupAssignment = assign
	call, node, gen, member := c.w.now, g.coord, g.gen, g.member
	c.w.send(cn, req, groupRebalanceTimeout+int64(5*time.Second), func(r kmsg.Response) {
		resp := r.(*kmsg.SyncGroupResponse)
		if g.coordinatorError("SyncGroup", node, resp.ErrorCode, call) {
			if loop == g.loop && g.running() {
				g.retry(loop, "group-rejoin(client)", func(int) { g.rejoin() })
			}
			return
		}
		op := checker.GroupOp{Kind: checker.GroupSync, Node: node, Call: call, Return: c.w.now, Generation: gen,
			Member: member, Instance: g.instance}
		if resp.ErrorCode != 0 {
			op.Err = errName(resp.ErrorCode)
			g.rec(op)
			if loop != g.loop || !g.running() {
				return
			}
			switch resp.ErrorCode {
			case kerr.FencedInstanceID.Code:
				g.fenced(loop, "SyncGroup", node, call)
			case kerr.UnknownMemberID.Code:
				g.member = ""
				g.lost()
			case kerr.IllegalGeneration.Code:
				g.lost()
			default:
				g.rejoin()
			}
			return
		}
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(resp.MemberAssignment); err != nil && len(resp.MemberAssignment) > 0 {
			c.w.violate("c%d: SyncGroup of %s generation %d: bad answer to a sync: assignment does not decode: %v", c.id, g.group, gen, err)
		}
		var parts []partRef
		for _, t := range a.Topics {
			ts := g.topicNamed(t.Topic)
			for _, p := range t.Partitions {
				if ts == nil || p < 0 || p >= ts.spec.Partitions {
					c.w.violate("c%d: SyncGroup of %s: bad answer to a sync: assigned %s/%d, which the workload lacks", c.id, g.group, t.Topic, p)
					continue
				}
				parts = append(parts, partRef{ts: ts, inc: ts.inc, p: p})
			}
		}
		op.OK = true
		for _, pr := range parts {
			op.Assignment = append(op.Assignment, pr.name())
		}
		g.rec(op)
		if loop != g.loop || !g.running() {
			return
		}
		g.settle(loop, parts)
	}, func() {
		g.coord = 0
		if loop == g.loop && g.running() {
			g.retry(loop, "group-rejoin(client)", func(int) { g.rejoin() })
		}
	})
}

// settle takes an assignment: a cooperative member gives up (commits,
// then drops) what it no longer owns and rejoins at once if it gave
// anything up, as KIP-429 has it; partitions new to it start from the
// group's committed offset.
func (g *groupMember) settle(loop int, parts []partRef) {
	keep := map[string]bool{}
	for _, pr := range parts {
		keep[pr.name()] = true
	}
	var revoked []partRef
	for _, pr := range g.owned {
		if !keep[pr.name()] {
			revoked = append(revoked, pr)
		}
	}
	had := map[string]bool{}
	for _, pr := range g.owned {
		had[pr.name()] = true
	}
	for _, pr := range parts {
		if !had[pr.name()] {
			g.have[pr.name()] = false
		}
	}
	g.state = gsStable
	if len(revoked) > 0 {
		g.commit(loop, revoked, false, func() {
			if loop != g.loop || !g.running() {
				return
			}
			g.owned = parts
			g.rejoin()
		})
		return
	}
	g.owned = parts
	g.consume(loop)
}

// liveView names the live partitions of the subscription as metadata
// shows them: each live topic's incarnation and partition count.
func (g *groupMember) liveView() string {
	var b []byte
	for _, t := range g.c.w.topics {
		if t.live {
			b = fmt.Appendf(b, "%s#%d:%d,", t.spec.Name, t.inc, t.spec.Partitions)
		}
	}
	return string(b)
}

func (g *groupMember) topicNamed(name string) *topicState {
	for _, t := range g.c.w.topics {
		if t.spec.Name == name {
			return t
		}
	}
	return nil
}

type topicParts struct {
	Topic      string
	Partitions []int32
}

// ownedByTopic is the current assignment, by topic, sorted.
func (g *groupMember) ownedByTopic() []topicParts {
	by := map[string][]int32{}
	for _, pr := range g.owned {
		by[pr.topic()] = append(by[pr.topic()], pr.p)
	}
	var out []topicParts
	for t, ps := range by {
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		out = append(out, topicParts{t, ps})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out
}

// assign is the leader's work: the chosen protocol's assignment of every
// live partition of the members' subscriptions.
func (g *groupMember) assign(members []kmsg.JoinGroupResponseMember) []kmsg.SyncGroupRequestGroupAssignment {
	type mem struct {
		id     string
		topics map[string]bool
		owned  map[tp]bool
	}
	var ms []mem
	for _, m := range members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.ProtocolMetadata); err != nil {
			g.c.w.violate("c%d: JoinGroup of %s: bad answer to a join: member %s's metadata does not decode: %v", g.c.id, g.group, m.MemberID, err)
		}
		x := mem{id: m.MemberID, topics: map[string]bool{}, owned: map[tp]bool{}}
		for _, t := range md.Topics {
			x.topics[t] = true
		}
		for _, o := range md.OwnedPartitions {
			for _, p := range o.Partitions {
				x.owned[tp{o.Topic, p}] = true
			}
		}
		ms = append(ms, x)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	var all []tp // every live partition, sorted by topic then partition
	topics := g.subscription()
	for _, name := range topics {
		ts := g.topicNamed(name)
		if ts == nil || !ts.live {
			continue
		}
		for p := int32(0); p < ts.spec.Partitions; p++ {
			all = append(all, tp{name, p})
		}
	}
	got := make([][]tp, len(ms))
	switch g.protocol {
	case "range": // per topic, consecutive runs, the first members one more
		for _, name := range topics {
			var subs []int
			for i := range ms {
				if ms[i].topics[name] {
					subs = append(subs, i)
				}
			}
			var ps []tp
			for _, x := range all {
				if x.topic == name {
					ps = append(ps, x)
				}
			}
			if len(subs) == 0 {
				continue
			}
			per, extra := len(ps)/len(subs), len(ps)%len(subs)
			k := 0
			for n, i := range subs {
				take := per
				if n < extra {
					take++
				}
				got[i] = append(got[i], ps[k:k+take]...)
				k += take
			}
		}
	case "roundrobin":
		n := 0
		for _, x := range all {
			for tries := 0; tries < len(ms); tries++ {
				i := n % len(ms)
				n++
				if ms[i].topics[x.topic] {
					got[i] = append(got[i], x)
					break
				}
			}
		}
	default: // cooperative-sticky
		// Balanced: every member floor or floor+1 partitions, extra of them
		// the larger share. Each keeps what it owns within that; the rest
		// go to the least loaded. A partition still owned by another member
		// is planned for its new owner but withheld this generation, until
		// its owner has revoked it and rejoined (KIP-429).
		floor, extra := len(all)/max(1, len(ms)), len(all)%max(1, len(ms))
		taken := map[tp]bool{}
		owner := map[tp]int{}
		for i := range ms {
			for x := range ms[i].owned {
				owner[x] = i
			}
		}
		load := make([]int, len(ms)) // planned, withheld ones included
		keep := func(i int, x tp) {
			got[i] = append(got[i], x)
			taken[x] = true
			load[i]++
		}
		for i := range ms {
			for _, x := range all {
				if ms[i].owned[x] && !taken[x] && ms[i].topics[x.topic] && load[i] < floor {
					keep(i, x)
				}
			}
		}
		for i := range ms {
			for _, x := range all {
				if extra > 0 && ms[i].owned[x] && !taken[x] && ms[i].topics[x.topic] && load[i] == floor {
					keep(i, x)
					extra--
				}
			}
		}
		for _, x := range all {
			if taken[x] {
				continue
			}
			best := -1
			for i := range ms {
				if !ms[i].topics[x.topic] || load[i] > floor || load[i] == floor && extra == 0 {
					continue
				}
				if best < 0 || load[i] < load[best] {
					best = i
				}
			}
			if best < 0 {
				continue
			}
			if load[best] == floor {
				extra--
			}
			taken[x] = true
			load[best]++
			if o, ok := owner[x]; ok && o != best {
				continue
			}
			got[best] = append(got[best], x)
		}
	}
	out := make([]kmsg.SyncGroupRequestGroupAssignment, len(ms))
	for i := range ms {
		var a kmsg.ConsumerMemberAssignment
		a.Version = 1
		for _, x := range got[i] {
			if n := len(a.Topics); n > 0 && a.Topics[n-1].Topic == x.topic {
				a.Topics[n-1].Partitions = append(a.Topics[n-1].Partitions, x.p)
				continue
			}
			a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: x.topic, Partitions: []int32{x.p}})
		}
		out[i] = kmsg.SyncGroupRequestGroupAssignment{MemberID: ms[i].id, MemberAssignment: a.AppendTo(nil)}
	}
	return out
}

// heartbeatLater keeps the member's heartbeat going every third of the
// session timeout, whatever its loop (a heartbeat is the coordinator's
// only sign of life from a member that is syncing or consuming).
func (g *groupMember) heartbeatLater() {
	if g.k != nil {
		g.heartbeat848Later()
		return
	}
	g.c.later(g.c.w.sessionTimeout()/3, "group-heartbeat(client)", func() {
		if !g.running() {
			return
		}
		if g.state == gsStable || g.state == gsSyncing {
			g.heartbeat()
		}
		g.heartbeatLater()
	})
}

func (g *groupMember) heartbeat() {
	c := g.c
	loop := g.loop
	if g.coord == 0 {
		g.findCoordinator(loop, func(int) {})
		return
	}
	cn := c.conn(g.coord)
	if cn == nil {
		g.coord = 0
		return
	}
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	if g.style == styleLibrdkafka {
		req.Version = 3
	}
	req.Group, req.Generation, req.MemberID, req.InstanceID = g.group, g.gen, g.member, g.inst()
	call, node := c.w.now, g.coord
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.HeartbeatResponse)
		if g.coordinatorError("Heartbeat", node, resp.ErrorCode, call) {
			return
		}
		g.rec(checker.GroupOp{Kind: checker.GroupHeartbeat, Node: node, Call: call, Return: c.w.now, OK: resp.ErrorCode == 0,
			Generation: req.Generation, Member: req.MemberID, Instance: g.instance, Err: errName(resp.ErrorCode)})
		if loop != g.loop || !g.running() || g.state != gsStable {
			return
		}
		switch resp.ErrorCode {
		case 0:
		case kerr.RebalanceInProgress.Code:
			g.rejoin()
		case kerr.IllegalGeneration.Code:
			g.lost()
		case kerr.UnknownMemberID.Code:
			g.member = ""
			g.lost()
		case kerr.FencedInstanceID.Code:
			g.fenced(loop, "Heartbeat", node, call)
		}
	}, func() { g.coord = 0 })
}

// errName is the Kafka name of an error code ("" for none).
func errName(code int16) string {
	if code == 0 {
		return ""
	}
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return fmt.Sprintf("error %d", code)
}

// consume is the poll loop: positions first, then one partition's fetch
// at a time, round robin, processing, and the commits of the member's
// style.
func (g *groupMember) consume(loop int) {
	if loop != g.loop || !g.running() || g.state != gsStable || g.fetching == loop {
		return
	}
	if g.k != nil && len(g.k.revoke) > 0 {
		g.revoke848(loop) // the poll loop came round: the revocation runs
		return
	}
	var need []partRef
	for _, pr := range g.owned {
		if !g.have[pr.name()] && pr.live() {
			need = append(need, pr)
		}
	}
	if len(need) > 0 {
		g.fetchOffsets(loop, need)
		return
	}
	if g.leads && g.view != g.liveView() {
		g.rejoin()
		return
	}
	if g.style.autoCommits() && g.c.w.now-g.lastAuto >= autoCommitInterval {
		g.lastAuto = g.c.w.now
		g.commitEntries(loop, g.gen, g.member, g.entries(g.owned, true), true, func() { g.consumeLater(loop) })
		return
	}
	var live []partRef
	for _, pr := range g.owned {
		if pr.live() {
			live = append(live, pr)
		}
	}
	if len(live) == 0 {
		g.c.later(int64(100*time.Millisecond), "group-idle(client)", func() { g.consume(loop) })
		return
	}
	g.next++
	g.fetchPartition(loop, live[g.next%len(live)])
}

func (g *groupMember) consumeLater(loop int) {
	g.c.later(g.c.rng.Int64N(int64(20*time.Millisecond))+int64(time.Millisecond), "group-poll(client)", func() { g.consume(loop) })
}

// fetchOffsets asks the coordinator for the group's committed offsets of
// the partitions; one with none starts at the earliest offset.
func (g *groupMember) fetchOffsets(loop int, parts []partRef) {
	c := g.c
	cn := g.coordConn(loop, g.consume)
	if cn == nil {
		return
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	byTopic := map[string][]int32{}
	var topics []string
	for _, pr := range parts {
		if _, ok := byTopic[pr.topic()]; !ok {
			topics = append(topics, pr.topic())
		}
		byTopic[pr.topic()] = append(byTopic[pr.topic()], pr.p)
	}
	sort.Strings(topics)
	ids := map[string][16]byte{}
	for _, pr := range parts {
		ids[pr.topic()] = c.w.topicID(pr)
	}
	if g.style == styleLibrdkafka && !c.w.cfg.TopicChurn {
		req.Version = 7
		req.Group = g.group
		for _, t := range topics {
			req.Topics = append(req.Topics, kmsg.OffsetFetchRequestTopic{Topic: t, Partitions: byTopic[t]})
		}
	} else {
		req.Version = 8
		req.RequireStable = true
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g.group
		if g.k != nil {
			// v9: a KIP-848 member names itself and its epoch.
			req.Version = 9
			member := g.member
			rg.MemberID, rg.MemberEpoch = &member, g.gen
		}
		req.Version = c.w.topicVersion(req.Version, 10)
		for _, t := range topics {
			rg.Topics = append(rg.Topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t, TopicID: ids[t], Partitions: byTopic[t]})
		}
		req.Groups = append(req.Groups, rg)
	}
	call, node := c.w.now, g.coord
	ref := map[tp]partRef{}
	for _, pr := range parts {
		ref[pr.key()] = pr
	}
	g.fetching = loop
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		if g.fetching == loop {
			g.fetching = 0
		}
		resp := r.(*kmsg.OffsetFetchResponse)
		code := resp.ErrorCode
		type part struct {
			topic string
			p     kmsg.OffsetFetchResponseTopicPartition
		}
		var got []part
		if req.Version >= 8 {
			if len(resp.Groups) != 1 {
				c.w.violate("c%d: OffsetFetch v%d of %s: bad answer to one group: %d groups", c.id, req.Version, g.group, len(resp.Groups))
				g.retry(loop, "group-poll(client)", g.consume)
				return
			}
			code = resp.Groups[0].ErrorCode
			for _, t := range resp.Groups[0].Topics {
				for _, p := range t.Partitions {
					got = append(got, part{c.w.topicNamed(t.Topic, t.TopicID), kmsg.OffsetFetchResponseTopicPartition{Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, ErrorCode: p.ErrorCode}})
				}
			}
		} else {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					got = append(got, part{t.Topic, p})
				}
			}
		}
		if code != 0 {
			if !g.coordinatorError("OffsetFetch", node, code, call) {
				g.rec(checker.GroupOp{Kind: checker.GroupOffsetFetch, Node: node, Call: call, Return: c.w.now, Err: errName(code)})
			}
			g.retry(loop, "group-poll(client)", g.consume)
			return
		}
		for _, x := range got {
			pr, ok := ref[tp{x.topic, x.p.Partition}]
			if !ok {
				c.w.violate("c%d: OffsetFetch of %s: bad answer to a fetch of offsets: %s/%d was not asked for", c.id, g.group, x.topic, x.p.Partition)
				continue
			}
			if x.p.ErrorCode != 0 {
				g.rec(checker.GroupOp{Kind: checker.GroupOffsetFetch, Node: node, Call: call, Return: c.w.now, Partition: pr.name(), Err: errName(x.p.ErrorCode)})
				continue
			}
			g.rec(checker.GroupOp{Kind: checker.GroupOffsetFetch, Node: node, Call: call, Return: c.w.now, OK: true, Partition: pr.name(), Offset: x.p.Offset})
			if loop != g.loop {
				continue
			}
			name := pr.name()
			off, epoch := x.p.Offset, x.p.LeaderEpoch
			if off < 0 {
				off, epoch = 0, -1 // auto.offset.reset=earliest: the log starts at 0 here
			}
			g.pos[name], g.posEpoch[name], g.have[name], g.done[name] = off, epoch, true, off
			// A position resumed from the group's commit is as high as
			// the committer was told the log went (its commit was judged
			// against that), so it counts as a high watermark seen: an
			// auto-commit sends it back unchanged, as the Java client does.
			g.hw[name] = max(g.hw[name], off)
		}
		g.consumeLater(loop)
	}, func() {
		if g.fetching == loop {
			g.fetching = 0
		}
		g.coord = 0
		g.retry(loop, "group-poll(client)", g.consume)
	})
}

// fetchPartition fetches one owned partition from its leader at the
// member's position, hands the records over (the delivery the checks
// count), processes them, and commits after processing in franz-go style.
func (g *groupMember) fetchPartition(loop int, pr partRef) {
	c := g.c
	name := pr.name()
	cn := c.conn(c.leader(pr))
	if cn == nil {
		c.refresh(func() { g.consume(loop) })
		return
	}
	offset := g.pos[name]
	req := c.w.fetchOne(pr, fetchVersion, offset, 16<<10, c.currentEpoch(pr))
	req.MaxWaitMillis = int32(100 + c.rng.IntN(400))
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	g.fetching = loop
	c.w.sendFor(cn, pr.ts, req, requestTimeout, func(r kmsg.Response) {
		if g.fetching == loop {
			g.fetching = 0
		}
		resp := r.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			c.refresh(func() { g.consume(loop) })
			return
		}
		fp := resp.Topics[0].Partitions[0]
		if fp.ErrorCode == kerr.OffsetOutOfRange.Code && loop == g.loop && g.pos[name] == offset {
			// auto.offset.reset=earliest: the client moves on its own.
			g.rec(checker.GroupOp{Kind: checker.GroupSeek, Call: c.w.now, Return: c.w.now, OK: true, Partition: name, Offset: 0,
				Generation: g.gen, Member: g.member})
			g.pos[name], g.posEpoch[name], g.reset[name] = 0, -1, true
			g.consumeLater(loop)
			return
		}
		if fp.ErrorCode != 0 {
			c.refresh(func() { g.consume(loop) })
			return
		}
		recs, err := c.w.decodeRecords(fp.RecordBatches, offset)
		if err != nil {
			c.w.violate("c%d: group fetch of %s at %d returned undecodable records: %v", c.id, name, offset, err)
		}
		if fp.HighWatermark > g.hw[name] {
			g.hw[name] = fp.HighWatermark
		}
		if loop != g.loop || g.state != gsStable || g.pos[name] != offset || !g.owns(name) {
			return // given up meanwhile: nothing is handed over
		}
		if n := len(recs); n > 0 {
			// Hand over each consecutive run (the checks count offsets).
			start := 0
			for i := 1; i <= n; i++ {
				if i == n || recs[i].Offset != recs[i-1].Offset+1 {
					g.rec(checker.GroupOp{Kind: checker.GroupDeliver, Call: c.w.now, Return: c.w.now, OK: true, Partition: name,
						Offset: recs[start].Offset, End: recs[i-1].Offset + 1, Generation: g.gen, Member: g.member, Instance: g.instance})
					start = i
				}
			}
			g.pos[name], g.posEpoch[name] = recs[n-1].Offset+1, recs[n-1].Epoch
		}
		// Processing takes a while; then franz-go style commits.
		c.later(c.rng.Int64N(int64(20*time.Millisecond)), "group-process(client)", func() {
			if !g.style.autoCommits() && len(recs) > 0 {
				g.commit(loop, []partRef{pr}, true, func() { g.consumeLater(loop) })
				return
			}
			g.consumeLater(loop)
		})
	}, func() {
		if g.fetching == loop {
			g.fetching = 0
		}
		c.refresh(func() { g.consume(loop) })
	})
}

func (g *groupMember) owns(name string) bool {
	for _, pr := range g.owned {
		if pr.name() == name {
			return true
		}
	}
	return false
}

// commitEntry is one partition of a commit: the position and what the
// member knew with it.
type commitEntry struct {
	pr     partRef
	offset int64
	epoch  int32
	hw     int64
	reset  bool
}

// entries are the member's positions of parts to commit: those that moved
// since their last commit, or all it has (force: as an auto-commit sends
// every position, and a zombie does).
func (g *groupMember) entries(parts []partRef, force bool) []commitEntry {
	var es []commitEntry
	for _, pr := range parts {
		name := pr.name()
		if !g.have[name] || !pr.live() || !force && g.pos[name] == g.done[name] && !g.reset[name] {
			continue
		}
		es = append(es, commitEntry{pr, g.pos[name], g.posEpoch[name], g.hw[name], g.reset[name]})
	}
	sort.Slice(es, func(i, j int) bool {
		if es[i].pr.topic() != es[j].pr.topic() {
			return es[i].pr.topic() < es[j].pr.topic()
		}
		return es[i].pr.p < es[j].pr.p
	})
	return es
}

// commit commits the member's moved positions of parts with its generation
// and member id, then runs then. With steer, a refusal sends the member
// where its client would go (rejoin, or start over when fenced) instead,
// if its loop is still current; without, then always runs (a commit on the
// way to a rejoin, a revocation or a leave).
func (g *groupMember) commit(loop int, parts []partRef, steer bool, then func()) {
	g.commitEntries(loop, g.gen, g.member, g.entries(parts, false), steer, then)
}

func (g *groupMember) commitEntries(loop int, gen int32, member string, es []commitEntry, steer bool, then func()) {
	c := g.c
	if len(es) == 0 || g.coord == 0 {
		then()
		return
	}
	cn := c.conn(g.coord)
	if cn == nil {
		g.coord = 0
		then()
		return
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	switch {
	case g.style == styleLibrdkafka:
		req.Version = 7
	case g.k != nil:
		req.Version = 9 // the generation is the member epoch
	}
	req.Version = c.w.topicVersion(req.Version, 10)
	req.Group, req.Generation, req.MemberID, req.InstanceID = g.group, gen, member, g.inst()
	for _, e := range es {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != e.pr.topic() {
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic, rt.TopicID = e.pr.topic(), c.w.topicID(e.pr)
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = e.pr.p, e.offset, e.epoch
		rt := &req.Topics[len(req.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	call, node := c.w.now, g.coord
	op := func(e commitEntry) checker.GroupOp {
		return checker.GroupOp{Kind: checker.GroupCommit, Node: node, Call: call, Return: c.w.now, Generation: gen, Member: member,
			Instance: g.instance, Partition: e.pr.name(), Offset: e.offset, HighWatermark: e.hw, Reset: e.reset}
	}
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.OffsetCommitResponse)
		// By the request's own topics: an answer by ID names the
		// incarnation asked about, which may no longer be the live one
		// (the world's topicNamed knows only that; swarm seed 90: t0
		// re-created while a commit of the old incarnation was in
		// flight, and its answer read as no answer).
		named := map[[16]byte]string{}
		for _, rt := range req.Topics {
			if rt.TopicID != ([16]byte{}) {
				named[rt.TopicID] = rt.Topic
			}
		}
		codes := map[tp]int16{}
		for _, t := range resp.Topics {
			name := t.Topic
			if name == "" {
				name = named[t.TopicID]
			}
			for _, p := range t.Partitions {
				codes[tp{name, p.Partition}] = p.ErrorCode
			}
		}
		var worst int16
		for _, e := range es {
			o := op(e)
			code, ok := codes[e.pr.key()]
			if !ok {
				c.w.violate("c%d: OffsetCommit of %s: bad answer to a commit: %s not answered", c.id, g.group, o.Partition)
				o.Ambiguous = true
				g.rec(o)
				continue
			}
			o.OK, o.Err = code == 0, errName(code)
			g.rec(o)
			if code == 0 && member == g.member && gen == g.gen {
				name := e.pr.name()
				g.done[name] = max(g.done[name], e.offset)
				if e.reset {
					g.done[name] = e.offset
					g.reset[name] = false
				}
			}
			if code != 0 {
				worst = code
			}
		}
		if !steer || loop != g.loop || !g.running() || member != g.member || gen != g.gen {
			then()
			return
		}
		if g.k != nil {
			g.commitRefused848(loop, worst, node, call, then)
			return
		}
		switch {
		case worst == 0:
			then()
		case g.coordinatorError("OffsetCommit", node, worst, call):
			then()
		case worst == kerr.FencedInstanceID.Code:
			g.fenced(loop, "OffsetCommit", node, call)
		case worst == kerr.UnknownMemberID.Code:
			g.member = ""
			g.lost()
		case worst == kerr.IllegalGeneration.Code:
			g.lost()
		case worst == kerr.RebalanceInProgress.Code:
			g.rejoin()
		default:
			then()
		}
	}, func() {
		for _, e := range es {
			o := op(e)
			o.Ambiguous = true
			g.rec(o)
		}
		g.coord = 0
		then()
	})
}

// pause stops the member for d (no heartbeats, no polls); it comes back
// believing it still owns its partitions and commits them with the
// generation it had: a zombie, which the coordinator must refuse if the
// group moved on.
func (g *groupMember) pause(d int64) {
	if !g.running() || g.state == gsPaused {
		return
	}
	prev := g.state
	g.loop++
	g.state = gsPaused
	g.c.w.record(fmt.Sprintf("c%d: group member %s of %s paused for %v", g.c.id, g.member, g.group, time.Duration(d)))
	g.c.later(d, "group-resume(client)", func() {
		if !g.c.running() {
			return
		}
		g.state = prev
		g.loop++
		loop := g.loop
		if prev != gsStable {
			g.rejoin()
			return
		}
		// Back from the stall, the poll loop goes on where it was: its
		// auto-commit sends every position with the generation it had.
		g.commitEntries(loop, g.gen, g.member, g.entries(g.owned, true), true, func() { g.consumeLater(loop) })
	})
}

// restart is the consumer process starting over: a dynamic member comes
// back under a new member id (the old one times out), a static member
// under its group.instance.id, replacing its old self at once. The old
// process, not quite dead, sends one last commit with its old identity.
func (g *groupMember) restart() {
	if !g.running() {
		return
	}
	if g.k != nil {
		g.restart848()
		return
	}
	oldGen, oldMember := g.gen, g.member
	zombie := g.entries(g.owned, true)
	g.loop++
	loop := g.loop
	g.owned, g.member, g.gen, g.state = nil, "", 0, gsJoining
	g.c.w.record(fmt.Sprintf("c%d: group consumer of %s restarts (was member %s generation %d)", g.c.id, g.group, oldMember, oldGen))
	g.join(loop)
	if oldMember == "" || len(zombie) == 0 {
		return
	}
	g.c.later(g.c.rng.Int64N(int64(2*time.Second))+int64(500*time.Millisecond), "group-zombie-commit(client)", func() {
		g.commitEntries(-1, oldGen, oldMember, zombie, false, func() {})
	})
}

// leave commits, leaves the group (LeaveGroup), and comes back as a new
// member a little later, as a consumer closed and started again does.
func (g *groupMember) leave() {
	if !g.running() || g.state != gsStable {
		return
	}
	if g.k != nil {
		g.leave848()
		return
	}
	g.loop++
	loop := g.loop
	g.commit(loop, g.owned, false, func() {
		c := g.c
		cn := g.coordConn(loop, func(int) {})
		back := func() {
			c.later(c.rng.Int64N(int64(2*time.Second))+int64(time.Second), "group-come-back(client)", func() {
				if loop == g.loop && g.running() {
					g.owned, g.member, g.gen = nil, "", 0
					g.rejoin()
				}
			})
		}
		if cn == nil {
			back()
			return
		}
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version = 5
		req.Group = g.group
		if g.style == styleLibrdkafka {
			req.Version = 1
			req.MemberID = g.member
		} else {
			lm := kmsg.NewLeaveGroupRequestMember()
			lm.MemberID = g.member
			req.Members = append(req.Members, lm)
		}
		call, node, member := c.w.now, g.coord, g.member
		g.owned, g.state = nil, gsJoining
		c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
			resp := r.(*kmsg.LeaveGroupResponse)
			code := resp.ErrorCode
			if code == 0 && req.Version >= 3 && len(resp.Members) == 1 {
				code = resp.Members[0].ErrorCode
			}
			g.rec(checker.GroupOp{Kind: checker.GroupLeave, Node: node, Call: call, Return: c.w.now, OK: code == 0, Member: member, Err: errName(code)})
			back()
		}, back)
	})
}

// groupLiveness: after the faults healed, every group had a commit
// accepted (auto-commits run every five seconds, the quiet period is
// longer), so its members found a coordinator, formed a generation and
// consumed.
func (w *World) groupLiveness() []string {
	if w.cfg.GroupConsumers == 0 {
		return nil
	}
	healed := max(w.healedAt, int64(w.cfg.Duration))
	ok := map[string]bool{}
	for i := range w.groupHistory {
		op := &w.groupHistory[i]
		if op.Kind == checker.GroupCommit && op.OK && op.Call >= healed {
			ok[op.Group] = true
		}
	}
	var out []string
	for gi := 0; gi < w.cfg.groups(); gi++ {
		if name := groupName(gi); !ok[name] {
			out = append(out, fmt.Sprintf("liveness: group %s: after faults healed at %v, no commit accepted within %v",
				name, time.Duration(healed), time.Duration(w.end()-healed)))
		}
	}
	return out
}

func groupName(i int) string { return fmt.Sprintf("g%d", i) }

// newGroupMember makes client c the j-th group consumer: group j mod
// Groups, whose index picks the client kind; every other member of a Java
// or franz-go group is static.
func newGroupMember(c *client, j int) *groupMember {
	if j == c.w.cfg.GroupConsumers {
		return &groupMember{c: c, monitor: true}
	}
	gi := j % c.w.cfg.groups()
	g := &groupMember{c: c, group: groupName(gi), style: groupStyle(gi % 3)}
	for _, k := range c.w.cfg.KIP848 {
		if k.Group == gi {
			g.style, g.k = styleFranz848, &member848{assignor: k.Assignor}
			if k.Java {
				g.style = styleJava848
			}
		}
	}
	if g.style != styleLibrdkafka && (j/c.w.cfg.groups())%2 == 1 {
		g.instance = fmt.Sprintf("%s-i%d", g.group, j)
	}
	return g
}

func (g *groupMember) describe() string {
	if g.monitor {
		return "group lag monitor"
	}
	s := fmt.Sprintf("group consumer %s (%s)", g.group, g.style)
	if g.instance != "" {
		s += " static " + g.instance
	}
	return s
}

// coordinatorNode is the node the first group consumer that knows one
// believes coordinates its group (0: none knows one). The members' belief,
// not the cluster's truth: a fault aimed there hits what clients talk to.
func (w *World) coordinatorNode() uint64 {
	for _, c := range w.clients {
		if c.grp != nil && c.grp.coord != 0 {
			return c.grp.coord
		}
	}
	return 0
}

// monitorNext asks the watched group's coordinator for its committed
// offsets of every live partition, records the answers, and goes on.
func (g *groupMember) monitorNext() {
	c := g.c
	if !c.running() {
		return
	}
	next := func() {
		c.later(c.rng.Int64N(int64(200*time.Millisecond))+int64(50*time.Millisecond), "group-monitor(client)", g.monitorNext)
	}
	group, coord := g.group, g.coord
	if coord == 0 {
		g.findCoordinator(g.loop, func(int) { next() })
		return
	}
	cn := g.conn(coord)
	if cn == nil {
		g.coord = 0
		next()
		return
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = c.w.topicVersion(8, 10)
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	ref := map[tp]partRef{}
	for _, t := range c.w.topics {
		if !t.live {
			continue
		}
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.TopicID = t.spec.Name, c.w.topicID(partRef{ts: t, inc: t.inc})
		for p := int32(0); p < t.spec.Partitions; p++ {
			rt.Partitions = append(rt.Partitions, p)
			ref[tp{t.spec.Name, p}] = partRef{ts: t, inc: t.inc, p: p}
		}
		rg.Topics = append(rg.Topics, rt)
	}
	if len(rg.Topics) == 0 {
		next()
		return
	}
	req.Groups = append(req.Groups, rg)
	call := c.w.now
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.OffsetFetchResponse)
		if len(resp.Groups) != 1 {
			c.w.violate("c%d: OffsetFetch v8 of %s: bad answer to one group: %d groups", c.id, group, len(resp.Groups))
			next()
			return
		}
		rgp := resp.Groups[0]
		if rgp.ErrorCode != 0 {
			if rgp.ErrorCode == kerr.NotCoordinator.Code || rgp.ErrorCode == kerr.CoordinatorNotAvailable.Code {
				g.coord = 0
			}
			g.rec(checker.GroupOp{Kind: checker.GroupCoordinatorError, Group: group, Node: coord, Call: call, Return: c.w.now,
				Err: errName(rgp.ErrorCode), Partition: "OffsetFetch"})
			next()
			return
		}
		for _, t := range rgp.Topics {
			for _, p := range t.Partitions {
				pr, ok := ref[tp{c.w.topicNamed(t.Topic, t.TopicID), p.Partition}]
				if !ok || p.ErrorCode != 0 {
					continue
				}
				g.rec(checker.GroupOp{Kind: checker.GroupOffsetFetch, Group: group, Node: coord, Call: call, Return: c.w.now, OK: true,
					Partition: pr.name(), Offset: p.Offset})
			}
		}
		next()
	}, func() {
		g.coord = 0
		next()
	})
}
