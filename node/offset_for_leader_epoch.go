package node

// OffsetForLeaderEpoch (key 23), v0–v4: for each partition and a leader
// epoch E, the largest epoch <= E the log holds and the offset where E ends
// (KIP-101, KIP-279; a KIP-320 consumer asks after a leader change, with the
// epoch of the last record it consumed, and finds its position truncated if
// the answer is below it). v1 adds LeaderEpoch to the answer, v2
// CurrentLeaderEpoch (fencing) and throttling, v3 ReplicaID, v4 flexible
// encoding. ReplicaID is ignored: every request is answered as a consumer's,
// by the leader only (the debugging id -2 gets no follower answers either).
//
// Answered by a serving leader after a ReadIndex barrier, as Fetch is, so a
// deposed leader cannot answer from a log the new leader has moved past.
// Errors: UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER (a follower, or
// a leader that has not committed an entry of its term), and from v2
// FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH for the client's current epoch.
//
// The epochs are the terms of the stored batches, plus the leader's current
// term, which Kafka's leader-epoch cache records when a leader starts, before
// it has a batch: here it is taken to start at the high watermark. With that
// the answers are Kafka's LeaderEpochFileCache.endOffsetFor, with the high
// watermark standing for the log end (a consumer only reads below it, and
// Fetch serves nothing above it):
//   - E < 0, or E above the current term: UNDEFINED, epoch -1, offset -1;
//   - E the current term: (E, high watermark);
//   - otherwise the first epoch above E starts at offset s (a batch's base
//     offset, or the high watermark if only the current term is above E):
//     (the largest batch epoch <= E, s), or (E, s) if no batch has an epoch
//     <= E (the log starts after E, as in Kafka).
//
// An epoch whose leader stored no batch (it lost leadership before any
// produce) is not in the answer: the largest earlier epoch with a batch is,
// with the same end offset Kafka would give, since nothing was written in
// between. Fetch stamps every batch with the same term, so whatever epoch a
// consumer read, the answer is consistent with it.

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleOffsetForLeaderEpoch(cn *conn, corr int32, req *kmsg.OffsetForLeaderEpochRequest) {
	fw := n.newRead(cn, corr)
	for _, rt := range req.Topics {
		fw.addTopic(len(rt.Partitions))
		for j, rp := range rt.Partitions {
			g, _, code := n.leaderFor(rt.Topic, rp.Partition)
			if code == 0 && req.Version >= 2 {
				code = n.checkEpoch(g, rp.CurrentLeaderEpoch)
			}
			fw.addPart(j, g, code)
		}
	}
	fw.answer = func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
		for i, rt := range req.Topics {
			t := kmsg.NewOffsetForLeaderEpochResponseTopic()
			t.Topic = rt.Topic
			for j, rp := range rt.Partitions {
				p := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				p.Partition = rp.Partition
				p.LeaderEpoch, p.EndOffset = -1, -1
				if g, code := n.readGroup(fw, i, j); code != 0 {
					p.ErrorCode = code
				} else if n.cfg.Bug == BugFetchIgnoresEpoch && rp.LeaderEpoch >= 0 {
					// Planted bug: every epoch is answered as if it were
					// the current one, ending at the log end.
					p.LeaderEpoch, p.EndOffset = rp.LeaderEpoch, g.part.next
				} else {
					p.LeaderEpoch, p.EndOffset = g.part.epochEnd(rp.LeaderEpoch, n.epochOf(g))
				}
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	}
	n.startRead(fw)
}

// epochEnd answers OffsetForLeaderEpoch for epoch e on a leader of term term:
// the largest epoch <= e in the log and the offset where e ends, or (-1, -1).
// Batch terms never decrease along the log (raft's terms grow with the index),
// so the first epoch above e is found by binary search in the partition's
// epoch history (offsetIndex.epochs: an epoch's first offset).
func (p *partState) epochEnd(e int32, term uint64) (int32, int64) {
	switch {
	case e < 0 || uint64(e) > term:
		return -1, -1
	case uint64(e) == term:
		return e, p.next
	}
	ep := p.idx.epochs
	k := sort.Search(len(ep), func(i int) bool { return ep[i].term > uint64(e) })
	start := p.next // only the current term is above e
	if k < len(ep) {
		// A batch the log start falls inside starts, for the epochs, at
		// the log start (Kafka's epoch cache is truncated from the start
		// to it: LeaderEpochFileCache.truncateFromStart).
		start = max(ep[k].base, p.logStart)
	}
	if k == 0 {
		return e, start
	}
	return int32(ep[k-1].term), start
}
