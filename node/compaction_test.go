package node

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// kv is a keyed record to produce; a value "" with tomb is a tombstone.
type kv struct {
	key, value string
	tomb       bool
}

// produceKeyed produces one batch of keyed records, compressed by codec,
// stamped with the harness clock.
func produceKeyed(t *testing.T, h *harness, id uint64, topic string, codec int8, recs ...kv) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	spec := wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: h.now.UnixMilli()}
	for _, r := range recs {
		rec := wire.Record{Key: []byte(r.key), Value: []byte(r.value)}
		if r.tomb {
			rec.Value = nil
		}
		spec.Records = append(spec.Records, rec)
	}
	req := produceReq(topic, 0, nil, "x")
	if codec == wire.CodecNone {
		req.Topics[0].Partitions[0].Records = wire.AppendBatch(nil, spec)
	} else {
		req.Topics[0].Partitions[0].Records = wire.AppendCompressedBatch(nil, spec, codec)
	}
	return h.do(id, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

// keyedLog fetches a partition from offset 0 and lists its records as
// "offset:key=value" ("key=<nil>" for a tombstone), failing on offsets that
// do not rise.
func keyedLog(t *testing.T, h *harness, id uint64, topic string) []string {
	t.Helper()
	resp := h.do(id, fetchReq(topic, 0, 0, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if resp.ErrorCode != 0 {
		t.Fatalf("fetch %s: code %d", topic, resp.ErrorCode)
	}
	batches, err := wire.SplitBatches(resp.RecordBatches)
	if err != nil {
		t.Fatalf("split: %v", err)
	}
	var out []string
	last := int64(-1)
	for _, b := range batches {
		if bh, err := wire.ParseBatchHeader(b); err != nil || bh.CRC != wire.BatchCRC(b) {
			t.Fatalf("batch at %d: bad header or CRC (%v)", bh.BaseOffset, err)
		}
		hd, recs, deltas, err := wire.ParseLogRecords(b, wire.DecodedBytesCeiling)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		for i, r := range recs {
			off := hd.BaseOffset + int64(deltas[i])
			if off <= last {
				t.Fatalf("offset %d after %d", off, last)
			}
			last = off
			v := string(r.Value)
			if r.Value == nil {
				v = "<nil>"
			}
			out = append(out, fmt.Sprintf("%d:%s=%s", off, r.Key, v))
		}
	}
	return out
}

// digestsAgree reports whether every live replica of topic's partition 0
// holds the same state.
func digestsAgree(h *harness, topic string) bool {
	var first *GroupDigest
	for _, id := range h.ids {
		g := partGroup(h, id, topic)
		if g == nil {
			return false
		}
		d, _, err := h.nodes[id].n.Digest(g.id)
		if err != nil {
			return false
		}
		if first == nil {
			first = &d
		} else if d != *first {
			return false
		}
	}
	return true
}

// Compaction keeps the newest record of every key (compressed input
// batches too), offsets unchanged with gaps; a tombstone stays until
// delete.retention.ms after the clean that first kept it; every replica
// holds the same cleaned log; raft storage drops the dirty prefix; a
// follower cut off meanwhile catches up from the partition snapshot, and a
// restarted node holds the same log.
func TestCompaction(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) { c.CleanerInterval = time.Second })
	var ctrl int32
	h.until(20*time.Second, "a controller", func() bool {
		ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0
	})
	req := createWithConfigs("c", 1, 3, "cleanup.policy", "compact", "delete.retention.ms", "30000", "segment.ms", "1")
	if r := h.do(uint64(ctrl), req).(*kmsg.CreateTopicsResponse).Topics[0]; r.ErrorCode != 0 {
		t.Fatalf("create: %+v", r)
	}
	leader := uint64(waitTopic(t, h, 1, "c"))
	lagging := h.ids[0]
	if lagging == leader {
		lagging = h.ids[1]
	}
	h.isolate(lagging)
	writes := []struct {
		codec int8
		recs  []kv
	}{
		{wire.CodecNone, []kv{{key: "a", value: "a0"}, {key: "b", value: "b0"}}},                      // 0, 1
		{wire.CodecGzip, []kv{{key: "a", value: "a1"}, {key: "c", value: "c0"}}},                      // 2, 3
		{wire.CodecSnappy, []kv{{key: "d", value: "d0"}, {key: "b", value: "b1"}}},                    // 4, 5
		{wire.CodecLZ4, []kv{{key: "c", value: "c1"}, {key: "e", value: "e0"}}},                       // 6, 7
		{wire.CodecZstd, []kv{{key: "d", tomb: true}, {key: "a", value: "a2"}}},                       // 8, 9
		{wire.CodecNone, []kv{{key: "f", value: "f0"}, {key: "e", value: "e1"}}},                      // 10, 11
		{wire.CodecGzip, []kv{{key: "f", value: "f1"}, {key: "f", value: "f2"}}},                      // 12, 13
		{wire.CodecNone, []kv{{key: "g", value: "g0"}, {key: "g", tomb: true}}},                       // 14, 15
		{wire.CodecSnappy, []kv{{key: "b", value: "b2"}, {key: "h", value: strings.Repeat("h", 50)}}}, // 16, 17
	}
	for i, w := range writes {
		if p := produceKeyed(t, h, leader, "c", w.codec, w.recs...); p.ErrorCode != 0 || p.BaseOffset != int64(2*i) {
			t.Fatalf("produce %d: %+v", i, p)
		}
	}
	lg := partGroup(h, leader, "c")
	h.until(10*time.Second, "a compaction", func() bool { return lg.part.cleanGen > 0 })
	got := keyedLog(t, h, leader, "c")
	// Newest per key: a2@9, b2@16, c1@6, d tombstone@8, e1@11, f2@13, g tombstone@15, h@17.
	wantLog := "[6:c=c1 8:d=<nil> 9:a=a2 11:e=e1 13:f=f2 15:g=<nil> 16:b=b2 17:h=" + strings.Repeat("h", 50) + "]"
	if fmt.Sprint(got) != wantLog {
		t.Fatalf("compacted log\n got %v\nwant %v", got, wantLog)
	}
	p := lg.part
	if p.logStart != 0 || p.next != 18 {
		t.Fatalf("compaction moved the log: [%d, %d)", p.logStart, p.next)
	}
	// Earliest is still the log start; a fetch inside a gap gets the next batch.
	lo := h.do(leader, listOffsetsReq("c", 0, -1, -2)).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if lo.Offset != 0 {
		t.Fatalf("earliest after compaction: %+v", lo)
	}
	resp := h.do(leader, fetchReq("c", 0, 1, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	bs, _ := wire.SplitBatches(resp.RecordBatches)
	if resp.ErrorCode != 0 || len(bs) == 0 {
		t.Fatalf("fetch inside a gap: code %d, %d batches", resp.ErrorCode, len(bs))
	}
	if bh, _ := wire.ParseBatchHeader(bs[0]); bh.BaseOffset != 6 {
		t.Fatalf("fetch inside a gap starts at %d, want the next batch, 6", bh.BaseOffset)
	}
	if first, _ := lg.st.FirstIndex(); first <= 1 || first != p.idx.firstRaft() {
		t.Fatalf("storage starts at %d, first referenced entry %d", first, p.idx.firstRaft())
	}
	// The cut-off follower catches up from the snapshot.
	h.heal()
	h.until(20*time.Second, "replicas agree", func() bool { return digestsAgree(h, "c") })
	if g := partGroup(h, lagging, "c"); g.snapIndex == 0 {
		t.Fatalf("the lagging replica caught up without a snapshot")
	}
	if got := keyedLog(t, h, leader, "c"); fmt.Sprint(got) != wantLog {
		t.Fatalf("after the follower caught up: %v", got)
	}
	// Tombstones stay until delete.retention.ms after their first clean.
	h.run(20 * time.Second)
	if p := produceKeyed(t, h, leader, "c", wire.CodecNone, kv{key: "i", value: "i0"}); p.ErrorCode != 0 {
		t.Fatalf("produce: %+v", p)
	}
	h.run(3 * time.Second)
	if got := keyedLog(t, h, leader, "c"); !strings.Contains(fmt.Sprint(got), "8:d=<nil>") {
		t.Fatalf("tombstone gone before delete.retention.ms: %v", got)
	}
	h.until(20*time.Second, "tombstones removed", func() bool {
		return !strings.Contains(fmt.Sprint(keyedLog(t, h, leader, "c")), "<nil>")
	})
	wantLog = "[6:c=c1 9:a=a2 11:e=e1 13:f=f2 16:b=b2 17:h=" + strings.Repeat("h", 50) + " 18:i=i0]"
	if got := keyedLog(t, h, leader, "c"); fmt.Sprint(got) != wantLog {
		t.Fatalf("after the tombstones went\n got %v\nwant %v", got, wantLog)
	}
	h.until(10*time.Second, "replicas agree", func() bool { return digestsAgree(h, "c") })
	// A restart (checkpoint and replay) holds the same log.
	fs := h.crash(lagging)
	h.start(lagging, fs)
	h.until(20*time.Second, "the restarted replica agrees", func() bool { return digestsAgree(h, "c") })
	fs = h.crash(leader)
	h.start(leader, fs)
	h.until(20*time.Second, "the restarted leader agrees", func() bool { return digestsAgree(h, "c") })
	var l int32
	h.until(20*time.Second, "a leader", func() bool { l, _ = h.partitionLeader(lagging, "c", 0); return l > 0 })
	if got := keyedLog(t, h, uint64(l), "c"); fmt.Sprint(got) != wantLog {
		t.Fatalf("after restarts\n got %v\nwant %v", got, wantLog)
	}
}

// min.compaction.lag.ms: records younger than it are never compacted; a
// delete topic is never compacted.
func TestCompactionLag(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) { c.CleanerInterval = time.Second })
	var ctrl int32
	h.until(20*time.Second, "a controller", func() bool {
		ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0
	})
	for _, req := range []*kmsg.CreateTopicsRequest{
		createWithConfigs("lag", 1, 3, "cleanup.policy", "compact", "min.compaction.lag.ms", "30000", "segment.ms", "1"),
		createWithConfigs("del", 1, 3, "cleanup.policy", "delete"),
		createWithConfigs("both", 1, 3, "cleanup.policy", "compact,delete", "segment.ms", "1"),
	} {
		if r := h.do(uint64(ctrl), req).(*kmsg.CreateTopicsResponse).Topics[0]; r.ErrorCode != 0 {
			t.Fatalf("create: %+v", r)
		}
	}
	for _, topic := range []string{"lag", "del", "both"} {
		leader := uint64(waitTopic(t, h, 1, topic))
		for i := 0; i < 4; i++ {
			if p := produceKeyed(t, h, leader, topic, wire.CodecNone, kv{key: "k", value: fmt.Sprint(i)}); p.ErrorCode != 0 {
				t.Fatalf("produce: %+v", p)
			}
		}
	}
	leader := uint64(waitTopic(t, h, 1, "lag"))
	// A compacted topic refuses a record without a key, as Kafka.
	if p := produceAt(h, leader, "lag", "keyless"); p.ErrorCode != kerr.InvalidRecord.Code || len(p.ErrorRecords) != 1 {
		t.Fatalf("keyless record to a compacted topic: %+v", p)
	}
	h.run(10 * time.Second)
	if got := keyedLog(t, h, leader, "lag"); len(got) != 4 {
		t.Fatalf("records younger than min.compaction.lag.ms compacted: %v", got)
	}
	both := uint64(waitTopic(t, h, 1, "both"))
	if got := keyedLog(t, h, both, "both"); fmt.Sprint(got) != "[3:k=3]" {
		t.Fatalf("compact,delete: %v", got)
	}
	h.until(30*time.Second, "the lagged compaction", func() bool { return len(keyedLog(t, h, leader, "lag")) == 1 })
	if got := keyedLog(t, h, leader, "lag"); fmt.Sprint(got) != "[3:k=3]" {
		t.Fatalf("after the lag: %v", got)
	}
	del := uint64(waitTopic(t, h, 1, "del"))
	if got := keyedLog(t, h, del, "del"); len(got) != 4 {
		t.Fatalf("a delete topic compacted: %v", got)
	}
}

// The compaction entry's encoding round-trips, and a truncated one is an
// error, not a panic.
func TestCompactBody(t *testing.T) {
	data := wire.AppendBatch(nil, wire.BatchSpec{ProducerID: -1, BaseSequence: -1, Records: []wire.Record{{Key: []byte("k"), Value: []byte("v")}}})
	c := compactBody{gen: 3, from: 1, to: 9, horizon: -1, batches: []cleanedBatch{{base: 4, count: 2, term: 5, maxTS: 7, data: data}}}
	hdr := []byte{1, 2, 3}
	enc := append(hdr, appendCompact(nil, c)...)
	got, pos, err := parseCompact(enc[len(hdr):])
	if err != nil || got.gen != 3 || got.to != 9 || len(got.batches) != 1 || string(enc[len(hdr)+pos[0]:len(hdr)+pos[0]+len(data)]) != string(data) {
		t.Fatalf("round trip: %+v %v %v", got, pos, err)
	}
	for i := range enc[len(hdr):] {
		if _, _, err := parseCompact(enc[len(hdr) : len(hdr)+i]); err == nil {
			t.Fatalf("truncated to %d bytes parsed", i)
		}
	}
}

// A tombstone produced with an old timestamp stays delete.retention.ms after
// the clean that first kept it; the planted tombstone-record-time
// (KAFKA-4529) judges it by its record's time and removes it at once.
func TestTombstoneOldTimestamp(t *testing.T) {
	for _, bug := range []string{"", BugTombstoneRecordTime} {
		t.Run(bug, func(t *testing.T) {
			h := newHarness(t, 1, func(c *Config) { c.CleanerInterval = time.Second; c.Bug = bug })
			req := createWithConfigs("c", 1, 1, "cleanup.policy", "compact", "delete.retention.ms", "60000", "segment.ms", "1")
			h.until(20*time.Second, "the topic created", func() bool {
				return h.do(1, req).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode != kerr.NotController.Code
			})
			leader := uint64(waitTopic(t, h, 1, "c"))
			old := h.now.Add(-2 * time.Hour)
			spec := wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: old.UnixMilli(),
				Records: []wire.Record{{Key: []byte("gone")}}}
			preq := produceReq("c", 0, nil, "x")
			preq.Topics[0].Partitions[0].Records = wire.AppendBatch(nil, spec)
			if p := h.do(leader, preq).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
				t.Fatalf("produce the tombstone: %+v", p)
			}
			if p := produceKeyed(t, h, leader, "c", wire.CodecNone, kv{key: "k", value: "v"}); p.ErrorCode != 0 {
				t.Fatalf("produce: %+v", p)
			}
			g := partGroup(h, leader, "c")
			h.until(10*time.Second, "a compaction", func() bool { return g.part.cleanGen > 0 })
			h.run(5 * time.Second)
			got := fmt.Sprint(keyedLog(t, h, leader, "c"))
			if kept := strings.Contains(got, "0:gone=<nil>"); kept != (bug == "") {
				t.Fatalf("bug %q: compacted log %v", bug, got)
			}
		})
	}
}

// fetchesFindNextBatch fetches a partition at every offset in [0, hw) and
// checks each answer starts with the first batch of bases (the log's
// batches, by base offset) ending at or past it, then that a consumer
// reading on from each answer's end reaches hw.
func fetchesFindNextBatch(t *testing.T, h *harness, id uint64, topic string, bases []int64, hw int64) {
	t.Helper()
	for off := int64(0); off < hw; off++ {
		k := sort.Search(len(bases), func(i int) bool { return bases[i] >= off })
		resp := h.do(id, fetchReq(topic, 0, off, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		bs, err := wire.SplitBatches(resp.RecordBatches)
		if resp.ErrorCode != 0 || err != nil || len(bs) == 0 || resp.HighWatermark != hw {
			t.Fatalf("fetch at %d: code %d, hw %d, %d batches (%v)", off, resp.ErrorCode, resp.HighWatermark, len(bs), err)
		}
		if bh, _ := wire.ParseBatchHeader(bs[0]); k == len(bases) || bh.BaseOffset != bases[k] {
			t.Fatalf("fetch at %d starts at %d, want the next batch of %v", off, bh.BaseOffset, bases)
		}
	}
	for off, steps := int64(0), 0; off < hw; steps++ {
		if steps > len(bases) {
			t.Fatalf("a consumer from 0 stuck at %d below hw %d", off, hw)
		}
		resp := h.do(id, fetchReq(topic, 0, off, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		bs, _ := wire.SplitBatches(resp.RecordBatches)
		for _, b := range bs {
			bh, _ := wire.ParseBatchHeader(b)
			off = bh.BaseOffset + int64(bh.LastOffsetDelta) + 1
		}
	}
}

// A fetch at any offset of a compacted log, inside a cleaned gap or not,
// gets the first batch whose last offset is at or past it (Kafka's
// answer), so a consumer reading from the beginning reaches the high
// watermark. The newcomer's kcat run (300 keyed records one a batch, a
// tombstone, delete.retention.ms 1000) stalled once a later clean removed
// the tombstone, the log's last batch: a fetch at 299, below the high
// watermark 301, found no batch at or after it, for ever. As Kafka's
// cleaner never cleans the active segment, the newest batch is never
// cleaned (its records still supersede older ones).
func TestFetchInsideCompactionGaps(t *testing.T) {
	h := newHarness(t, 1, func(c *Config) { c.CleanerInterval = 15 * time.Second })
	req := createWithConfigs("c", 1, 1, "cleanup.policy", "compact", "delete.retention.ms", "1000", "segment.ms", "1")
	h.until(20*time.Second, "the topic created", func() bool {
		return h.do(1, req).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode != kerr.NotController.Code
	})
	leader := uint64(waitTopic(t, h, 1, "c"))
	const records = 300
	for i := 0; i < records; i++ {
		if p := produceKeyed(t, h, leader, "c", wire.CodecNone, kv{key: fmt.Sprintf("k%d", (i+1)%5), value: fmt.Sprint(i)}); p.ErrorCode != 0 {
			t.Fatalf("produce %d: %+v", i, p)
		}
	}
	if p := produceKeyed(t, h, leader, "c", wire.CodecNone, kv{key: "k0", tomb: true}); p.ErrorCode != 0 {
		t.Fatalf("produce the tombstone: %+v", p)
	}
	// One clean: the newest of k1..k4 (295..298) and k0's tombstone
	// (300), which superseded 299.
	g := partGroup(h, leader, "c")
	h.until(20*time.Second, "a compaction", func() bool { return g.part.cleanGen > 0 })
	want := "[295:k1=295 296:k2=296 297:k3=297 298:k4=298 300:k0=<nil>]"
	if got := fmt.Sprint(keyedLog(t, h, leader, "c")); got != want {
		t.Fatalf("compacted log\n got %s\nwant %s", got, want)
	}
	fetchesFindNextBatch(t, h, leader, "c", []int64{295, 296, 297, 298, 300}, records+1)
	// Passes past the tombstone's delete horizon keep it: it is the
	// newest batch.
	h.run(40 * time.Second)
	if got := fmt.Sprint(keyedLog(t, h, leader, "c")); got != want {
		t.Fatalf("after the delete horizon\n got %s\nwant %s", got, want)
	}
	fetchesFindNextBatch(t, h, leader, "c", []int64{295, 296, 297, 298, 300}, records+1)
	// Newer batches (dirty enough for a pass) let a pass clean it, which
	// stamps its delete horizon, and a later one remove it: gaps at
	// 0..294 and 299..305.
	for i := 0; i < 6; i++ {
		if p := produceKeyed(t, h, leader, "c", wire.CodecNone, kv{key: "k5", value: fmt.Sprint(i)}); p.ErrorCode != 0 {
			t.Fatalf("produce: %+v", p)
		}
	}
	want = "[295:k1=295 296:k2=296 297:k3=297 298:k4=298 306:k5=5]"
	h.until(60*time.Second, "the tombstone removed", func() bool { return fmt.Sprint(keyedLog(t, h, leader, "c")) == want })
	fetchesFindNextBatch(t, h, leader, "c", []int64{295, 296, 297, 298, 306}, records+7)
}

// The active segment is never cleaned, as Kafka's: with Kafka's defaults
// (segment.ms 7 days, segment.bytes 1 GiB) a compacted topic's records wait;
// once segment.ms is set low, the next batch rolls a segment and a pass
// cleans what is below it, while the new active segment stays as written.
func TestActiveSegmentNotCleaned(t *testing.T) {
	h := newHarness(t, 1, func(c *Config) { c.CleanerInterval = time.Second })
	req := createWithConfigs("c", 1, 1, "cleanup.policy", "compact")
	h.until(20*time.Second, "the topic created", func() bool {
		return h.do(1, req).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode != kerr.NotController.Code
	})
	leader := uint64(waitTopic(t, h, 1, "c"))
	for i := 0; i < 20; i++ {
		if p := produceKeyed(t, h, leader, "c", wire.CodecNone, kv{key: "k", value: fmt.Sprint(i)}); p.ErrorCode != 0 {
			t.Fatalf("produce %d: %+v", i, p)
		}
		h.run(100 * time.Millisecond)
	}
	g := partGroup(h, leader, "c")
	h.run(30 * time.Second)
	if g.part.cleanGen != 0 || len(keyedLog(t, h, leader, "c")) != 20 {
		t.Fatalf("the active segment was cleaned: generation %d, log %v", g.part.cleanGen, keyedLog(t, h, leader, "c"))
	}
	set := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	set.Name, set.Op, set.Value = "segment.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("1000")
	if r := h.do(leader, incAlter(kmsg.ConfigResourceTypeTopic, "c", set)).(*kmsg.IncrementalAlterConfigsResponse); r.Resources[0].ErrorCode != 0 {
		t.Fatalf("alter: %+v", r.Resources[0])
	}
	// Written two seconds after the segment's first batch: it rolls.
	if p := produceKeyed(t, h, leader, "c", wire.CodecNone, kv{key: "k", value: "20"}); p.ErrorCode != 0 {
		t.Fatalf("produce: %+v", p)
	}
	if g.seg.base != 20 {
		t.Fatalf("active segment from %d, want 20 (rolled)", g.seg.base)
	}
	h.until(20*time.Second, "a compaction", func() bool { return g.part.cleanGen > 0 })
	// k=20 supersedes all below; the active segment holds only it.
	if got := fmt.Sprint(keyedLog(t, h, leader, "c")); got != "[20:k=20]" {
		t.Fatalf("compacted log %s", got)
	}
	// A segment rolls by segment.bytes too (1 MiB at least).
	set.Name, set.Value = "segment.bytes", kmsg.StringPtr(fmt.Sprint(1<<20))
	set2 := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	set2.Name, set2.Op, set2.Value = "segment.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(fmt.Sprint(int64(7*24*time.Hour/time.Millisecond)))
	if r := h.do(leader, incAlter(kmsg.ConfigResourceTypeTopic, "c", set, set2)).(*kmsg.IncrementalAlterConfigsResponse); r.Resources[0].ErrorCode != 0 {
		t.Fatalf("alter: %+v", r.Resources[0])
	}
	big := strings.Repeat("v", 300<<10)
	var rolledAt int64 = -1
	for i := 0; i < 5 && rolledAt < 0; i++ {
		before := g.seg.base
		p := produceKeyed(t, h, leader, "c", wire.CodecNone, kv{key: "b", value: big})
		if p.ErrorCode != 0 {
			t.Fatalf("produce big %d: %+v", i, p)
		}
		if g.seg.base != before {
			rolledAt = p.BaseOffset
		}
	}
	if rolledAt < 0 {
		t.Fatalf("no roll after 1.5 MiB in a 1 MiB segment")
	}
}

// Planted clean-active-segment: the cleaner cleans through the newest
// batch, so once a trailing tombstone's delete horizon passes, a clean
// removes it and the log ends in a gap below the high watermark: a fetch
// there gets no batch (the stall TestFetchInsideCompactionGaps guards).
func TestCleanActiveSegmentPlanted(t *testing.T) {
	h := newHarness(t, 1, func(c *Config) { c.CleanerInterval = 15 * time.Second; c.Bug = BugCleanActiveSegment })
	req := createWithConfigs("c", 1, 1, "cleanup.policy", "compact", "delete.retention.ms", "1000", "segment.ms", "1")
	h.until(20*time.Second, "the topic created", func() bool {
		return h.do(1, req).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode != kerr.NotController.Code
	})
	leader := uint64(waitTopic(t, h, 1, "c"))
	for i := 0; i < 10; i++ {
		if p := produceKeyed(t, h, leader, "c", wire.CodecNone, kv{key: fmt.Sprintf("k%d", i%3), value: fmt.Sprint(i)}); p.ErrorCode != 0 {
			t.Fatalf("produce %d: %+v", i, p)
		}
	}
	if p := produceKeyed(t, h, leader, "c", wire.CodecNone, kv{key: "k0", tomb: true}); p.ErrorCode != 0 {
		t.Fatalf("produce the tombstone: %+v", p)
	}
	h.run(60 * time.Second)
	resp := h.do(leader, fetchReq("c", 0, 10, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	bs, _ := wire.SplitBatches(resp.RecordBatches)
	if resp.HighWatermark != 11 || len(bs) != 0 {
		t.Fatalf("fetch at 10: hw %d, %d batches: the planted bug left the log whole", resp.HighWatermark, len(bs))
	}
}
