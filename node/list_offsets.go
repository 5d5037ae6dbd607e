package node

// ListOffsets (key 2), v1–v6: latest (-1, the high watermark), earliest (-2,
// the log start) and by timestamp (the first batch whose max timestamp is at
// or after it; Kafka narrows to the record, ketch answers at batch
// granularity; no batch at all answers offset -1, timestamp -1, as Kafka
// does). Max timestamp (-3) is v7+ and not served.
//
// Served by a leader only; a leader that has not yet committed an entry of
// its term answers OFFSET_NOT_AVAILABLE (safety rule 1). The current leader
// epoch is checked from v4 (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH). The
// answer is read after a ReadIndex barrier (read.go), as a fetch's is, so a
// deposed leader cannot answer latest from a high watermark the new leader
// has left behind.
//
// The leader epoch answered is Kafka's: for latest the leader's epoch; for
// earliest and by timestamp the epoch of the batch at the offset answered
// (the leader's epoch when the log is empty), so a consumer that seeks there
// validates its position against the epoch its records really carry.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleListOffsets(cn *conn, corr int32, req *kmsg.ListOffsetsRequest) {
	fw := n.newRead(cn, corr)
	for _, rt := range req.Topics {
		fw.addTopic(len(rt.Partitions))
		for j, rp := range rt.Partitions {
			g, code := n.listOffsetsGroup(rt.Topic, rp, req.Version)
			fw.addPart(j, g, code)
		}
	}
	fw.answer = func() kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for i, rt := range req.Topics {
			t := kmsg.NewListOffsetsResponseTopic()
			t.Topic = rt.Topic
			for j, rp := range rt.Partitions {
				p := kmsg.NewListOffsetsResponseTopicPartition()
				p.Partition = rp.Partition
				p.Timestamp, p.Offset, p.LeaderEpoch = -1, -1, -1
				if g, code := n.readGroup(fw, i, j); code != 0 {
					p.ErrorCode = code
				} else {
					listOffset(g, rp.Timestamp, &p)
				}
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	}
	n.startRead(fw)
}

// listOffsetsGroup decides what can be decided before the barrier: the
// partition, its leadership, the query, the client's epoch.
func (n *Node) listOffsetsGroup(topic string, rp kmsg.ListOffsetsRequestTopicPartition, version int16) (*group, int16) {
	t := n.meta.topics[topic]
	if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.partitions) {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	g := n.groups[t.partitions[rp.Partition].group]
	switch {
	case g == nil || !g.leader:
		return nil, kerr.NotLeaderForPartition.Code
	case !g.serving():
		return nil, kerr.OffsetNotAvailable.Code
	case rp.Timestamp < 0 && rp.Timestamp != -1 && rp.Timestamp != -2:
		return nil, kerr.InvalidRequest.Code // -3 (max timestamp) is v7+
	}
	if version >= 4 {
		if code := n.checkEpoch(g, rp.CurrentLeaderEpoch); code != 0 {
			return nil, code
		}
	}
	return g, 0
}

// listOffset answers one query from the confirmed state of a group.
func listOffset(g *group, ts int64, p *kmsg.ListOffsetsResponseTopicPartition) {
	part := g.part
	switch ts {
	case -1:
		p.Offset, p.LeaderEpoch = part.next, int32(g.term)
	case -2:
		p.Offset, p.LeaderEpoch = part.logStart, int32(g.term)
		if k := part.find(part.logStart); k < len(part.batches) {
			p.LeaderEpoch = int32(part.batches[k].term)
		}
	default:
		if k := part.findTimestamp(ts); k < len(part.batches) {
			b := part.batches[k]
			p.Offset, p.Timestamp, p.LeaderEpoch = b.base, b.maxTS, int32(b.term)
		}
	}
}
