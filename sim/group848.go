package sim

// Simulated KIP-848 group consumers, as franz-go (kgo with the consumer
// protocol) and the Java 4.x consumer (group.protocol=consumer) run at
// their defaults: a ConsumerGroupHeartbeat at epoch 0 joins, with a member
// id the client made (v1, KIP-1082); the coordinator assigns, and answers
// the interval to heartbeat at; the member takes the assignment it is sent:
// new partitions at once (their positions from OffsetFetch v9, naming the
// member and its epoch), revoked ones once its poll loop comes round (the
// fetch in flight processed), after committing them, and then a heartbeat
// that no longer lists them; a heartbeat meanwhile is a keepalive (no
// owned partitions), as kgo's prerevoke and Java's reconciliation keep the
// coordinator from seeing a partition released before its commit.
// OffsetCommit v9 carries the member epoch as its generation. Fenced
// (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, a commit's UNKNOWN_MEMBER_ID):
// the assignment is dropped uncommitted and the member joins again at epoch
// 0 (kgo with a new member id after UNKNOWN_MEMBER_ID, Java keeping its own).
// A leave is a heartbeat at epoch -1, or -2 for a static member
// (group.instance.id), which keeps its partitions reserved until it comes
// back. NOT_COORDINATOR and COORDINATOR_LOAD_IN_PROGRESS send the member to
// find the coordinator again and retry. Pauses, restarts and zombie commits
// are group.go's, shared with the classic members.
//
// For the checks (checker/groups848.go) a member records what it holds:
// GroupAssign when an answer's assignment is taken, GroupRelease when it
// lets partitions go; the member epoch is the generation of its commits.

import (
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
)

// member848 is a KIP-848 member's protocol state.
type member848 struct {
	assignor string // the server assignor named ("" : the broker's default)
	interval int64  // the heartbeat interval the coordinator answered (0: none yet)
	inflight bool   // a heartbeat is out: one at a time, as both clients send them
	again    bool   // send one more as soon as the one out is answered
	// sent is the owned partitions the last full heartbeat reported, and
	// sentOK whether it was answered: a keepalive (no partitions) is sent
	// only while the coordinator has heard what the member holds.
	sent   string
	sentOK bool
	// target is the last assignment taken (history names); revoke the
	// owned partitions outside it, still to be committed and released.
	target map[string]bool
	revoke []partRef
	// confirmed is when the last heartbeat the coordinator answered
	// without error was sent: the member surely held what it held then.
	confirmed int64
	// ids maps the topic ids assignments name to the topic incarnation
	// they are, as learned from metadata.
	ids map[[16]byte]topicInc
	// resolving: a metadata request for unknown ids is out; last is the
	// latest assignment taken, to take again once they are known.
	resolving bool
	last      *kmsg.ConsumerGroupHeartbeatResponseAssignment
}

type topicInc struct {
	ts  *topicState
	inc int
}

// newMemberID is a member id as the clients make them: 16 random bytes,
// base64 (kgo's newStringUUID; Java's Uuid.randomUuid().toString()).
func (g *groupMember) newMemberID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.c.rng.IntN(256))
	}
	return base64.URLEncoding.EncodeToString(b[:])
}

func (g *groupMember) heartbeatInterval848() int64 {
	if g.k.interval > 0 {
		return g.k.interval
	}
	return g.c.w.sessionTimeout() / 3
}

// heartbeat848Later keeps the member heartbeating at the interval it was
// told, whatever its loop.
func (g *groupMember) heartbeat848Later() {
	g.c.later(g.heartbeatInterval848(), "group-heartbeat(client)", func() {
		if !g.running() {
			return
		}
		if g.state == gsStable && !g.k.inflight {
			g.heartbeat848(false)
		}
		g.heartbeat848Later()
	})
}

// ownedNames are the owned partitions' history names, sorted.
func (g *groupMember) ownedNames() []string {
	var out []string
	for _, pr := range g.owned {
		out = append(out, pr.name())
	}
	sort.Strings(out)
	return out
}

// ownedTopics is what a full heartbeat reports owning, by topic id.
func (g *groupMember) ownedTopics() []kmsg.ConsumerGroupHeartbeatRequestTopic {
	out := []kmsg.ConsumerGroupHeartbeatRequestTopic{} // empty, not nil: "I hold nothing"
	for _, pr := range g.owned {
		id, ok := g.topicID848(pr)
		if !ok {
			continue
		}
		n := slices.IndexFunc(out, func(t kmsg.ConsumerGroupHeartbeatRequestTopic) bool { return t.TopicID == id })
		if n < 0 {
			t := kmsg.NewConsumerGroupHeartbeatRequestTopic()
			t.TopicID = id
			out = append(out, t)
			n = len(out) - 1
		}
		out[n].Partitions = append(out[n].Partitions, pr.p)
	}
	for i := range out {
		slices.Sort(out[i].Partitions)
	}
	slices.SortFunc(out, func(a, b kmsg.ConsumerGroupHeartbeatRequestTopic) int {
		return strings.Compare(string(a.TopicID[:]), string(b.TopicID[:]))
	})
	return out
}

func (g *groupMember) topicID848(pr partRef) ([16]byte, bool) {
	for id, ti := range g.k.ids {
		if ti.ts == pr.ts && ti.inc == pr.inc {
			return id, true
		}
	}
	return [16]byte{}, false
}

// request848 is the member's next heartbeat: full (its subscription and
// what it owns) when the coordinator may not know those, else a keepalive.
func (g *groupMember) request848(epoch int32, full bool) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = g.group, g.member, epoch
	owned := strings.Join(g.ownedNames(), ",")
	if len(g.k.revoke) > 0 && !full {
		return req // revoking: not a word about what it holds until committed
	}
	if !full && g.k.sentOK && owned == g.k.sent && owned != "" {
		return req
	}
	req.InstanceID = g.inst()
	req.RebalanceTimeoutMillis = int32(groupRebalanceTimeout / 1e6)
	req.SubscribedTopicNames = g.subscription()
	if g.k.assignor != "" {
		a := g.k.assignor
		req.ServerAssignor = &a
	}
	req.Topics = g.ownedTopics()
	if epoch == 0 {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	return req
}

// join848 joins at epoch 0, retrying until the coordinator takes it.
func (g *groupMember) join848(loop int) {
	c := g.c
	g.state = gsJoining
	if g.member == "" {
		g.member = g.newMemberID()
	}
	cn := g.coordConn(loop, g.join848)
	if cn == nil {
		return
	}
	g.k.sent, g.k.sentOK, g.k.revoke, g.k.target, g.k.last = "", false, nil, nil, nil
	req := g.request848(0, true)
	call, node := c.w.now, g.coord
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.ConsumerGroupHeartbeatResponse)
		if g.coordinatorError("ConsumerGroupHeartbeat", node, resp.ErrorCode, call) {
			g.retry(loop, "group-join-retry(client)", g.join848)
			return
		}
		op := checker.GroupOp{Kind: checker.GroupJoin, Node: node, Call: call, Return: c.w.now, Member: req.MemberID,
			Instance: g.instance, OK: resp.ErrorCode == 0, Err: errName(resp.ErrorCode)}
		if resp.ErrorCode == 0 && resp.MemberID != nil {
			op.Member, op.Generation = *resp.MemberID, resp.MemberEpoch
		}
		g.rec(op)
		if loop != g.loop || !g.running() {
			return
		}
		switch resp.ErrorCode {
		case 0:
		case kerr.UnknownMemberID.Code, kerr.StaleMemberEpoch.Code:
			// The coordinator remembers this id at another epoch (kgo
			// joins again as a new member).
			g.member = ""
			g.retry(loop, "group-join-retry(client)", g.join848)
			return
		default: // UNRELEASED_INSTANCE_ID (the old incarnation's session still runs), ...
			g.retry(loop, "group-join-retry(client)", g.join848)
			return
		}
		if resp.MemberEpoch < 0 {
			g.retry(loop, "group-join-retry(client)", g.join848)
			return
		}
		if resp.MemberID != nil && *resp.MemberID != "" {
			g.member = *resp.MemberID
		}
		g.gen, g.state = resp.MemberEpoch, gsStable
		g.k.confirmed, g.k.sentOK = call, true
		if resp.HeartbeatIntervalMillis > 0 {
			g.k.interval = int64(resp.HeartbeatIntervalMillis) * 1e6
		}
		if resp.Assignment != nil {
			g.assign848(loop, resp.Assignment)
		}
		g.consume(loop)
	}, func() {
		g.coord = 0
		g.retry(loop, "group-join-retry(client)", g.join848)
	})
}

// heartbeat848 sends the member's heartbeat unless one is out (then one
// more goes when it is answered).
func (g *groupMember) heartbeat848(full bool) {
	c := g.c
	if g.k.inflight {
		g.k.again = true
		return
	}
	loop := g.loop
	if g.coord == 0 {
		g.findCoordinator(loop, func(int) { g.heartbeat848(full) })
		return
	}
	cn := c.conn(g.coord)
	if cn == nil {
		g.coord = 0
		return
	}
	req := g.request848(g.gen, full)
	if req.Topics != nil {
		g.k.sent, g.k.sentOK = strings.Join(g.ownedNames(), ","), false
	}
	call, node := c.w.now, g.coord
	g.k.inflight, g.k.again = true, false
	done := func() {
		g.k.inflight = false
		if g.k.again && g.running() && g.state == gsStable {
			g.heartbeat848(true)
		}
	}
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		defer done()
		resp := r.(*kmsg.ConsumerGroupHeartbeatResponse)
		if g.coordinatorError("ConsumerGroupHeartbeat", node, resp.ErrorCode, call) {
			// Find the coordinator again (or let it load), and say
			// everything again.
			g.k.sentOK = false
			g.retry(loop, "group-heartbeat-retry(client)", func(int) {
				if g.state == gsStable {
					g.heartbeat848(true)
				}
			})
			return
		}
		g.rec(checker.GroupOp{Kind: checker.GroupHeartbeat, Node: node, Call: call, Return: c.w.now, OK: resp.ErrorCode == 0,
			Generation: resp.MemberEpoch, Member: req.MemberID, Instance: g.instance, Err: errName(resp.ErrorCode)})
		if loop != g.loop || !g.running() || g.state != gsStable || req.MemberID != g.member {
			return
		}
		switch resp.ErrorCode {
		case 0:
		case kerr.UnknownMemberID.Code, kerr.FencedMemberEpoch.Code, kerr.FencedInstanceID.Code:
			g.fenced848(errName(resp.ErrorCode), resp.ErrorCode)
			return
		default:
			g.k.sentOK = false
			return
		}
		if resp.MemberEpoch < 0 {
			return // only a leave is answered so: ignored, as both clients do
		}
		g.k.confirmed = call
		if req.Topics != nil {
			g.k.sentOK = true
		}
		g.gen = resp.MemberEpoch
		if resp.HeartbeatIntervalMillis > 0 {
			g.k.interval = int64(resp.HeartbeatIntervalMillis) * 1e6
		}
		if resp.Assignment != nil {
			g.assign848(loop, resp.Assignment)
		}
	}, func() {
		g.coord = 0
		g.k.sentOK = false
		done()
	})
}

// assign848 takes an assignment: partitions new to the member are its at
// once; those it no longer has wait for the poll loop to commit and
// release them (consume calls revoke848). Topic ids it does not know yet
// are looked up first, as both clients wait for metadata.
func (g *groupMember) assign848(loop int, a *kmsg.ConsumerGroupHeartbeatResponseAssignment) {
	c := g.c
	var parts []partRef
	g.k.last = a
	unknown := false
	for _, t := range a.Topics {
		ti, ok := g.k.ids[t.TopicID]
		if !ok {
			unknown = true // not the member's until it is known
			continue
		}
		for _, p := range t.Partitions {
			if p < 0 || p >= ti.ts.spec.Partitions {
				c.w.violate("c%d: ConsumerGroupHeartbeat of %s: bad answer to a heartbeat: assigned %s/%d, which the workload lacks", c.id, g.group, ti.ts.spec.Name, p)
				continue
			}
			parts = append(parts, partRef{ts: ti.ts, inc: ti.inc, p: p})
		}
	}
	g.k.target = map[string]bool{}
	op := checker.GroupOp{Kind: checker.GroupAssign, Call: c.w.now, Return: c.w.now, OK: true, Generation: g.gen,
		Member: g.member, Instance: g.instance}
	had := map[string]bool{}
	for _, pr := range g.owned {
		had[pr.name()] = true
	}
	added := false
	for _, pr := range parts {
		name := pr.name()
		g.k.target[name] = true
		op.Assignment = append(op.Assignment, name)
		if !had[name] {
			g.owned = append(g.owned, pr)
			g.have[name] = false
			added = true
		}
	}
	sort.Strings(op.Assignment)
	g.rec(op)
	g.k.revoke = nil
	for _, pr := range g.owned {
		if !g.k.target[pr.name()] {
			g.k.revoke = append(g.k.revoke, pr)
		}
	}
	if unknown {
		g.resolve848(loop)
	}
	if len(g.k.revoke) == 0 && added {
		g.heartbeat848(true) // acknowledge at once, as the Java client does
	}
}

// resolve848 asks for metadata to learn the topic ids of the latest
// assignment, then takes it again if it learned any.
func (g *groupMember) resolve848(loop int) {
	c := g.c
	if g.k.resolving {
		return
	}
	c.metaNext = c.metaNext%uint64(len(c.w.nodes)) + 1
	cn := c.conn(c.metaNext)
	if cn == nil {
		return
	}
	g.k.resolving = true
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		g.k.resolving = false
		learned := false
		for _, t := range r.(*kmsg.MetadataResponse).Topics {
			if t.Topic == nil || t.ErrorCode != 0 || t.TopicID == ([16]byte{}) {
				continue
			}
			if _, ok := g.k.ids[t.TopicID]; ok {
				continue
			}
			if ts := g.topicNamed(*t.Topic); ts != nil && ts.live {
				if g.k.ids == nil {
					g.k.ids = map[[16]byte]topicInc{}
				}
				g.k.ids[t.TopicID] = topicInc{ts, ts.inc}
				learned = true
			}
		}
		if loop != g.loop || !g.running() || g.state != gsStable || g.k.last == nil {
			return
		}
		if learned {
			g.assign848(loop, g.k.last)
			return
		}
		g.k.sentOK = false // a full heartbeat next: its answer carries the assignment again
	}, func() { g.k.resolving = false })
}

// revoke848 commits what the member must give up, lets it go, and tells
// the coordinator (a full heartbeat without it).
func (g *groupMember) revoke848(loop int) {
	parts := g.k.revoke
	g.k.revoke = nil
	g.commit(loop, parts, false, func() {
		if loop != g.loop || !g.running() {
			return
		}
		var keep []partRef
		var gone []string
		for _, pr := range g.owned {
			if g.k.target[pr.name()] {
				keep = append(keep, pr)
			} else {
				gone = append(gone, pr.name())
			}
		}
		g.owned = keep
		if len(gone) > 0 {
			sort.Strings(gone)
			g.rec(checker.GroupOp{Kind: checker.GroupRelease, Call: g.c.w.now, Return: g.c.w.now, OK: true, Member: g.member,
				Instance: g.instance, Assignment: gone})
		}
		g.heartbeat848(true)
		g.consumeLater(loop)
	})
}

// drop848 lets the whole assignment go uncommitted (fenced, or the process
// restarting): held, as far as the member can tell, until its last
// confirmed heartbeat.
func (g *groupMember) drop848(why string) {
	if len(g.owned) > 0 {
		g.rec(checker.GroupOp{Kind: checker.GroupRelease, Call: g.k.confirmed, Return: g.c.w.now, OK: true, Member: g.member,
			Instance: g.instance, Assignment: g.ownedNames(), Err: why})
	}
	g.owned, g.k.revoke, g.k.target, g.k.last = nil, nil, nil, nil
	g.k.sent, g.k.sentOK = "", false
}

// fenced848: the coordinator no longer has this member at its epoch. The
// assignment is lost; the member joins again at epoch 0, with a new id
// after UNKNOWN_MEMBER_ID for kgo (and FENCED_INSTANCE_ID: another process
// has its instance id; the application starts it over), its own otherwise.
func (g *groupMember) fenced848(why string, code int16) {
	g.drop848(why)
	if code == kerr.FencedInstanceID.Code || code == kerr.UnknownMemberID.Code && g.style == styleFranz848 {
		g.member = ""
	}
	g.loop++
	g.state, g.gen = gsJoining, 0
	g.retry(g.loop, "group-rejoin(client)", g.join848)
}

// rejoin848 is group.go's rejoin for a KIP-848 member: back from a pause
// before it had joined, or after a leave.
func (g *groupMember) rejoin848() {
	g.drop848("rejoin")
	g.loop++
	g.state, g.gen = gsJoining, 0
	g.join848(g.loop)
}

// commitRefused848 steers a member whose commit was refused: fenced, it
// starts over; a stale epoch is the heartbeat's to correct.
func (g *groupMember) commitRefused848(loop int, worst int16, node uint64, call int64, then func()) {
	switch {
	case worst == 0, g.coordinatorError("OffsetCommit", node, worst, call):
		then()
	case worst == kerr.UnknownMemberID.Code, worst == kerr.FencedMemberEpoch.Code, worst == kerr.FencedInstanceID.Code:
		g.fenced848(errName(worst), worst)
	default: // STALE_MEMBER_EPOCH, ...
		then()
	}
}

// leave848 commits, leaves, and comes back a little later as a consumer
// started again does.
func (g *groupMember) leave848() {
	g.close848(func() int64 { return g.c.rng.Int64N(int64(2*time.Second)) + int64(time.Second) })
}

// restart848 is the consumer process restarting: it closes (commits,
// leaves: a static member at -2 keeps its partitions for the next
// incarnation, which takes them over at once), starts again, and the old
// process, not quite dead, sends one last commit with its old member id
// and epoch, which the coordinator must refuse.
func (g *groupMember) restart848() {
	if g.state != gsStable {
		g.drop848("restart")
		g.loop++
		g.member, g.gen, g.state = "", 0, gsJoining
		g.join848(g.loop)
		return
	}
	oldGen, oldMember := g.gen, g.member
	zombie := g.entries(g.owned, true)
	g.c.w.record(fmt.Sprintf("c%d: group consumer of %s restarts (was member %s epoch %d)", g.c.id, g.group, oldMember, oldGen))
	g.close848(func() int64 { return 0 })
	if len(zombie) == 0 {
		return
	}
	g.c.later(g.c.rng.Int64N(int64(2*time.Second))+int64(500*time.Millisecond), "group-zombie-commit(client)", func() {
		g.commitEntries(-1, oldGen, oldMember, zombie, false, func() {})
	})
}

// closeTimeout848 is how long a closing consumer tries to leave (the Java
// consumer's default close timeout).
const closeTimeout848 = int64(30 * time.Second)

// close848 is the consumer closing: it commits, leaves (epoch -1, or -2
// for a static member, which keeps its place), and starts again after
// back(): a new member id, the same instance id.
func (g *groupMember) close848(back func() int64) {
	g.loop++
	loop := g.loop
	g.commit(loop, g.owned, false, func() {
		c := g.c
		if len(g.owned) > 0 {
			g.rec(checker.GroupOp{Kind: checker.GroupRelease, Call: c.w.now, Return: c.w.now, OK: true, Member: g.member,
				Instance: g.instance, Assignment: g.ownedNames()})
		}
		g.owned, g.k.revoke, g.k.target, g.k.last, g.state = nil, nil, nil, nil, gsJoining
		again := func() {
			c.later(back(), "group-come-back(client)", func() {
				if loop == g.loop && g.running() {
					g.member, g.gen = "", 0
					g.rejoin848()
				}
			})
		}
		epoch := int32(-1)
		if g.instance != "" {
			epoch = -2
		}
		member, until := g.member, c.w.now+closeTimeout848
		// The leave is retried until a coordinator answers it, within the
		// close timeout: a member that never left holds its partitions
		// until its session runs out.
		var leave func(int)
		leave = func(int) {
			if loop != g.loop || !g.running() {
				return
			}
			if c.w.now >= until {
				again()
				return
			}
			cn := g.coordConn(loop, leave)
			if cn == nil {
				return
			}
			req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			req.Version = 1
			req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = g.group, member, epoch, g.inst()
			call, node := c.w.now, g.coord
			c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
				resp := r.(*kmsg.ConsumerGroupHeartbeatResponse)
				if g.coordinatorError("ConsumerGroupHeartbeat", node, resp.ErrorCode, call) {
					g.retry(loop, "group-leave-retry(client)", leave)
					return
				}
				g.rec(checker.GroupOp{Kind: checker.GroupLeave, Node: node, Call: call, Return: c.w.now, OK: resp.ErrorCode == 0,
					Member: member, Instance: g.instance, Err: errName(resp.ErrorCode)})
				again()
			}, func() {
				g.coord = 0
				g.retry(loop, "group-leave-retry(client)", leave)
			})
		}
		leave(loop)
	})
}
