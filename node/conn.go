package node

import (
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// conn is one client connection. Kafka answers a connection's requests in
// the order they arrived, so each request takes a slot at the tail, fills it
// when its answer is ready (a produce may wait for raft), and flush writes the
// done slots from the head.
type conn struct {
	id     ConnID
	slots  []*slot
	closed bool
	// fetches are this connection's fetches counted in Node.fetches (armed
	// or parked), so a close releases them at once rather than at their
	// MaxWait, which a client may set to weeks.
	fetches []*fetchWait
	// proposals are the ids of proposals made for this connection (some
	// already answered; compacted as it grows), dropped at its close.
	proposals          []uint64
	proposalsCompactAt int
	// heldGroups are the groups (coordinator partition, name) in which a
	// member's JoinGroup or SyncGroup answer waits on this connection: a
	// close lets them go (coordinator.go, releaseHeld).
	heldGroups map[heldRef]bool
}

// encBufKeepBytes is the most encoding buffer the node keeps between
// answers (fill encodes into one; a larger one is let go after its answer).
const encBufKeepBytes = 1 << 20

type slot struct {
	data  []byte
	done  bool
	close bool
	// fix, if set, adjusts the response before it is encoded (see
	// dispatch: answers decided from the whole request, such as Kafka's
	// for duplicate names, whatever the handler does).
	fix func(kmsg.Response)
}

// HandleFrame takes one request frame (without its size prefix) from a
// connection. The answer, if any, comes out of a later Process. The node
// takes frame over (the parsed request aliases it): the caller must not
// modify or reuse it afterwards.
func (n *Node) HandleFrame(c ConnID, frame []byte) {
	defer n.stopOnReadFailure()
	cn := n.conns[c]
	if cn == nil {
		cn = &conn{id: c}
		n.conns[c] = cn
	}
	if cn.closed {
		return
	}
	if len(cn.slots) >= connSlotsMax {
		n.closeConn(cn, "too many requests in flight")
		return
	}
	req, err := wire.ParseRequestOwned(frame, servedVersions)
	if err != nil {
		var uv *wire.UnsupportedVersionError
		if errors.As(err, &uv) && req.Header.Key == int16(kmsg.ApiVersions) {
			// Kafka answers an ApiVersions it cannot parse with a v0
			// response carrying UNSUPPORTED_VERSION and the versions it
			// does serve, so the client can pick one.
			resp := apiVersionsResponse(0)
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			n.reply(cn, req.Header.CorrelationID, resp)
			return
		}
		n.logger.Debug("bad request", "conn", c, "err", err)
		n.closeConn(cn, err.Error())
		return
	}
	n.dispatch(cn, req)
}

// CloseConn forgets a connection and releases what it held: its answers
// still in flight are dropped and its waiting fetches end (their barriers
// and parking places are dropped as they are next visited). A produce it
// sent may still commit; only its answer is dropped.
func (n *Node) CloseConn(c ConnID) {
	if cn := n.conns[c]; cn != nil {
		cn.closed = true
		cn.slots = nil
		n.releaseConn(cn)
		delete(n.conns, c)
		delete(n.dirty, c)
	}
}

// releaseConn ends a closed connection's waiting fetches and forgets the
// answers its proposals wait for. Not from inside a handler or callback
// (loops over pending proposals would see them vanish): from CloseConn, or
// from flush when the node closes the connection itself.
func (n *Node) releaseConn(cn *conn) {
	var swept []uint64
	for _, fw := range cn.fetches {
		fw.done = true
		fw.connIndex = -1
		n.fetches--
		if fw.parked {
			swept = append(swept, fw.distinct...)
		}
	}
	cn.fetches = nil
	// The parking places and deadlines of its fetches let go of them now,
	// not when something next visits them.
	slices.Sort(swept)
	for _, id := range slices.Compact(swept) {
		if g := n.groups[id]; g != nil {
			sweepParked(g)
		}
	}
	if len(n.fetchTimers) > 2*n.fetches+timersSlackMin {
		n.fetchTimers.keep(func(t *timer) bool { return !t.fw.done })
	}
	n.dropPending(cn)
	n.releaseHeld(cn)
}

// ConnHeld is what the node holds for a connection: requests not yet
// answered or not yet handed to the caller, and its fetches waiting. For
// tests and operators.
func (n *Node) ConnHeld(c ConnID) (slots, fetches int) {
	if cn := n.conns[c]; cn != nil {
		return len(cn.slots), len(cn.fetches)
	}
	return 0, 0
}

// trackFetch remembers a waiting fetch on its connection; untrackFetch
// forgets it when it is answered.
func (n *Node) trackFetch(fw *fetchWait) {
	fw.connIndex = len(fw.cn.fetches)
	fw.cn.fetches = append(fw.cn.fetches, fw)
	// Strictly more than the grace past the deadline (expireFetches).
	n.scheduleFetch(fw, fw.deadline.Add(fetchBarrierGrace+1), true)
}

func (n *Node) untrackFetch(fw *fetchWait) {
	cn, i := fw.cn, fw.connIndex
	if i < 0 || i >= len(cn.fetches) || cn.fetches[i] != fw {
		return
	}
	last := len(cn.fetches) - 1
	cn.fetches[i] = cn.fetches[last]
	cn.fetches[i].connIndex = i
	cn.fetches[last] = nil
	cn.fetches = cn.fetches[:last]
	fw.connIndex = -1
}

// closeConn answers nothing more on the connection and asks the caller to
// close it once what is already answered has been written.
func (n *Node) closeConn(cn *conn, why string) {
	if cn.closed {
		return // already closing, or gone
	}
	n.logger.Debug("closing connection", "conn", cn.id, "why", why)
	// Answers already complete are still written; those still waiting are
	// dropped, as the client will see the connection close instead.
	k := 0
	for k < len(cn.slots) && cn.slots[k].done {
		k++
	}
	cn.slots = append(cn.slots[:k], &slot{done: true, close: true})
	cn.closed = true
	n.dirty[cn.id] = true
}

// newSlot reserves the connection's next answer.
func (n *Node) newSlot(cn *conn) *slot {
	s := &slot{fix: n.slotFix}
	n.slotFix = nil
	cn.slots = append(cn.slots, s)
	return s
}

// answerWhenDone takes the request's slot now and answers resp in it once
// the caller has called done once for itself and once for every wait it
// began with more (a proposal out, an answer to come): the metadata
// handlers' count of what is still outstanding.
func (n *Node) answerWhenDone(cn *conn, corr int32, resp kmsg.Response) (more, done func()) {
	s := n.newSlot(cn)
	outstanding := 1
	more = func() { outstanding++ }
	done = func() {
		outstanding--
		if outstanding == 0 {
			n.fill(cn, s, corr, resp)
		}
	}
	return more, done
}

// fill completes a slot with an encoded response.
func (n *Node) fill(cn *conn, s *slot, corr int32, resp kmsg.Response) {
	if s.done || cn.closed {
		return // the connection is gone or closing: the answer has no reader
	}
	if s.fix != nil {
		s.fix(resp)
		s.fix = nil
	}
	// Encoded into a buffer kept for it, then copied once at its size:
	// growing each answer from nothing costs a copy and an allocation per
	// doubling.
	n.encBuf = wire.AppendResponse(n.encBuf[:0], corr, resp)
	s.data = append(make([]byte, 0, len(n.encBuf)), n.encBuf...)
	if cap(n.encBuf) > encBufKeepBytes {
		n.encBuf = nil
	}
	s.done = true
	n.dirty[cn.id] = true
}

// fillSilent completes a slot that answers nothing on the wire (a produce
// with acks=0): the caller still learns the request is done, so its bound
// on requests in flight counts it, as Kafka reads a connection's next
// request only once the previous one is handled.
func (n *Node) fillSilent(cn *conn, s *slot) {
	if s.done || cn.closed {
		return
	}
	s.data = nil
	s.done = true
	n.dirty[cn.id] = true
}

// reply answers a request at once.
func (n *Node) reply(cn *conn, corr int32, resp kmsg.Response) {
	n.fill(cn, n.newSlot(cn), corr, resp)
}

// flush moves every connection's done slots, from the head, into the output.
func (n *Node) flush() {
	if len(n.dirty) == 0 {
		return
	}
	ids := make([]ConnID, 0, len(n.dirty))
	for id := range n.dirty {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		delete(n.dirty, id)
		cn := n.conns[id]
		if cn == nil {
			continue
		}
		var data []byte
		closing := false
		k, answers := 0, 0
		for k < len(cn.slots) && cn.slots[k].done {
			if k == 0 && (k+1 == len(cn.slots) || !cn.slots[k+1].done) {
				data = cn.slots[k].data // the common case: one answer, no copy
			} else {
				data = append(data, cn.slots[k].data...)
			}
			if cn.slots[k].close {
				closing = true
			} else {
				answers++
			}
			k++
		}
		if k == 0 {
			continue
		}
		// A slot may outlive its place here (a finished fetch still points
		// at it from a barrier list until that list is next compacted): it
		// must not keep the answer's bytes alive once they are handed out.
		for _, s := range cn.slots[:k] {
			s.data = nil
		}
		clear(cn.slots[:k])
		cn.slots = cn.slots[k:]
		n.out.Responses = append(n.out.Responses, Response{Conn: id, Data: data, Close: closing, Answers: answers})
		if closing {
			n.releaseConn(cn)
			delete(n.conns, id)
		}
	}
}

func (n *Node) dispatch(cn *conn, req wire.Request) {
	corr := req.Header.CorrelationID
	n.handling = cn
	n.handlingClient = ""
	if req.Header.ClientID != nil {
		n.handlingClient = *req.Header.ClientID
	}
	defer func() { n.handling, n.slotFix = nil, nil }()
	if lo, ok := req.Body.(*kmsg.ListOffsetsRequest); ok {
		n.slotFix = listOffsetsDuplicates(lo)
	}
	switch body := req.Body.(type) {
	case *kmsg.ApiVersionsRequest:
		n.reply(cn, corr, handleApiVersions(body))
	case *kmsg.MetadataRequest:
		n.reply(cn, corr, n.handleMetadata(body))
	case *kmsg.ProduceRequest:
		n.handleProduce(cn, corr, body)
	case *kmsg.FetchRequest:
		n.handleFetch(cn, corr, body)
	case *kmsg.ListOffsetsRequest:
		n.handleListOffsets(cn, corr, body)
	case *kmsg.OffsetForLeaderEpochRequest:
		n.handleOffsetForLeaderEpoch(cn, corr, body)
	case *kmsg.CreateTopicsRequest:
		n.handleCreateTopics(cn, corr, body)
	case *kmsg.DeleteTopicsRequest:
		n.handleDeleteTopics(cn, corr, body)
	case *kmsg.DescribeConfigsRequest:
		n.handleDescribeConfigs(cn, corr, body)
	case *kmsg.AlterConfigsRequest:
		n.handleAlterConfigs(cn, corr, body)
	case *kmsg.IncrementalAlterConfigsRequest:
		n.handleIncrementalAlterConfigs(cn, corr, body)
	case *kmsg.CreatePartitionsRequest:
		n.handleCreatePartitions(cn, corr, body)
	case *kmsg.DeleteRecordsRequest:
		n.handleDeleteRecords(cn, corr, body)
	case *kmsg.InitProducerIDRequest:
		n.handleInitProducerID(cn, corr, body)
	case *kmsg.FindCoordinatorRequest:
		n.reply(cn, corr, n.handleFindCoordinator(body))
	case *kmsg.JoinGroupRequest:
		n.handleJoinGroup(cn, corr, body)
	case *kmsg.SyncGroupRequest:
		n.handleSyncGroup(cn, corr, body)
	case *kmsg.HeartbeatRequest:
		n.reply(cn, corr, n.handleHeartbeat(body))
	case *kmsg.LeaveGroupRequest:
		n.handleLeaveGroup(cn, corr, body)
	case *kmsg.OffsetCommitRequest:
		n.handleOffsetCommit(cn, corr, body)
	case *kmsg.OffsetFetchRequest:
		n.handleOffsetFetch(cn, corr, body)
	case *kmsg.DescribeGroupsRequest:
		n.reply(cn, corr, n.handleDescribeGroups(body))
	case *kmsg.ListGroupsRequest:
		n.reply(cn, corr, n.handleListGroups(body))
	case *kmsg.DeleteGroupsRequest:
		n.handleDeleteGroups(cn, corr, body)
	case *kmsg.OffsetDeleteRequest:
		n.handleOffsetDelete(cn, corr, body)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		n.handleConsumerGroupHeartbeat(cn, corr, body)
	case *kmsg.ConsumerGroupDescribeRequest:
		n.reply(cn, corr, n.handleConsumerGroupDescribe(body))
	default:
		// servedVersions and this switch disagree: a bug, not bad input.
		panic("node: served API without a handler: " + kmsg.NameForKey(req.Header.Key))
	}
}
