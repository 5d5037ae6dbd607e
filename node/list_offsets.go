package node

// ListOffsets (key 2), v1–v6: latest (-1, the high watermark), earliest (-2,
// the log start) and by timestamp (the first batch whose max timestamp is at
// or after it; Kafka narrows to the record, ketch answers at batch
// granularity). Served by a leader only; a leader that has not yet committed
// an entry of its term answers OFFSET_NOT_AVAILABLE (safety rule 1). The
// current leader epoch is checked from v4.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleListOffsets(req *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewListOffsetsResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewListOffsetsResponseTopicPartition()
			p.Partition = rp.Partition
			p.Timestamp, p.Offset, p.LeaderEpoch = -1, -1, -1
			p.ErrorCode = n.listOffset(rt.Topic, rp, &p, req.Version)
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

func (n *Node) listOffset(topic string, rp kmsg.ListOffsetsRequestTopicPartition, p *kmsg.ListOffsetsResponseTopicPartition, version int16) int16 {
	t := n.meta.topics[topic]
	if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.partitions) {
		return kerr.UnknownTopicOrPartition.Code
	}
	g := n.groups[t.partitions[rp.Partition].group]
	switch {
	case g == nil || !g.leader:
		return kerr.NotLeaderForPartition.Code
	case !g.serving():
		return kerr.OffsetNotAvailable.Code
	}
	if version >= 4 {
		if code := epochCheck(g, rp.CurrentLeaderEpoch); code != 0 {
			return code
		}
	}
	part := g.part
	p.LeaderEpoch = int32(g.term)
	switch rp.Timestamp {
	case -1:
		p.Offset = part.next
	case -2:
		p.Offset = part.logStart
	default:
		if rp.Timestamp < 0 {
			return kerr.InvalidRequest.Code // -3 (max timestamp) is v7+
		}
		off, ts := part.offsetForTimestamp(rp.Timestamp)
		p.Offset, p.Timestamp = off, ts
		if off < 0 {
			p.Offset = part.next // no such batch: Kafka answers the log end
		}
	}
	return 0
}
