package node

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// TestListOffsetsDeposedLeader: a leader that stalled (paused: no ticks, no
// messages) while the others elected a new leader and moved the high
// watermark on wakes up cut off, still believing it leads until its
// check-quorum timer runs out. ListOffsets latest must not answer from its
// stale state: it waits for a ReadIndex barrier it cannot get.
func TestListOffsetsDeposedLeader(t *testing.T) {
	h := newHarness(t, 3)
	old := uint64(waitTopic(t, h, 1, "orders"))
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, old, "orders", nil, "a").ErrorCode == 0
	})
	latest := func(id uint64) kmsg.ListOffsetsResponseTopicPartition {
		return h.do(id, listOffsetsReq("orders", 0, -1, -1)).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	if p := latest(old); p.ErrorCode != 0 || p.Offset != 1 {
		t.Fatalf("latest on the leader: code %d offset %d, want 0 and 1", p.ErrorCode, p.Offset)
	}

	h.nodes[old].down = true // paused: it neither ticks nor hears anything
	delete(h.inbox, old)
	var leader uint64
	h.until(20*time.Second, "a new leader", func() bool {
		for _, id := range h.ids {
			if id == old {
				continue
			}
			if l, _ := h.partitionLeader(id, "orders", 0); l > 0 && uint64(l) != old {
				leader = uint64(l)
				return true
			}
		}
		return false
	})
	h.until(10*time.Second, "the new leader serving", func() bool {
		return produceOne(t, h, leader, "orders", nil, "b", "c").ErrorCode == 0
	})
	if p := latest(leader); p.ErrorCode != 0 || p.Offset != 3 {
		t.Fatalf("latest on the new leader: code %d offset %d, want 0 and 3", p.ErrorCode, p.Offset)
	}

	h.isolate(old)
	h.nodes[old].down = false
	if st := h.nodes[old].n.Status(); !leads(st, "orders") {
		t.Fatalf("test setup: the woken leader %d no longer believes it leads", old)
	}
	if resp, ok := h.tryDo(old, listOffsetsReq("orders", 0, -1, -1), 10*time.Second); ok {
		if p := resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; p.ErrorCode == 0 {
			t.Fatalf("deposed leader %d answered ListOffsets latest %d (the new leader's is 3)", old, p.Offset)
		}
	}
}

func leads(st []GroupStatus, topic string) bool {
	for _, g := range st {
		if g.Topic == topic && g.Leader {
			return true
		}
	}
	return false
}

// TestListOffsetsAnswers: earliest, latest and by timestamp with Kafka's
// leader epochs (the record's, the leader's), and fencing by the current
// epoch.
func TestListOffsetsAnswers(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "lo")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "lo", nil, "a", "b").ErrorCode == 0
	})
	// Offsets 2-4 at 2000, 2010, 2005 ms; 5 at 2010 ms again.
	stamped := func(first int64, deltas ...int64) {
		req := produceReq("lo", 0, nil)
		spec := wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: first}
		for _, d := range deltas {
			spec.Records = append(spec.Records, wire.Record{Value: []byte("v"), TimestampDelta: d})
		}
		req.Topics[0].Partitions[0].Records = wire.AppendBatch(nil, spec)
		if p := h.do(1, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
			t.Fatalf("produce: code %d", p.ErrorCode)
		}
	}
	stamped(2000, 0, 10, 5)
	stamped(2010, 0)
	_, epoch := h.partitionLeader(1, "lo", 0)
	for _, tc := range []struct {
		name          string
		version       int16
		current       int32
		ts            int64
		code          int16
		offset, stamp int64
	}{
		{"latest", 6, epoch, -1, 0, 6, -1},
		{"earliest", 6, epoch, -2, 0, 0, -1},
		{"by timestamp, found", 6, -1, 1000, 0, 0, 1000},
		{"by timestamp, the first record in the batch at or after it", 6, -1, 2003, 0, 3, 2010},
		{"by timestamp, exactly a record's", 6, -1, 2005, 0, 3, 2010},
		{"by timestamp, after every record", 6, -1, 2011, 0, -1, -1},
		{"stale epoch", 6, epoch - 1, -1, kerr.FencedLeaderEpoch.Code, -1, -1},
		{"future epoch", 6, epoch + 1, -1, kerr.UnknownLeaderEpoch.Code, -1, -1},
		{"max timestamp is v7", 6, -1, -3, kerr.UnsupportedVersion.Code, -1, -1},
		{"max timestamp: the first record carrying it", 7, -1, -3, 0, 3, 2010},
		{"local log start is v8", 7, -1, -4, kerr.UnsupportedVersion.Code, -1, -1},
		{"local log start", 8, -1, -4, 0, 0, -1},
		{"an unknown special timestamp", 8, -1, -5, kerr.InvalidRequest.Code, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := listOffsetsReq("lo", 0, tc.current, tc.ts)
			req.Version = tc.version
			p := h.do(1, req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
			wantEpoch := epoch
			if tc.code != 0 || tc.offset < 0 {
				wantEpoch = -1
			}
			if p.ErrorCode != tc.code || p.Offset != tc.offset || p.Timestamp != tc.stamp || p.LeaderEpoch != wantEpoch {
				t.Errorf("code %d offset %d ts %d epoch %d, want %d %d %d %d", p.ErrorCode, p.Offset, p.Timestamp, p.LeaderEpoch,
					tc.code, tc.offset, tc.stamp, wantEpoch)
			}
		})
	}
}

// TestServedTableDispatches: every API the table advertises parses and is
// dispatched at its lowest and highest version (dispatch panics on a key it
// has no handler for).
func TestServedTableDispatches(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "d")
	for _, s := range served {
		for _, v := range []int16{s.min, s.max} {
			req := kmsg.RequestForKey(int16(s.key))
			req.SetVersion(v)
			if p, ok := req.(*kmsg.ProduceRequest); ok {
				p.Acks = -1 // acks=0 is answered with silence
			}
			if _, ok := h.tryDo(1, req, 10*time.Second); !ok {
				t.Errorf("%s v%d: no answer", kmsg.NameForKey(int16(s.key)), v)
			}
		}
	}
}
