package node

// Produce (key 0), v3–v13: record batch v2 only, acks 0, 1 and -1. From
// v13 a topic is given by its ID (KIP-516), so a broker whose metadata is
// behind a topic's deletion and re-creation cannot append to the old log
// what was meant for the new topic: an ID it does not know is answered
// UNKNOWN_TOPIC_ID. v11 and v12 change only transactional produce (KIP-890),
// which ketch refuses at every version.
//
// Each partition's batch is validated (CRC, lengths, size against the
// topic's max.message.bytes and segment.bytes: MESSAGE_TOO_LARGE,
// RECORD_LIST_TOO_LARGE) on the leader; a LogAppendTime topic's batch gets
// the leader's time stamped on it (the answer's LogAppendTime); then it is
// proposed to the partition's raft group as one entry; the offset is assigned when the entry applies, the same
// on every replica (safety rule 3). acks=-1 and acks=1 both answer after the
// entry committed and applied: ketch never acknowledges a write a failover
// could lose. acks=0 gets no response at all. Followers, and a leader that
// has not yet committed an entry of its own term, answer
// NOT_LEADER_OR_FOLLOWER. Losing leadership or the request's timeout answers
// NOT_LEADER_OR_FOLLOWER / REQUEST_TIMED_OUT: the outcome is unknown, and an
// idempotent retry is answered with the original offsets. Transactions are not
// supported: transactional batches are refused. From v10 a
// NOT_LEADER_OR_FOLLOWER answer carries the current leader and its endpoint
// (KIP-951), so the client need not ask Metadata first. With acks=0 there is
// no answer to carry an error, so, as Kafka does, an error closes the
// connection, which makes the client refresh its metadata. An acks=0 produce
// still holds its place in the connection's order until its batches are
// handled, so a flood of them is slowed, not dropped. A partition named twice
// is answered once (the last mention's records). acks=-1 with a timeout of 0 or
// less answers REQUEST_TIMED_OUT once proposed, as Kafka's delayed produce
// expires at once.

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/ketch-dev/ketch/wire"
)

// produceTimeoutDefault is the deadline of an acks=0 or acks=1 produce whose
// timeout is 0 or less: Kafka ignores the timeout for them (it answers after
// the leader's append), but ketch waits for the commit, which needs a bound.
const produceTimeoutDefault = 30 * time.Second

func (n *Node) handleProduce(cn *conn, corr int32, req *kmsg.ProduceRequest) {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	// A partition named twice is answered once, with the records of its
	// last mention, as Kafka does (it keys the request's partitions in a
	// map): a request naming one partition a million times costs one
	// partition's work and answer.
	type work struct {
		topic string
		id    [16]byte // v13+: the ID asked for (topic is "" if unknown here)
		rp    *kmsg.ProduceRequestTopicPartition
		ti    int
	}
	byID := req.Version >= 13
	if byID {
		for i := range req.Topics {
			rt := &req.Topics[i]
			rt.Topic = ""
			if t := n.topicByID(rt.TopicID); t != nil {
				rt.Topic = t.name
			}
		}
	}
	// A topic is its name, or from v13 its ID (two unknown IDs are two topics).
	topicKey := func(rt *kmsg.ProduceRequestTopic) string {
		if byID {
			return string(rt.TopicID[:])
		}
		return rt.Topic
	}
	var todoBuf [1]work // the usual request names one partition: no allocation
	todo := todoBuf[:0]
	if dedupe := len(req.Topics) > 1 || len(req.Topics) == 1 && len(req.Topics[0].Partitions) > 1; !dedupe {
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				todo = append(todo, work{req.Topics[i].Topic, req.Topics[i].TopicID, &req.Topics[i].Partitions[j], 0})
			}
		}
	} else {
		type tp struct {
			topic string
			part  int32
		}
		last := map[tp]int{} // index into todo
		topicIndex := map[string]int{}
		for i := range req.Topics {
			rt := &req.Topics[i]
			for j := range rt.Partitions {
				k := tp{topicKey(rt), rt.Partitions[j].Partition}
				if w, ok := last[k]; ok {
					todo[w].rp = &rt.Partitions[j]
					continue
				}
				ti, ok := topicIndex[topicKey(rt)]
				if !ok {
					ti = len(topicIndex)
					topicIndex[topicKey(rt)] = ti
				}
				last[k] = len(todo)
				todo = append(todo, work{rt.Topic, rt.TopicID, &rt.Partitions[j], ti})
			}
		}
	}
	type place struct{ ti, pj int }
	var placesBuf [1]place
	places := placesBuf[:0]
	if len(todo) > len(placesBuf) {
		places = make([]place, 0, len(todo))
	}
	places = places[:len(todo)]
	for k, w := range todo {
		if w.ti == len(resp.Topics) {
			t := kmsg.NewProduceResponseTopic()
			t.Topic, t.TopicID = w.topic, w.id // v13+ answers by the ID asked for
			resp.Topics = append(resp.Topics, t)
		}
		t := &resp.Topics[w.ti]
		p := kmsg.NewProduceResponseTopicPartition()
		p.Partition = w.rp.Partition
		p.BaseOffset = -1
		p.LogAppendTime = -1
		p.LogStartOffset = -1
		p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = -1, -1
		places[k] = place{w.ti, len(t.Partitions)}
		t.Partitions = append(t.Partitions, p)
	}
	// acks=0 takes a slot too, answered silently once its batches are
	// handled, so that the caller's bound on requests in flight pushes back
	// on a fire-and-forget flood as Kafka's one-request-at-a-time does.
	s := n.newSlot(cn)
	// outstanding counts partitions still waiting, plus one for this loop,
	// because a refused proposal fails synchronously.
	outstanding := 1
	finish := func() {
		outstanding--
		if outstanding != 0 {
			return
		}
		if req.Acks != 0 {
			n.fill(cn, s, corr, resp)
			return
		}
		// With acks=0 there is no answer to carry an error, so, as Kafka
		// does, an error closes the connection, which makes the client
		// refresh its metadata.
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					n.closeConn(cn, "acks=0 produce failed")
					return
				}
			}
		}
		n.fillSilent(cn, s)
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	// acks=-1 with a timeout of 0 or less: Kafka appends the batch, and its
	// delayed produce expires at once, answering REQUEST_TIMED_OUT (the
	// batch may still commit). For acks 0 and 1 Kafka ignores the timeout.
	expireAtOnce := req.Acks == -1 && timeout <= 0
	if timeout <= 0 && !expireAtOnce {
		timeout = produceTimeoutDefault
	}
	deadline := n.now.Add(timeout)
	reqCode := n.checkProduceRequest(req)
	for k, w := range todo {
		rp := w.rp
		out := &resp.Topics[places[k].ti].Partitions[places[k].pj]
		if reqCode != 0 {
			out.ErrorCode = reqCode
			continue
		}
		if byID && w.topic == "" {
			out.ErrorCode = kerr.UnknownTopicID.Code // as Kafka answers an ID it does not know
			continue
		}
		if isInternalTopic(w.topic) {
			// Only the group coordinator writes there (Kafka: "Cannot
			// append to internal topic").
			out.ErrorCode = kerr.InvalidTopicException.Code
			continue
		}
		g, part, code := n.leaderFor(w.topic, rp.Partition)
		if code != 0 {
			out.ErrorCode = code
			continue
		}
		topic := n.meta.topics[w.topic]
		logAppendTime := n.topicString(topic, "message.timestamp.type") == "LogAppendTime"
		// The topic's max.message.bytes (else the broker's
		// message.max.bytes) bounds the batch as stored, as Kafka's
		// UnifiedLog checks the batch's sizeInBytes.
		h, records, err := n.validateProduce(rp.Records, req.Version, int(n.topicInt(topic, "max.message.bytes")), !logAppendTime, n.compacted(topic))
		if err != nil {
			answerBatchError(out, err)
			continue
		}
		if h.Transactional() || h.Control() {
			out.ErrorCode = kerr.InvalidRecord.Code
			msg := "transactional and control batches are not supported"
			out.ErrorMessage = &msg
			continue
		}
		if code := part.checkProduce(h); code != 0 {
			out.ErrorCode = code
			continue
		}
		if codec, ok := wire.CodecNamed(n.topicString(topic, "compression.type")); ok && codec != h.Codec() {
			// The topic's codec, not the producer's: the leader rebuilds
			// the batch before proposing (Kafka's LogValidator), and the
			// result is held to max.message.bytes again.
			maxBytes := int(n.topicInt(topic, "max.message.bytes"))
			rebuilt, err := wire.Recompress(records, codec, wire.DecodedBytesMax(maxBytes))
			if err == nil && len(rebuilt) > maxBytes {
				err = &wire.BatchError{Code: kerr.MessageTooLarge.Code, Msg: fmt.Sprintf(
					"The batch is %d bytes after compression to %s, more than max.message.bytes %d", len(rebuilt), n.topicString(topic, "compression.type"), maxBytes)}
			}
			if err != nil {
				answerBatchError(out, err)
				continue
			}
			records = rebuilt
		}
		if seg := n.topicInt(topic, "segment.bytes"); int64(len(records)) > seg {
			// A batch never spans segments (UnifiedLog.append).
			out.ErrorCode = kerr.RecordListTooLarge.Code
			msg := fmt.Sprintf("Message batch size is %d bytes in append to partition %s-%d which exceeds the maximum configured segment size of %d.",
				len(records), w.topic, rp.Partition, seg)
			out.ErrorMessage = &msg
			continue
		}
		if logAppendTime && n.cfg.Bug != BugAppendTimeAtApply {
			// The leader's clock, stamped before proposing, so every
			// replica stores (and serves) the same bytes.
			records = append([]byte(nil), records...)
			wire.SetLogAppendTime(records, n.now.UnixMilli())
		}
		if n.cfg.Bug == BugEpochNotTerm {
			// Planted: the leader stamps its own epoch before proposing.
			wire.SetPartitionLeaderEpoch(records, int32(n.epochOf(g)))
		}
		if n.cfg.Bug == BugOffsetBeforePropose {
			// Planted bug: the leader assigns the offsets from its own
			// counter and stamps them on the batch it proposes.
			records = append([]byte(nil), records...)
			wire.SetBaseOffset(records, g.bugStampNext)
			g.bugStampNext += int64(h.LastOffsetDelta) + 1
		}
		if n.cfg.Bug == BugProducerStateLeaderOnly && n.leaderOnlyDedupe(g, h, out) {
			continue
		}
		if n.cfg.Bug == BugAckBeforeCommit {
			// Planted bug: acknowledge on propose, guessing the offset.
			out.BaseOffset = part.next
			n.propose(g, cmdProduce, records, deadline, func(any) {}, func(int16) {})
			continue
		}
		if expireAtOnce {
			refused := int16(0)
			n.propose(g, cmdProduce, records, deadline, func(any) {}, func(code int16) { refused = code })
			out.ErrorCode = kerr.RequestTimedOut.Code
			if refused != 0 {
				out.ErrorCode = refused // not appended at all
			}
			continue
		}
		outstanding++
		reqBefore := n.nextReqID
		n.propose(g, cmdProduce, records, deadline,
			func(res any) {
				r := res.(produceResult)
				out.ErrorCode = r.code
				out.BaseOffset = r.base
				out.LogStartOffset = part.logStart
				if logAppendTime && r.code == 0 {
					// The stored batch's time (a retry's is the original's).
					if loc, ok, err := part.idx.find(r.base); err != nil {
						n.stop(err)
					} else if ok {
						out.LogAppendTime = loc.maxTS
					}
				}
				if n.cfg.Bug == BugProducerStateLeaderOnly && r.code == 0 {
					n.leaderOnlyRecord(g, h, r.base)
				}
				finish()
			},
			func(code int16) {
				out.ErrorCode = code
				finish()
			})
		if n.cfg.Bug == BugQuorumOfLive && req.Acks == -1 && n.nextReqID != reqBefore && g.pending[n.nextReqID] {
			g.bugEarly = append(g.bugEarly, earlyAck{reqID: n.nextReqID})
		}
	}
	if req.Version >= 10 {
		n.addLeaderHints(resp)
	}
	finish()
}

// addLeaderHints fills CurrentLeader and the leaders' endpoints for the
// partitions answered NOT_LEADER_OR_FOLLOWER up front.
func (n *Node) addLeaderHints(resp *kmsg.ProduceResponse) {
	var hints leaderHints
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if p.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = hints.add(n, t.Topic, p.Partition)
		}
	}
	for _, b := range hints.brokers {
		rb := kmsg.NewProduceResponseBroker()
		rb.NodeID, rb.Host, rb.Port = b.NodeID, b.Host, b.Port
		resp.Brokers = append(resp.Brokers, rb)
	}
}

// leaderHints gathers KIP-951's hints for one answer: the leader this node
// believes a partition has, and that leader's endpoint, once per leader.
type leaderHints struct {
	brokers []kmsg.MetadataResponseBroker
	all     []kmsg.MetadataResponseBroker // n.brokers(), read once
}

// add returns the leader and epoch to name for a partition (-1, -1 if this
// node knows none) and notes the leader's endpoint.
func (h *leaderHints) add(n *Node, topic string, partition int32) (int32, int32) {
	leader, epoch := n.knownLeader(topic, partition)
	if leader <= 0 {
		return -1, -1
	}
	if slices.ContainsFunc(h.brokers, func(b kmsg.MetadataResponseBroker) bool { return b.NodeID == leader }) {
		return leader, epoch
	}
	if h.all == nil {
		h.all = n.brokers()
	}
	if i := slices.IndexFunc(h.all, func(b kmsg.MetadataResponseBroker) bool { return b.NodeID == leader }); i >= 0 {
		h.brokers = append(h.brokers, h.all[i])
	}
	return leader, epoch
}

// knownLeader is who this node believes leads a partition, and in which
// epoch: its own raft view if it is a replica, else the last report.
func (n *Node) knownLeader(topic string, partition int32) (int32, int32) {
	t := n.meta.topics[topic]
	if t == nil || partition < 0 || int(partition) >= len(t.partitions) {
		return -1, -1
	}
	group := t.partitions[partition].group
	if g, ok := n.groups[group]; ok {
		if g.lead == 0 {
			return -1, -1
		}
		return int32(g.lead), int32(n.epochOf(g))
	}
	if li, ok := n.meta.leaders[group]; ok {
		return int32(li.leader), int32(li.term)
	}
	return -1, -1
}

func (n *Node) checkProduceRequest(req *kmsg.ProduceRequest) int16 {
	if req.TransactionID != nil {
		return kerr.TransactionalIDAuthorizationFailed.Code
	}
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		return kerr.InvalidRequiredAcks.Code
	}
	return 0
}

// leaderFor finds the partition's group if this node may serve it.
func (n *Node) leaderFor(topic string, partition int32) (*group, *partState, int16) {
	t := n.meta.topics[topic]
	if t == nil || partition < 0 || int(partition) >= len(t.partitions) {
		return nil, nil, kerr.UnknownTopicOrPartition.Code
	}
	g := n.groups[t.partitions[partition].group]
	if g == nil || !g.serving() {
		return nil, nil, kerr.NotLeaderForPartition.Code
	}
	return g, g.part, 0
}

func batchErrorCode(err error) int16 {
	if be, ok := err.(*wire.BatchError); ok {
		return be.Code
	}
	return kerr.CorruptMessage.Code
}

// leaderOnlyDedupe is BugProducerStateLeaderOnly's check of an idempotent
// batch against the sequence table in this node's memory: a batch it has
// answered before gets the same answer, a stale epoch is fenced, anything
// else is proposed. It reports whether the batch was answered.
func (n *Node) leaderOnlyDedupe(g *group, h wire.BatchHeader, out *kmsg.ProduceResponseTopicPartition) bool {
	if h.ProducerID < 0 {
		return false
	}
	ps := n.bugProducers[g.id][h.ProducerID]
	switch {
	case ps == nil || h.ProducerEpoch > ps.epoch:
		return false
	case h.ProducerEpoch < ps.epoch:
		out.ErrorCode = kerr.InvalidProducerEpoch.Code
		return true
	}
	lastSeq := seqAdd(h.BaseSequence, h.LastOffsetDelta)
	for _, b := range ps.batches {
		if b.firstSeq == h.BaseSequence && b.lastSeq == lastSeq {
			out.BaseOffset = b.base
			return true
		}
	}
	return false
}

// leaderOnlyRecord notes an answered idempotent batch in
// BugProducerStateLeaderOnly's in-memory table (after propose, never
// applied: a follower, or this node after a restart, knows nothing of it).
func (n *Node) leaderOnlyRecord(g *group, h wire.BatchHeader, base int64) {
	if h.ProducerID < 0 {
		return
	}
	if n.bugProducers == nil {
		n.bugProducers = map[uint64]map[int64]*producerState{}
	}
	tab := n.bugProducers[g.id]
	if tab == nil {
		tab = map[int64]*producerState{}
		n.bugProducers[g.id] = tab
	}
	ps := tab[h.ProducerID]
	if ps == nil || h.ProducerEpoch > ps.epoch {
		ps = &producerState{epoch: h.ProducerEpoch}
		tab[h.ProducerID] = ps
	}
	ps.batches = append(ps.batches, producerBatch{firstSeq: h.BaseSequence, lastSeq: seqAdd(h.BaseSequence, h.LastOffsetDelta), base: base})
	if len(ps.batches) > producerBatchesKept {
		ps.batches = append(ps.batches[:0], ps.batches[1:]...)
	}
}

// earlyAck is an acks=-1 produce BugQuorumOfLive may answer before its entry
// commits.
type earlyAck struct {
	reqID uint64
	index uint64 // the raft index of its entry; 0 until seen in a Ready
}

// noteEarlyIndexes learns the raft index of this node's early-ack proposals
// from the entries a Ready appends.
func (g *group) noteEarlyIndexes(ents []*raftpb.Entry, self, incarnation uint64) {
	for _, e := range ents {
		if len(e.GetData()) == 0 {
			continue
		}
		h, _, err := parseEntryHeader(e.GetData())
		if err != nil || h.proposer != self || h.incarnation != incarnation {
			continue
		}
		for i := range g.bugEarly {
			if g.bugEarly[i].reqID == h.reqID {
				g.bugEarly[i].index = e.GetIndex()
			}
		}
	}
}

// ackLiveQuorum is BugQuorumOfLive (Jepsen Kafka 0.8; KIP-966): acks=-1 is
// satisfied once every follower raft counts as recently active holds the
// entry, not a quorum. Followers that stopped answering drop out of the set,
// as a Kafka ISR shrinks; right after each check-quorum round raft marks
// every follower inactive until it answers again, and a leader cut off from
// its peers goes on for up to an election timeout with none active: its
// writes are acknowledged by the leader alone. The answer carries the
// offsets the entry gets on this leader's log: the entries above the applied
// index applied, in order, to a copy of the partition's state.
func (n *Node) ackLiveQuorum(g *group) {
	keep := g.bugEarly[:0]
	for _, ea := range g.bugEarly {
		if g.pending[ea.reqID] && g.leader {
			keep = append(keep, ea)
		}
	}
	g.bugEarly = keep
	if len(keep) == 0 || keep[0].index == 0 {
		return
	}
	st := g.rn.Status()
	last := uint64(0)
	for _, ea := range keep {
		if ea.index == 0 {
			break
		}
		ok := true
		for _, v := range g.voters {
			if pr, found := st.Progress[v]; found && v != n.cfg.ID && pr.RecentActive && pr.Match < ea.index {
				ok = false
			}
		}
		if !ok {
			break
		}
		last = ea.index
	}
	if last == 0 {
		return
	}
	ents, err := g.st.Entries(g.applied+1, last+1, math.MaxUint64)
	if err != nil {
		return // compacted or not yet in storage: wait for commit as usual
	}
	spec := g.part.speculate()
	results := map[uint64]any{}
	for _, e := range ents {
		res := any(produceResult{base: spec.next})
		if e.GetType() == raftpb.EntryNormal && len(e.GetData()) > 0 {
			if _, body, err := parseEntryHeader(e.GetData()); err == nil {
				res = spec.applyProduce(e.GetIndex(), e.GetTerm(), body, n.cfg.Bug)
			}
		}
		results[e.GetIndex()] = res
	}
	k := 0
	for ; k < len(g.bugEarly) && g.bugEarly[k].index != 0 && g.bugEarly[k].index <= last; k++ {
		ea := g.bugEarly[k]
		p := n.pending[ea.reqID]
		res, ok := results[ea.index]
		if p == nil || !ok {
			continue
		}
		delete(n.pending, ea.reqID)
		delete(g.pending, ea.reqID)
		p.done(res)
	}
	g.bugEarly = append(g.bugEarly[:0], g.bugEarly[k:]...)
}
