package node

// JoinGroup (key 11), v0–v9, the classic protocol's join phase
// (classic.go). From v4 a member without an id is given one and answered
// MEMBER_ID_REQUIRED, and must join again with it (KIP-394); a static
// member (group.instance.id, v5+, KIP-345) keeps its place across restarts:
// rejoining with a new member id replaces the old one (which is fenced,
// FENCED_INSTANCE_ID) without a rebalance when nothing it subscribes to
// changed. The answer waits for the join phase to end and for the new
// generation to be written; the leader's carries every member's metadata.
// v0 has no rebalance timeout: the session timeout serves as both.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleJoinGroup(cn *conn, corr int32, req *kmsg.JoinGroupRequest) {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	resp.MemberID = req.MemberID
	s := n.newSlot(cn)
	fail := func(code int16) {
		resp.ErrorCode = code
		n.fill(cn, s, corr, resp)
	}
	g, cs, code := n.groupCoordinator(req.Group)
	if code != 0 {
		fail(code)
		return
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 || rebalance <= 0 {
		rebalance = session
	}
	if session < n.cfg.GroupMinSessionTimeout || session > n.cfg.GroupMaxSessionTimeout {
		fail(kerr.InvalidSessionTimeout.Code)
		return
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	protocols := make([]memberProtocol, 0, len(req.Protocols))
	for _, p := range req.Protocols {
		protocols = append(protocols, memberProtocol{name: p.Name, metadata: append([]byte(nil), p.Metadata...)})
	}
	if protocolsBytes(protocols) > memberMetadataBytesMax {
		fail(kerr.InvalidRequest.Code)
		return
	}
	if cs.isConsumerGroup(req.Group) {
		// A KIP-848 group with members is not joined by the classic
		// protocol (consumer_group_heartbeat.go).
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	lg := cs.live[req.Group]
	if lg == nil {
		if req.MemberID != "" {
			fail(kerr.UnknownMemberID.Code)
			return
		}
		if len(cs.live) >= groupsPerPartitionMax {
			fail(kerr.CoordinatorNotAvailable.Code)
			return
		}
		lg = n.newLiveGroup(cs, req.Group)
		lg.part = g.id
		cs.live[req.Group] = lg
	}
	if recs := cs.consumerGroupTombstones(req.Group); recs != nil && !lg.writing {
		// An empty KIP-848 group of that name becomes a classic one, as
		// Kafka converts it: its records are tombstoned first (the guard
		// refuses them if a member joined meanwhile).
		n.groupWriteRecords(g, lg, groupGuard{kind: guardNoMembers, group: req.Group}, recs, func(int16) {})
	}
	j := &joinReq{
		req: req, cn: cn, s: s, corr: corr, resp: resp,
		session: session, rebalance: rebalance, protocols: protocols,
		clientID: n.handlingClient,
	}
	if !lg.whenIdle(func() { n.join(g, lg, j) }) {
		fail(kerr.CoordinatorNotAvailable.Code)
	}
}

type joinReq struct {
	req                *kmsg.JoinGroupRequest
	cn                 *conn
	s                  *slot
	corr               int32
	resp               *kmsg.JoinGroupResponse
	session, rebalance time.Duration
	protocols          []memberProtocol
	clientID           string
}

func (j *joinReq) fail(n *Node, code int16) {
	j.resp.ErrorCode = code
	n.fill(j.cn, j.s, j.corr, j.resp)
}

// join runs a JoinGroup against the group's state (never during a write).
func (n *Node) join(g *group, lg *liveGroup, j *joinReq) {
	req := j.req
	if held := lg.metadataBytes(req.MemberID); held+protocolsBytes(j.protocols) > groupMetadataBytesMax {
		j.fail(n, kerr.GroupMaxSizeReached.Code)
		return
	}
	if len(lg.members) > 0 {
		if lg.protocolType != req.ProtocolType {
			j.fail(n, kerr.InconsistentGroupProtocol.Code)
			return
		}
		common := false
		for _, p := range j.protocols {
			ok := true
			for _, m := range lg.members {
				ok = ok && (m.id == req.MemberID || m.supports(p.name))
			}
			common = common || ok
		}
		if !common {
			j.fail(n, kerr.InconsistentGroupProtocol.Code)
			return
		}
	}
	if req.MemberID == "" {
		n.joinUnknown(g, lg, j)
		return
	}
	if _, ok := lg.pendingMembers[req.MemberID]; ok {
		delete(lg.pendingMembers, req.MemberID)
		n.addMember(g, lg, j, req.MemberID)
		return
	}
	m := lg.members[req.MemberID]
	if m == nil {
		j.fail(n, kerr.UnknownMemberID.Code)
		return
	}
	if code := lg.checkInstance(req.InstanceID, m.id); code != 0 {
		j.fail(n, code)
		return
	}
	switch lg.state {
	case statePreparingRebalance:
		n.holdJoin(lg, m, j)
		m.protocols = j.protocols
		m.joined = true
		n.maybeCompleteJoin(g, lg)
	case stateCompletingRebalance:
		if sameProtocols(m.protocols, j.protocols) {
			// Its answer was lost: the same again.
			n.holdJoin(lg, m, j)
			m.answerJoin(0)
			return
		}
		m.protocols = j.protocols
		n.holdJoin(lg, m, j)
		n.prepareRebalance(g, lg)
	case stateStable:
		if m.id != lg.leader && sameProtocols(m.protocols, j.protocols) {
			n.holdJoin(lg, m, j)
			m.answerJoin(0)
			return
		}
		m.protocols = j.protocols
		n.holdJoin(lg, m, j)
		n.prepareRebalance(g, lg)
	default:
		j.fail(n, kerr.UnknownMemberID.Code)
	}
	n.scheduleGroup(g, lg)
}

// joinUnknown handles a join without a member id.
func (n *Node) joinUnknown(g *group, lg *liveGroup, j *joinReq) {
	req := j.req
	if len(lg.members)+len(lg.pendingMembers) >= membersPerGroupMax {
		j.fail(n, kerr.GroupMaxSizeReached.Code)
		return
	}
	id := n.newMemberID(j.clientID)
	if req.InstanceID != nil {
		if old, ok := lg.instances[*req.InstanceID]; ok {
			n.replaceStatic(g, lg, lg.members[old], id, j)
			return
		}
		n.addMember(g, lg, j, id)
		return
	}
	if req.Version >= 4 {
		// KIP-394: the member must come back with this id, so that a
		// client whose answer was lost does not leave a ghost member.
		lg.pendingMembers[id] = n.now.Add(j.session)
		j.resp.MemberID = id
		j.fail(n, kerr.MemberIDRequired.Code)
		n.scheduleGroup(g, lg)
		return
	}
	n.addMember(g, lg, j, id)
}

// addMember adds a joining member and starts (or joins) a rebalance.
func (n *Node) addMember(g *group, lg *liveGroup, j *joinReq, id string) {
	m := &liveMember{
		id:               id,
		instanceID:       j.req.InstanceID,
		clientID:         j.clientID,
		clientHost:       "/",
		sessionTimeout:   j.session,
		rebalanceTimeout: j.rebalance,
		protocolType:     j.req.ProtocolType,
		protocols:        j.protocols,
		expires:          n.now.Add(j.session),
		joined:           true,
	}
	if len(lg.members) == 0 {
		lg.protocolType = j.req.ProtocolType
	}
	lg.members[id] = m
	if m.instanceID != nil {
		lg.instances[*m.instanceID] = id
	}
	n.holdJoin(lg, m, j)
	if lg.state == statePreparingRebalance {
		if !lg.initialDelayUntil.IsZero() && n.now.Before(lg.initialDelayUntil) {
			// A newcomer during the initial delay extends it, within
			// the rebalance timeout.
			lg.initialDelayUntil = minTime(n.now.Add(n.cfg.GroupInitialRebalanceDelay), lg.joinDeadline)
		}
		lg.joinDeadline = maxTime(lg.joinDeadline, n.now.Add(j.rebalance))
		n.maybeCompleteJoin(g, lg)
	} else {
		n.prepareRebalance(g, lg)
	}
	n.scheduleGroup(g, lg)
}

// replaceStatic gives a static member's place to its new member id: the old
// id is fenced. In a stable group with unchanged subscriptions the new id is
// written into the current generation and nothing rebalances (unless the
// member leads and cannot be told to skip the assignment: before v9, as
// Kafka, it rebalances).
func (n *Node) replaceStatic(g *group, lg *liveGroup, old *liveMember, id string, j *joinReq) {
	old.answerJoin(kerr.FencedInstanceID.Code)
	old.answerSync(kerr.FencedInstanceID.Code)
	delete(lg.members, old.id)
	m := *old
	m.id, m.join, m.sync = id, nil, nil
	m.clientID, m.sessionTimeout, m.rebalanceTimeout = j.clientID, j.session, j.rebalance
	m.expires = n.now.Add(j.session)
	unchanged := sameProtocols(old.protocols, j.protocols)
	m.protocols = j.protocols
	lg.members[id] = &m
	lg.instances[*m.instanceID] = id
	wasLeader := lg.leader == old.id
	if wasLeader {
		lg.leader = id
	}
	if lg.state == stateStable && unchanged && (!wasLeader || j.req.Version >= 9) {
		n.holdJoin(lg, &m, j)
		v := lg.metadataValue(lg.generation, lg.protocol, lg.leader, n.now, true)
		n.groupWrite(g, lg, groupGuard{kind: guardGeneration, group: lg.name, gen: lg.generation}, v, func(code int16) {
			if code != 0 {
				m.answerJoin(code)
				return
			}
			j.resp.SkipAssignment = wasLeader
			m.answerJoin(0)
		})
		return
	}
	m.joined = true
	n.holdJoin(lg, &m, j)
	if lg.state == statePreparingRebalance {
		n.maybeCompleteJoin(g, lg)
	} else {
		n.prepareRebalance(g, lg)
	}
	n.scheduleGroup(g, lg)
}

// holdJoin parks a member's JoinGroup answer until the join phase ends.
func (n *Node) holdJoin(lg *liveGroup, m *liveMember, j *joinReq) {
	if m.join != nil {
		m.answerJoin(kerr.RebalanceInProgress.Code) // superseded by this one
	}
	j.cn.noteHeld(lg)
	m.join = &heldAnswer{cn: j.cn, s: j.s, corr: j.corr, answer: func(code int16) {
		resp := j.resp
		resp.ErrorCode = code
		resp.MemberID = m.id
		if code == 0 {
			resp.Generation = lg.generation
			pt, p := lg.protocolType, lg.protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
			resp.LeaderID = lg.leader
			if m.id == lg.leader && !resp.SkipAssignment {
				for _, o := range lg.sortedMembers() {
					rm := kmsg.NewJoinGroupResponseMember()
					rm.MemberID = o.id
					rm.InstanceID = o.instanceID
					rm.ProtocolMetadata = o.metadataFor(p)
					resp.Members = append(resp.Members, rm)
				}
			}
			m.expires = n.now.Add(m.sessionTimeout)
		}
		n.fill(j.cn, j.s, j.corr, resp)
	}}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func protocolsBytes(ps []memberProtocol) int {
	size := 0
	for _, p := range ps {
		size += len(p.name) + len(p.metadata)
	}
	return size
}

// metadataBytes is what the group's members but one hold in protocols'
// metadata and assignments.
func (lg *liveGroup) metadataBytes(except string) int {
	size := 0
	for id, m := range lg.members {
		if id != except {
			size += protocolsBytes(m.protocols) + len(m.assignment)
		}
	}
	return size
}
