package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

func deleteRecordsReq(topic string, partition int32, offset int64) *kmsg.DeleteRecordsRequest {
	r := kmsg.NewPtrDeleteRecordsRequest()
	r.Version = 2
	r.TimeoutMillis = 5000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func deleteRecords(h *harness, id uint64, topic string, offset int64) kmsg.DeleteRecordsResponseTopicPartition {
	h.t.Helper()
	return h.do(id, deleteRecordsReq(topic, 0, offset)).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
}

// produceAt produces one record stamped with the harness clock (CreateTime).
func produceAt(h *harness, id uint64, topic, value string) kmsg.ProduceResponseTopicPartition {
	h.t.Helper()
	req := produceReq(topic, 0, nil, value)
	spec := wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: h.now.UnixMilli(),
		Records: []wire.Record{{Value: []byte(value)}}}
	req.Topics[0].Partitions[0].Records = wire.AppendBatch(nil, spec)
	return h.do(id, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

// partGroup is node id's group of topic's partition 0 (nil while it has
// none: a restarted node replaying its metadata).
func partGroup(h *harness, id uint64, topic string) *group {
	t := h.nodes[id].n.meta.topics[topic]
	if t == nil {
		return nil
	}
	return h.nodes[id].n.groups[t.partitions[0].group]
}

// DeleteRecords moves the log start through raft: every replica agrees, the
// leader's storage is compacted below the first live batch, Fetch below it
// answers OFFSET_OUT_OF_RANGE and ListOffsets earliest is it; a follower cut
// off meanwhile catches up from a partition snapshot; a restart and a
// failover keep it.
func TestDeleteRecords(t *testing.T) {
	h := newHarness(t, 3)
	h.do(1, createReq("t", 1, 3))
	leader := uint64(waitTopic(t, h, 1, "t"))
	lagging := h.ids[0]
	if lagging == leader {
		lagging = h.ids[1]
	}
	h.isolate(lagging)
	for i := 0; i < 10; i++ {
		if p := produceOne(t, h, leader, "t", nil, fmt.Sprintf("v%d", i)); p.ErrorCode != 0 || p.BaseOffset != int64(i) {
			t.Fatalf("produce %d: %+v", i, p)
		}
	}
	if p := deleteRecords(h, leader, "t", 6); p.ErrorCode != 0 || p.LowWatermark != 6 {
		t.Fatalf("delete records to 6: %+v", p)
	}
	other := h.ids[2]
	if other == leader {
		other = h.ids[1]
	}
	for _, c := range []struct {
		id     uint64
		offset int64
		code   int16
		low    int64
	}{
		{other, 7, kerr.NotLeaderForPartition.Code, -1},
		{leader, 11, kerr.OffsetOutOfRange.Code, -1},
		{leader, -2, kerr.OffsetOutOfRange.Code, -1},
		{leader, 3, 0, 6}, // below the start: answered with it, nothing moves
	} {
		if p := deleteRecords(h, c.id, "t", c.offset); p.ErrorCode != c.code || p.LowWatermark != c.low {
			t.Fatalf("delete records to %d at node %d: %+v, want code %d low %d", c.offset, c.id, p, c.code, c.low)
		}
	}
	resp := h.do(leader, fetchReq("t", 0, 2, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if resp.ErrorCode != kerr.OffsetOutOfRange.Code || resp.LogStartOffset != 6 {
		t.Fatalf("fetch below the log start: %+v", resp)
	}
	resp = h.do(leader, fetchReq("t", 0, 6, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if got := values(t, resp.RecordBatches); resp.ErrorCode != 0 || resp.LogStartOffset != 6 || fmt.Sprint(got) != "[6:v6 7:v7 8:v8 9:v9]" {
		t.Fatalf("fetch at the log start: %+v %v", resp, got)
	}
	lo := h.do(leader, listOffsetsReq("t", 0, -1, -2)).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if lo.ErrorCode != 0 || lo.Offset != 6 {
		t.Fatalf("list offsets earliest: %+v", lo)
	}
	g := partGroup(h, leader, "t")
	if first, _ := g.st.FirstIndex(); first != g.part.idx.firstRaft() {
		t.Fatalf("storage starts at %d, the first live batch is at raft index %d", first, g.part.idx.firstRaft())
	}
	// -1 is the high watermark: everything goes.
	if p := deleteRecords(h, leader, "t", -1); p.ErrorCode != 0 || p.LowWatermark != 10 {
		t.Fatalf("delete records to the high watermark: %+v", p)
	}
	for i := 10; i < 12; i++ {
		if p := produceOne(t, h, leader, "t", nil, fmt.Sprintf("v%d", i)); p.ErrorCode != 0 || p.BaseOffset != int64(i) || p.LogStartOffset != 10 {
			t.Fatalf("produce %d: %+v", i, p)
		}
	}
	h.heal()
	gid := g.id
	h.until(20*time.Second, "the lagging replica converged", func() bool {
		a, _, _ := h.nodes[leader].n.Digest(gid)
		b, _, _ := h.nodes[lagging].n.Digest(gid)
		return a == b
	})
	lg := partGroup(h, lagging, "t")
	if lg.part.logStart != 10 || lg.snapIndex == 0 || len(indexedBatches(t, lg.part)) != 2 {
		t.Fatalf("lagging replica: log start %d, snapshot %d, %d batches", lg.part.logStart, lg.snapIndex, len(indexedBatches(t, lg.part)))
	}
	// A failover and a restart keep the log start.
	fs := h.crash(leader)
	next := lagging
	h.until(20*time.Second, "a new leader", func() bool {
		l, _ := h.partitionLeader(next, "t", 0)
		if l > 0 && uint64(l) != leader {
			next = uint64(l)
			return true
		}
		return false
	})
	h.start(leader, fs)
	for _, id := range []uint64{next, leader} {
		h.until(20*time.Second, "the restarted node caught up", func() bool {
			g := partGroup(h, leader, "t")
			return g != nil && g.part.next == 12
		})
		if l := partGroup(h, id, "t").part.logStart; l != 10 {
			t.Fatalf("node %d: log start %d after the failover, want 10", id, l)
		}
	}
	lo = h.do(next, listOffsetsReq("t", 0, -1, -2)).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if lo.ErrorCode != 0 || lo.Offset != 10 {
		t.Fatalf("list offsets earliest after the failover: %+v", lo)
	}
}

// Retention: the leader proposes the new log start when batches are older
// than retention.ms by its clock, or beyond retention.bytes; a compact-only
// topic keeps everything and refuses DeleteRecords.
func TestRetention(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) { c.RetentionCheckInterval = time.Second })
	var ctrl int32
	h.until(20*time.Second, "a controller", func() bool {
		ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0
	})
	for _, req := range []*kmsg.CreateTopicsRequest{createWithConfigs("timed", 1, 3, "retention.ms", "5000"), createReq("sized", 1, 3),
		createWithConfigs("kept", 1, 3, "retention.ms", "1000", "cleanup.policy", "compact")} {
		if r := h.do(uint64(ctrl), req).(*kmsg.CreateTopicsResponse).Topics[0]; r.ErrorCode != 0 {
			t.Fatalf("create %s: %+v", r.Topic, r)
		}
	}
	for _, topic := range []string{"timed", "sized", "kept"} {
		leader := uint64(waitTopic(t, h, 1, topic))
		for i := 0; i < 4; i++ {
			p := produceAt(h, leader, topic, "x")
			if topic == "kept" {
				// A compacted topic takes keyed records only; distinct
				// keys, so compaction keeps them all.
				p = produceKeyed(t, h, leader, topic, wire.CodecNone, kv{key: fmt.Sprint(i), value: "x"})
			}
			if p.ErrorCode != 0 {
				t.Fatalf("%s: produce: %+v", topic, p)
			}
		}
	}
	// Same-sized batches: retention.bytes of three batches keeps three.
	sized := partGroup(h, uint64(waitTopic(t, h, 1, "sized")), "sized")
	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "sized"
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "retention.bytes", kmsg.StringPtr(fmt.Sprint(3*indexedBatches(t, sized.part)[0].bytes))
	res.Configs = append(res.Configs, c)
	alter.Resources = append(alter.Resources, res)
	if r := h.do(uint64(ctrl), alter).(*kmsg.IncrementalAlterConfigsResponse); r.Resources[0].ErrorCode != 0 {
		t.Fatalf("alter: %+v", r.Resources[0])
	}
	h.until(5*time.Second, "retention.bytes applied", func() bool { return sized.part.logStart == 1 })
	timed := partGroup(h, uint64(waitTopic(t, h, 1, "timed")), "timed")
	if timed.part.logStart != 0 {
		t.Fatalf("records younger than retention.ms deleted: log start %d", timed.part.logStart)
	}
	h.until(10*time.Second, "retention.ms applied", func() bool { return timed.part.logStart == 4 })
	if p := produceAt(h, uint64(waitTopic(t, h, 1, "timed")), "timed", "y"); p.ErrorCode != 0 || p.BaseOffset != 4 {
		t.Fatalf("produce after retention emptied the log: %+v", p)
	}
	h.run(3 * time.Second)
	for _, id := range h.ids {
		if p := partGroup(h, id, "timed").part; p.logStart != 4 || p.next != 5 {
			t.Fatalf("node %d: timed log [%d, %d), want [4, 5)", id, p.logStart, p.next)
		}
		if p := partGroup(h, id, "kept").part; p.logStart != 0 {
			t.Fatalf("node %d: compact-only topic's log start %d", id, p.logStart)
		}
	}
	kept := uint64(waitTopic(t, h, 1, "kept"))
	if p := deleteRecords(h, kept, "kept", 2); p.ErrorCode != kerr.PolicyViolation.Code {
		t.Fatalf("delete records on a compact-only topic: %+v", p)
	}
}

// Every replica moves the log start, at the same index. The planted
// log-start-leader-only (KAFKA-15351) moves the leader's alone: the
// followers keep the old start, and the next leader serves deleted records.
func TestLogStartReplicated(t *testing.T) {
	for _, bug := range []string{"", BugLogStartLeaderOnly} {
		t.Run(bug, func(t *testing.T) {
			h := newHarness(t, 3, func(c *Config) { c.Bug = bug })
			leader := uint64(waitTopic(t, h, 1, "t"))
			for i := 0; i < 4; i++ {
				h.until(5*time.Second, "a served produce", func() bool { return produceOne(t, h, leader, "t", nil, "v").ErrorCode == 0 })
			}
			if p := deleteRecords(h, leader, "t", 3); p.ErrorCode != 0 || p.LowWatermark != 3 {
				t.Fatalf("delete records: %+v", p)
			}
			h.run(time.Second)
			var starts []int64
			for _, id := range h.ids {
				starts = append(starts, partGroup(h, id, "t").part.logStart)
			}
			if want := "[3 3 3]"; (fmt.Sprint(starts) == want) != (bug == "") {
				t.Fatalf("log starts %v (bug %q)", starts, bug)
			}
		})
	}
}

// TestSnapshotOfManySmallBatches: the partition snapshot of a log of many
// small batches carries the sparse index, a few bytes per IndexIntervalBytes
// of log rather than about 30 a batch (at which a log of a few million
// batches made one larger than the peer transport's frame, and a follower
// behind the leader's first index never caught up); a follower cut off
// meanwhile installs it and converges.
func TestSnapshotOfManySmallBatches(t *testing.T) {
	h := newHarness(t, 3)
	h.do(1, createReq("t", 1, 3))
	leader := uint64(waitTopic(t, h, 1, "t"))
	lagging := h.ids[0]
	if lagging == leader {
		lagging = h.ids[1]
	}
	h.isolate(lagging)
	const batches = 3000
	for i := 0; i < batches; i++ {
		if p := produceOne(t, h, leader, "t", nil, fmt.Sprintf("v%d", i)); p.ErrorCode != 0 || p.BaseOffset != int64(i) {
			t.Fatalf("produce %d: %+v", i, p)
		}
	}
	// A small move of the log start: the snapshot holds the rest.
	if p := deleteRecords(h, leader, "t", 10); p.ErrorCode != 0 || p.LowWatermark != 10 {
		t.Fatalf("delete records to 10: %+v", p)
	}
	g := partGroup(h, leader, "t")
	snap, err := g.st.Snapshot()
	if err != nil || snap.GetMetadata().GetIndex() == 0 {
		t.Fatalf("no snapshot on the leader: %v", err)
	}
	logBytes := g.part.idx.endBytes
	size := len(snap.GetData())
	t.Logf("%d batches, %d bytes of log: snapshot %d bytes (%d index points, %d exact)", batches, logBytes, size, len(g.part.idx.points), len(g.part.idx.tail))
	// Bounded by the log's bytes over the interval, plus the exact tail.
	if bound := 16*int(logBytes)/indexIntervalBytesDefault + 24*indexTailBatchesDefault + 256; size > bound || size > batches {
		t.Fatalf("snapshot of %d batches is %d bytes, want at most %d (and under a byte a batch)", batches, size, bound)
	}
	h.heal()
	h.until(30*time.Second, "the lagging replica converged", func() bool {
		a, _, _ := h.nodes[leader].n.Digest(g.id)
		b, _, _ := h.nodes[lagging].n.Digest(g.id)
		return a == b
	})
	lg := partGroup(h, lagging, "t")
	if lg.snapIndex == 0 || lg.part.logStart != 10 || len(indexedBatches(t, lg.part)) != batches-10 {
		t.Fatalf("lagging replica: snapshot %d, log start %d, %d batches", lg.snapIndex, lg.part.logStart, len(indexedBatches(t, lg.part)))
	}
	resp := h.do(leader, fetchReq("t", 0, 1234, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if got := values(t, resp.RecordBatches); resp.ErrorCode != 0 || len(got) == 0 || got[0] != "1234:v1234" {
		t.Fatalf("fetch inside the sparse part: %+v %v", resp.ErrorCode, got)
	}
}
