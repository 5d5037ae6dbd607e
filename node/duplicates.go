package node

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// listOffsetsDuplicates returns, for a ListOffsets v1+ request naming a
// partition more than once, the change Kafka makes to its answer: every
// mention of such a partition is answered INVALID_REQUEST with no offset
// (KafkaApis, ListOffsetsRequest.duplicatePartitions). Nil if there is none.
// It applies to the response whenever the handler fills it, so it holds
// however ListOffsets is answered.
func listOffsetsDuplicates(req *kmsg.ListOffsetsRequest) func(kmsg.Response) {
	if req.Version < 1 {
		return nil
	}
	type tp struct {
		topic string
		part  int32
	}
	total := 0
	for _, t := range req.Topics {
		total += len(t.Partitions)
	}
	if total < 2 {
		return nil
	}
	seen := make(map[tp]bool, total)
	dup := map[tp]bool{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			k := tp{t.Topic, p.Partition}
			if seen[k] {
				dup[k] = true
			}
			seen[k] = true
		}
	}
	if len(dup) == 0 {
		return nil
	}
	return func(r kmsg.Response) {
		resp, ok := r.(*kmsg.ListOffsetsResponse)
		if !ok {
			return
		}
		for i := range resp.Topics {
			t := &resp.Topics[i]
			for j := range t.Partitions {
				p := &t.Partitions[j]
				if dup[tp{t.Topic, p.Partition}] {
					p.ErrorCode = kerr.InvalidRequest.Code
					p.Timestamp, p.Offset, p.LeaderEpoch = -1, -1, -1
					p.OldStyleOffsets = nil
				}
			}
		}
	}
}
