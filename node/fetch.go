package node

// Fetch (key 1), v4–v16, with MaxWaitMs long-poll, MinBytes, MaxBytes and
// per-partition MaxBytes. Up to v12 a topic is named; from v13 (KIP-516) it is
// given by its topic ID, so a broker whose metadata is behind a topic's
// deletion and re-creation cannot serve the old log under the new topic's
// name: an ID it does not know is answered UNKNOWN_TOPIC_ID, and the client
// refreshes its metadata. v14 (tiered storage) and v15 (KIP-903's replica
// state, for brokers' own fetches) change nothing a consumer sends. From v16
// a partition answered NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH names
// the leader this broker knows and its endpoint (KIP-951), as Produce v10
// does, so the client can move there without asking Metadata first.
//
// Fetch is linearizable (safety rule 9): before answering, the leader confirms
// it still leads with a raft ReadIndex barrier and waits until it has applied
// up to the read index, so a deposed leader cannot serve stale data. A fetch
// that must wait for MinBytes is parked; new data on one of its partitions, or
// its deadline, arms a fresh barrier before it is evaluated again, so every
// answer reflects state confirmed at a moment inside the request's lifetime.
// Records are served only below the high watermark (everything applied is
// committed), with the base offset and the leader epoch (the entry's raft term)
// stamped in. Fetch sessions are not offered: a request that creates one gets
// session id 0 (clients then keep sending full requests) and an unknown session
// id gets FETCH_SESSION_ID_NOT_FOUND. read_committed equals read_uncommitted
// because transactions are not supported.

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// fetchBarrierGrace is how long past its deadline a fetch waits for a
// leadership confirmation that does not come (a partitioned leader) before it
// answers NOT_LEADER_OR_FOLLOWER.
const fetchBarrierGrace = 2 * time.Second

// fetchBytesMax caps the record bytes of one fetch answer (Kafka's
// fetch.max.bytes default is 55 MiB).
const fetchBytesMax = 55 << 20

// fetchBufKeepBytes is the most record buffer the node keeps between fetch
// answers (buildFetch reuses one; a larger one is let go after its answer).
const fetchBufKeepBytes = 1 << 20

type fetchWait struct {
	cn       *conn
	s        *slot
	corr     int32
	req      *kmsg.FetchRequest
	deadline time.Time
	codes    [][]int16  // per requested partition: an error decided up front
	groups   [][]uint64 // per requested partition: its group (when no error)
	distinct []uint64   // the groups to confirm, sorted
	anyError bool

	// answer, when set, makes this a one-shot confirmed read (ListOffsets,
	// OffsetForLeaderEpoch; see read.go) riding the same barriers: once
	// every group is confirmed it answers at once and never parks. A failure
	// sets codes first, so answer reports it.
	answer func() kmsg.Response

	gen       uint64 // bumped whenever the fetch is re-armed or parked: older refs are stale
	waiting   int    // barriers outstanding in this generation
	done      bool
	queued    bool // armed, its barriers not issued yet
	parked    bool // waiting for data or its deadline
	timed     bool // its deadline is in Node.fetchTimers
	connIndex int  // in cn.fetches while counted in Node.fetches, else -1
}

type fetchRef struct {
	fw  *fetchWait
	gen uint64
}

func (r fetchRef) live() bool { return !r.fw.done && r.fw.gen == r.gen }

func (n *Node) handleFetch(cn *conn, corr int32, req *kmsg.FetchRequest) {
	s := n.newSlot(cn)
	if req.Version >= 7 && req.SessionID != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		n.fill(cn, s, corr, resp)
		return
	}
	if req.Version >= 13 {
		n.nameFetchTopics(req)
	}
	req.Topics = dedupFetchTopics(req.Topics, req.Version >= 13)
	fw := &fetchWait{cn: cn, s: s, corr: corr, req: req, connIndex: -1,
		deadline: n.now.Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)}
	seen := map[uint64]bool{}
	for _, rt := range req.Topics {
		codes := make([]int16, len(rt.Partitions))
		groups := make([]uint64, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			g, _, code := n.leaderFor(rt.Topic, rp.Partition)
			if req.Version >= 13 && rt.Topic == "" {
				code = kerr.UnknownTopicID.Code // as Kafka answers an ID it does not know
			}
			if code == 0 && req.Version >= 9 {
				code = n.checkEpoch(g, rp.CurrentLeaderEpoch)
			}
			codes[j] = code
			if code != 0 {
				fw.anyError = true
				continue
			}
			groups[j] = g.id
			if !seen[g.id] {
				seen[g.id] = true
				fw.distinct = append(fw.distinct, g.id)
			}
		}
		fw.codes = append(fw.codes, codes)
		fw.groups = append(fw.groups, groups)
	}
	if len(fw.distinct) == 0 {
		n.answerFetch(fw) // nothing to confirm: every partition has an error
		return
	}
	if n.fetches >= n.cfg.FetchWaitsMax {
		if n.cfg.Bug == BugOverloadStaleRead {
			n.answerFetch(fw) // planted bug: too busy to wait, answered from unconfirmed state
			return
		}
		if n.fetches >= 2*n.cfg.FetchWaitsMax {
			// Shed load: nothing is read, so nothing unconfirmed is
			// served. Every client retries NOT_LEADER_OR_FOLLOWER after
			// a metadata refresh (Kafka has no "busy" code for Fetch).
			for i := range fw.codes {
				for j := range fw.codes[i] {
					if fw.codes[i][j] == 0 {
						fw.codes[i][j] = kerr.NotLeaderForPartition.Code
					}
				}
			}
			n.answerFetch(fw)
			return
		}
		// Too busy to park it for MinBytes: it is answered as though its
		// MaxWait were 0, but still only once its barrier completed (safety
		// rule 9 holds under load too). It holds memory for one barrier
		// round trip, not for MaxWait.
		fw.deadline = n.now
	}
	sortU64(fw.distinct)
	n.fetches++
	n.trackFetch(fw)
	if n.cfg.Bug == BugStaleRead {
		fw.waiting = 1
		n.evaluateFetch(fw) // planted bug: no leadership confirmation
		return
	}
	n.armFetch(fw)
}

// epochCheck fences a request sent with CurrentLeaderEpoch epoch by a leader of epoch cur.
func epochCheck(cur uint64, epoch int32) int16 {
	switch {
	case epoch < 0:
		return 0
	case uint64(epoch) < cur:
		return kerr.FencedLeaderEpoch.Code
	case uint64(epoch) > cur:
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}

// armFetch queues a leadership confirmation on every group of the fetch.
func (n *Node) armFetch(fw *fetchWait) {
	fw.gen++
	fw.waiting = len(fw.distinct)
	fw.queued, fw.parked = true, false
	for _, id := range fw.distinct {
		g := n.groups[id]
		if g == nil || !g.leader {
			n.failFetch(fw, kerr.NotLeaderForPartition.Code)
			return
		}
		if len(g.barrierQueue) == 0 {
			n.barrierGroups = append(n.barrierGroups, g)
		}
		g.barrierQueue = append(g.barrierQueue, fw)
	}
}

// issueBarriers turns each group's queued fetches into one ReadIndex request.
func (n *Node) issueBarriers() {
	if len(n.barrierGroups) == 0 {
		return
	}
	// In group order, as every group's queue always was issued.
	gs := n.barrierGroups
	n.barrierGroups = n.barrierSpare[:0]
	defer func() {
		clear(gs)
		n.barrierSpare = gs[:0]
	}()
	slices.SortFunc(gs, func(a, b *group) int { return cmp.Compare(a.id, b.id) })
	for _, g := range gs {
		if n.groups[g.id] != g || len(g.barrierQueue) == 0 {
			continue // removed, or failed since it was queued
		}
		q := g.barrierQueue
		g.barrierQueue = nil
		for _, fw := range q {
			fw.queued = false
		}
		if !g.leader {
			for _, fw := range q {
				n.failFetch(fw, kerr.NotLeaderForPartition.Code)
			}
			continue
		}
		if n.cfg.Bug == BugServeUncommitted && g.readyTerm != g.term {
			// Planted (etcd #7331): a leader that has not yet committed an
			// entry of its term answers the read with its own commit index,
			// which may lag what the previous leader committed and served.
			commit := g.rn.BasicStatus().HardState.GetCommit()
			for _, fw := range q {
				g.readWaits = append(g.readWaits, readWait{index: commit, ref: fetchRef{fw, fw.gen}})
			}
			n.checkReadWaits(g)
			continue
		}
		g.barrierSeq++
		var ctx [8]byte
		binary.BigEndian.PutUint64(ctx[:], g.barrierSeq)
		g.barriers[g.barrierSeq] = q
		g.rn.ReadIndex(ctx[:])
		n.touch(g)
		n.wake(g)
	}
}

// checkReadWaits completes the barriers whose read index has been applied.
func (n *Node) checkReadWaits(g *group) {
	k := 0
	for _, rw := range g.readWaits {
		if !rw.ref.live() {
			continue
		}
		if rw.index > g.applied {
			g.readWaits[k] = rw
			k++
			continue
		}
		rw.ref.fw.waiting--
		if rw.ref.fw.waiting == 0 {
			n.evaluateFetch(rw.ref.fw)
		}
	}
	clear(g.readWaits[k:]) // finished fetches must not stay reachable
	g.readWaits = g.readWaits[:k]
}

// evaluateFetch runs with every group of the fetch just confirmed: answer,
// or park until more data or the deadline.
func (n *Node) evaluateFetch(fw *fetchWait) {
	if fw.answer != nil {
		n.finishFetch(fw, fw.answer())
		return
	}
	if fw.anyError || n.fetchBytesReady(fw) >= int(fw.req.MinBytes) || !n.now.Before(fw.deadline) {
		resp, _ := n.buildFetch(fw)
		n.finishFetch(fw, resp)
		return
	}
	fw.gen++
	fw.parked = true
	if !fw.timed {
		fw.timed = true
		n.scheduleFetch(fw, fw.deadline, false)
	}
	for _, id := range fw.distinct {
		g := n.groups[id]
		if len(g.parked) >= g.parkedCompactAt {
			// Forget the fetches re-armed or answered since they parked
			// here, so an idle partition's list stays as long as what
			// waits on it.
			sweepParked(g)
		}
		g.parked = append(g.parked, fetchRef{fw, fw.gen})
	}
}

// sweepParked drops a group's parked refs that are stale (the fetch was
// re-armed or answered since).
func sweepParked(g *group) {
	k := 0
	for _, ref := range g.parked {
		if ref.live() {
			g.parked[k] = ref
			k++
		}
	}
	clear(g.parked[k:])
	g.parked = g.parked[:k]
	g.parkedCompactAt = 2*k + 64
}

// wakeParked re-arms the fetches parked on a group that just applied data.
func (n *Node) wakeParked(g *group) {
	if len(g.parked) == 0 {
		return
	}
	parked := g.parked
	g.parked = nil
	for _, ref := range parked {
		if ref.live() {
			n.armFetch(ref.fw)
		}
	}
}

// failFetches answers every fetch waiting on a group this node stopped leading.
func (n *Node) failFetches(g *group, code int16) {
	var all []*fetchWait
	for _, fw := range g.barrierQueue {
		all = append(all, fw)
	}
	for _, q := range g.barriers {
		all = append(all, q...)
	}
	for _, rw := range g.readWaits {
		all = append(all, rw.ref.fw)
	}
	for _, ref := range g.parked {
		all = append(all, ref.fw)
	}
	g.barrierQueue, g.readWaits, g.parked = nil, nil, nil
	g.barriers = map[uint64][]*fetchWait{}
	sortFetches(all)
	for _, fw := range all {
		n.failFetch(fw, code)
	}
}

func (n *Node) failFetch(fw *fetchWait, code int16) {
	if fw.done {
		return
	}
	for i := range fw.codes {
		for j := range fw.codes[i] {
			if fw.codes[i][j] == 0 {
				fw.codes[i][j] = code
			}
		}
	}
	if fw.answer != nil {
		n.finishFetch(fw, fw.answer())
		return
	}
	resp, _ := n.buildFetch(fw)
	n.finishFetch(fw, resp)
}

func (n *Node) answerFetch(fw *fetchWait) {
	resp, _ := n.buildFetch(fw)
	fw.done = true
	n.fill(fw.cn, fw.s, fw.corr, resp)
}

func (n *Node) finishFetch(fw *fetchWait, resp kmsg.Response) {
	if fw.done {
		return
	}
	fw.done = true
	n.fetches--
	n.untrackFetch(fw)
	n.fill(fw.cn, fw.s, fw.corr, resp)
}

// nameFetchTopics resolves a v13+ request's topic IDs to the names this
// broker's metadata gives them now; an ID it does not know (or the zero ID)
// is left with no name. The request's topics are then resolved to groups by
// name, once, as for older versions: a topic re-created after this point is
// another ID, so it cannot be what the request meant.
func (n *Node) nameFetchTopics(req *kmsg.FetchRequest) {
	for i := range req.Topics {
		rt := &req.Topics[i]
		rt.Topic = ""
		if t := n.topicByID(rt.TopicID); t != nil {
			rt.Topic = t.name
		}
	}
}

// dedupFetchTopics answers a partition named more than once as Kafka does:
// once, with the fields of its last mention, in the place of its first
// (Kafka keys the request's partitions in a map). A request naming one
// partition a million times then costs one partition's answer. From v13
// (byID) a topic is its ID, so two unknown IDs stay two topics.
func dedupFetchTopics(topics []kmsg.FetchRequestTopic, byID bool) []kmsg.FetchRequestTopic {
	type tp struct {
		topic string
		part  int32
	}
	key := func(t *kmsg.FetchRequestTopic) string {
		if byID {
			return string(t.TopicID[:])
		}
		return t.Topic
	}
	total := 0
	for _, t := range topics {
		total += len(t.Partitions)
	}
	if total <= 1 && len(topics) <= 1 {
		return topics
	}
	last := make(map[tp]*kmsg.FetchRequestTopicPartition, total)
	topicSeen := make(map[string]bool, len(topics))
	dup := false
	for i := range topics {
		t := &topics[i]
		dup = dup || topicSeen[key(t)]
		topicSeen[key(t)] = true
		for j := range t.Partitions {
			k := tp{key(t), t.Partitions[j].Partition}
			dup = dup || last[k] != nil
			last[k] = &t.Partitions[j]
		}
	}
	if !dup {
		return topics
	}
	var out []kmsg.FetchRequestTopic
	index := make(map[string]int, len(topicSeen))
	for _, t := range topics {
		i, ok := index[key(&t)]
		if !ok {
			i = len(out)
			index[key(&t)] = i
			nt := t
			nt.Partitions = nil
			out = append(out, nt)
		}
		for _, p := range t.Partitions {
			k := tp{key(&t), p.Partition}
			if rp := last[k]; rp != nil {
				out[i].Partitions = append(out[i].Partitions, *rp)
				delete(last, k) // answered once, where first named
			}
		}
	}
	return out
}

// fetchBytesReady counts, from the batch index alone, the record bytes a
// fetch would get now (up to its MinBytes), so a fetch that must wait reads
// nothing from the log.
func (n *Node) fetchBytesReady(fw *fetchWait) int {
	total := 0
	for i, rt := range fw.req.Topics {
		for j, rp := range rt.Partitions {
			g := n.groups[fw.groups[i][j]]
			if fw.codes[i][j] != 0 || g == nil {
				continue
			}
			part := g.part
			if rp.FetchOffset < part.logStart || rp.FetchOffset > part.next {
				return math.MaxInt32 // an error answer is ready at once
			}
			// Every batch from the fetch offset's on, by the running
			// totals: parked fetches are evaluated again on every append,
			// so this must not walk the batches (one near the end is in
			// the index's exact tail; one further back reads at most a
			// span forward).
			ready, err := part.idx.bytesFrom(rp.FetchOffset)
			if err != nil {
				n.stop(err)
				return math.MaxInt32
			}
			total += int(min(ready, math.MaxInt32))
			if total >= int(fw.req.MinBytes) {
				return total
			}
		}
	}
	return total
}

// buildFetch reads the fetch's answer from the current state and returns it
// with the number of record bytes in it. The record sets live in the node's
// fetchBuf, which the next buildFetch reuses: the answer must be encoded (or
// dropped) before then, as every caller does at once (fill).
func (n *Node) buildFetch(fw *fetchWait) (*kmsg.FetchResponse, int) {
	req := fw.req
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	total := 0
	buf := n.fetchBuf[:0]
	if buf == nil {
		buf = make([]byte, 0, 64<<10)
	}
	// The broker's own ceiling (Kafka's fetch.max.bytes) bounds what one
	// answer holds in memory, whatever the client asks for.
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 || maxBytes > fetchBytesMax {
		maxBytes = fetchBytesMax
	}
	for i, rt := range req.Topics {
		t := kmsg.NewFetchResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID // v13+ answers by the ID asked for
		for j, rp := range rt.Partitions {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = rp.Partition
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = -1, -1, -1
			p.RecordBatches = []byte{} // Kafka sends an empty record set, never a null one
			if code := fw.codes[i][j]; code != 0 {
				p.ErrorCode = code
				t.Partitions = append(t.Partitions, p)
				continue
			}
			g := n.groups[fw.groups[i][j]]
			if g == nil {
				p.ErrorCode = kerr.NotLeaderForPartition.Code
				t.Partitions = append(t.Partitions, p)
				continue
			}
			part := g.part
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = part.next, part.next, part.logStart
			if rp.FetchOffset < part.logStart || rp.FetchOffset > part.next {
				p.ErrorCode = kerr.OffsetOutOfRange.Code
				t.Partitions = append(t.Partitions, p)
				continue
			}
			if req.Version < 10 && n.topicString(n.meta.topics[part.topic], "compression.type") == "zstd" {
				// KIP-110: a fetch before v10 of a topic whose batches the
				// broker writes in zstd is refused, as Kafka's KafkaApis
				// does by the topic's config (zstd a producer chose in a
				// "producer" topic is served: that client asked for it).
				p.ErrorCode = kerr.UnsupportedCompressionType.Code
				t.Partitions = append(t.Partitions, p)
				continue
			}
			partMax := int(rp.PartitionMaxBytes)
			if partMax <= 0 {
				partMax = math.MaxInt32
			}
			start := len(buf)
			err := part.idx.scan(rp.FetchOffset, func(loc batchLoc, body []byte) bool {
				// Always serve the first batch (KIP-74), so a batch larger
				// than the limits cannot stall a consumer.
				if total > 0 && (len(buf)-start+int(loc.bytes) > partMax || total+int(loc.bytes) > maxBytes) {
					return false
				}
				before := len(buf)
				var err error
				if buf, err = n.appendBatch(buf, g, loc, body); err != nil {
					n.stop(err)
					return false
				}
				total += len(buf) - before
				return true
			})
			if err != nil {
				n.stop(err)
			}
			// Empty, never null (buf never is): librdkafka rejects a null
			// record set. Capped, so nothing appends over the next one.
			p.RecordBatches = buf[start:len(buf):len(buf)]
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if req.Version >= 16 {
		n.addFetchLeaderHints(resp)
	}
	if cap(buf) <= fetchBufKeepBytes {
		n.fetchBuf = buf[:0]
	} else {
		n.fetchBuf = nil // a rare large answer does not stay in memory
	}
	return resp, total
}

// addFetchLeaderHints is addLeaderHints for Fetch v16+ (KIP-951).
func (n *Node) addFetchLeaderHints(resp *kmsg.FetchResponse) {
	var hints leaderHints
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if p.ErrorCode != kerr.NotLeaderForPartition.Code && p.ErrorCode != kerr.FencedLeaderEpoch.Code {
				continue
			}
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = hints.add(n, t.Topic, p.Partition)
		}
	}
	for _, b := range hints.brokers {
		rb := kmsg.NewFetchResponseBroker()
		rb.NodeID, rb.Host, rb.Port = b.NodeID, b.Host, b.Port
		resp.Brokers = append(resp.Brokers, rb)
	}
}

// appendBatch appends a stored batch to dst (body, or read back from the log
// if nil) and stamps the copy with its offset and leader epoch (the log's
// bytes are never changed).
func (n *Node) appendBatch(dst []byte, g *group, loc batchLoc, body []byte) ([]byte, error) {
	if body == nil {
		var err error
		if body, err = g.batchBytes(loc); err != nil {
			return dst, err
		}
	}
	start := len(dst)
	dst = append(dst, body...)
	wire.SetBaseOffset(dst[start:], loc.base)
	wire.SetPartitionLeaderEpoch(dst[start:], int32(loc.term))
	if n.cfg.Bug == BugAppendTimeAtApply && g.part.bugAppendTime {
		wire.SetLogAppendTime(dst[start:], loc.maxTS) // planted: this replica's own time
	}
	return dst, nil
}
