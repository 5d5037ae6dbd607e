package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// TestEpochEnd: OffsetForLeaderEpoch's answer from the batches' epochs, as
// Kafka's LeaderEpochFileCache.endOffsetFor gives it, with the leader's
// current term starting at the high watermark.
func TestEpochEnd(t *testing.T) {
	logOf := func(terms ...uint64) *partState {
		p := newPartState("t", 0, 1)
		for _, term := range terms {
			p.idx.append(p.next, 2, 0, term, 0, 0)
			p.next += 2
		}
		return p
	}
	// Offsets 0-1 epoch 2, 2-5 epoch 4, 6-7 epoch 7; high watermark 8.
	full := logOf(2, 4, 4, 7)
	for _, tc := range []struct {
		name      string
		p         *partState
		term      uint64
		ask       int32
		epoch     int32
		endOffset int64
	}{
		{"undefined epoch", full, 9, -1, -1, -1},
		{"epoch above the leader's", full, 9, 10, -1, -1},
		{"the current epoch ends at the high watermark", full, 9, 9, 9, 8},
		{"an epoch with no batch between the last and the current", full, 9, 8, 7, 8},
		{"the last epoch with batches, below the current", full, 9, 7, 7, 8},
		{"an epoch between two with batches", full, 9, 5, 4, 6},
		{"an epoch with batches, followed by another", full, 9, 4, 4, 6},
		{"an epoch without batches answers the one before", full, 9, 3, 2, 2},
		{"the first epoch", full, 9, 2, 2, 2},
		{"below the first epoch: the asked epoch, ending where the log starts", full, 9, 1, 1, 0},
		{"the current epoch is the last one with batches", full, 7, 7, 7, 8},
		{"empty log, the current epoch", logOf(), 3, 3, 3, 0},
		{"empty log, an earlier epoch", logOf(), 3, 2, 2, 0},
		{"empty log, a later epoch", logOf(), 3, 4, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			epoch, end := tc.p.epochEnd(tc.ask, tc.term)
			if epoch != tc.epoch || end != tc.endOffset {
				t.Errorf("epochEnd(%d) at term %d = (%d, %d), want (%d, %d)", tc.ask, tc.term, epoch, end, tc.epoch, tc.endOffset)
			}
		})
	}
}

func offsetForEpochReq(topic string, partition, current, epoch int32) *kmsg.OffsetForLeaderEpochRequest {
	r := kmsg.NewPtrOffsetForLeaderEpochRequest()
	r.Version = 4
	r.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = partition, current, epoch
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func listOffsetsReq(topic string, partition, current int32, ts int64) *kmsg.ListOffsetsRequest {
	r := kmsg.NewPtrListOffsetsRequest()
	r.Version = 6
	r.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = partition, current, ts
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

// fetchEpochs returns "offset:epoch" for every record a leader serves.
func fetchEpochs(t *testing.T, h *harness, id uint64, topic string) []string {
	t.Helper()
	p := h.do(id, fetchReq(topic, 0, 0, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch from %d: code %d", id, p.ErrorCode)
	}
	batches, err := wire.SplitBatches(p.RecordBatches)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range batches {
		hd, recs, err := wire.ParseRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			out = append(out, fmt.Sprintf("%d:%d", hd.BaseOffset+int64(i), hd.PartitionLeaderEpoch))
		}
	}
	return out
}

// TestOffsetForLeaderEpochAcrossFailover: after a leader change the new
// leader answers for the old epoch with where it ended (where the records
// Fetch stamps with the new epoch begin), for its own with the high
// watermark; followers, unknown partitions and stale or future current
// epochs get Kafka's error codes.
func TestOffsetForLeaderEpochAcrossFailover(t *testing.T) {
	h := newHarness(t, 3)
	old := uint64(waitTopic(t, h, 1, "orders"))
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, old, "orders", nil, "a").ErrorCode == 0
	})
	produceOne(t, h, old, "orders", nil, "b", "c")
	_, oldEpoch := h.partitionLeader(old, "orders", 0)

	h.isolate(old)
	follower := old%3 + 1
	var leader uint64
	h.until(20*time.Second, "a new leader", func() bool {
		l, _ := h.partitionLeader(follower, "orders", 0)
		leader = uint64(l)
		return l > 0 && leader != old
	})
	h.until(10*time.Second, "the new leader serving", func() bool {
		return produceOne(t, h, leader, "orders", nil, "d").ErrorCode == 0
	})
	h.heal()
	_, epoch := h.partitionLeader(leader, "orders", 0)
	if epoch <= oldEpoch {
		t.Fatalf("epoch %d after failover, was %d", epoch, oldEpoch)
	}
	// Offsets 0-2 carry the old epoch, 3 the new one.
	if got, want := fetchEpochs(t, h, leader, "orders"), []string{
		fmt.Sprintf("0:%d", oldEpoch), fmt.Sprintf("1:%d", oldEpoch), fmt.Sprintf("2:%d", oldEpoch), fmt.Sprintf("3:%d", epoch),
	}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("fetched epochs %v, want %v", got, want)
	}

	ask := func(id uint64, topic string, current, e int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		t.Helper()
		return h.do(id, offsetForEpochReq(topic, 0, current, e)).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	}
	for _, tc := range []struct {
		name       string
		id         uint64
		topic      string
		current, e int32
		code       int16
		epoch      int32
		end        int64
	}{
		{"the old epoch ends where the new one starts", leader, "orders", epoch, oldEpoch, 0, oldEpoch, 3},
		{"the current epoch ends at the high watermark", leader, "orders", epoch, epoch, 0, epoch, 4},
		{"no current epoch sent", leader, "orders", -1, oldEpoch, 0, oldEpoch, 3},
		{"an epoch above the leader's", leader, "orders", -1, epoch + 1, 0, -1, -1},
		{"a stale current epoch is fenced", leader, "orders", oldEpoch, oldEpoch, kerr.FencedLeaderEpoch.Code, -1, -1},
		{"a future current epoch is unknown", leader, "orders", epoch + 1, oldEpoch, kerr.UnknownLeaderEpoch.Code, -1, -1},
		{"unknown topic", leader, "nope", -1, 1, kerr.UnknownTopicOrPartition.Code, -1, -1},
		{"a follower", 6 - old - leader, "orders", -1, 1, kerr.NotLeaderForPartition.Code, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ask(tc.id, tc.topic, tc.current, tc.e)
			if p.ErrorCode != tc.code || p.ErrorCode == 0 && (p.LeaderEpoch != tc.epoch || p.EndOffset != tc.end) {
				t.Errorf("node %d, epoch %d (current %d): code %d epoch %d end %d, want code %d epoch %d end %d",
					tc.id, tc.e, tc.current, p.ErrorCode, p.LeaderEpoch, p.EndOffset, tc.code, tc.epoch, tc.end)
			}
		})
	}
}
