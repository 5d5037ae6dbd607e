package node

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

var testCodecs = []int8{wire.CodecGzip, wire.CodecSnappy, wire.CodecLZ4, wire.CodecZstd}

// produceRaw produces records (any bytes) to partition 0 of topic.
func produceRaw(h *harness, id uint64, topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	req := produceReq(topic, 0, nil)
	req.Topics[0].Partitions[0].Records = records
	return h.do(id, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

// stampedSpec is a batch of len(deltas) records "<prefix><i>" at first+deltas[i].
func stampedSpec(prefix string, first int64, deltas ...int64) wire.BatchSpec {
	spec := wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: first}
	for i, d := range deltas {
		spec.Records = append(spec.Records, wire.Record{Value: []byte(prefix + string(rune('0'+i))), TimestampDelta: d})
	}
	return spec
}

// Every codec is accepted, stored as sent and read back; ListOffsets finds
// records inside compressed batches: by timestamp the first record at or
// after it, for the max timestamp the first record carrying it.
func TestProduceCompressedEveryCodec(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "z")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "z", nil, "a").ErrorCode == 0
	})
	var want []string
	want = append(want, "0:a")
	for k, codec := range testCodecs {
		first := int64(10_000 * (k + 1))
		spec := stampedSpec(string(rune('p'+k)), first, 0, 30, 30, 10) // max 30 first at delta 1
		p := produceRaw(h, 1, "z", wire.AppendCompressedBatch(nil, spec, codec))
		if p.ErrorCode != 0 {
			t.Fatalf("codec %d: produce code %d %v", codec, p.ErrorCode, p.ErrorMessage)
		}
		for i, r := range spec.Records {
			want = append(want, fmt.Sprintf("%d:%s", p.BaseOffset+int64(i), r.Value))
		}
		lo := func(version int16, ts int64) kmsg.ListOffsetsResponseTopicPartition {
			req := listOffsetsReq("z", 0, -1, ts)
			req.Version = version
			return h.do(1, req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		}
		if got := lo(6, first+5); got.Offset != p.BaseOffset+1 || got.Timestamp != first+30 {
			t.Fatalf("codec %d: by timestamp %d: offset %d ts %d, want %d %d", codec, first+5, got.Offset, got.Timestamp, p.BaseOffset+1, first+30)
		}
		if got := lo(7, -3); got.Offset != p.BaseOffset+1 || got.Timestamp != first+30 {
			t.Fatalf("codec %d: max timestamp: offset %d ts %d, want %d %d", codec, got.Offset, got.Timestamp, p.BaseOffset+1, first+30)
		}
	}
	fp, got := fetchAll(t, h, 1, "z")
	if fp.ErrorCode != 0 || len(got) != len(want) {
		t.Fatalf("fetch: code %d, %v, want %v", fp.ErrorCode, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fetch: %v, want %v", got, want)
		}
	}
}

// Hostile compressed batches are refused with Kafka's codes before anything
// is proposed: a count or offsets the records do not bear out, a bomb, a
// record stamped hours ahead.
func TestProduceCompressedHostile(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "hz")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "hz", nil, "a").ErrorCode == 0
	})
	spec := stampedSpec("v", h.now.UnixMilli(), 0, 0, 0)
	lying := func(codec int8, count int32) []byte {
		b := wire.AppendCompressedBatch(nil, spec, codec)
		binary.BigEndian.PutUint32(b[57:], uint32(count))   // recordCount
		binary.BigEndian.PutUint32(b[23:], uint32(count-1)) // lastOffsetDelta
		binary.BigEndian.PutUint32(b[17:], wire.BatchCRC(b))
		return b
	}
	bomb := wire.AppendCompressedBatch(nil, wire.BatchSpec{ProducerID: -1, BaseSequence: -1, FirstTimestamp: spec.FirstTimestamp,
		Records: []wire.Record{{Value: make([]byte, 80<<20)}}}, wire.CodecZstd)
	future := stampedSpec("f", h.now.UnixMilli(), 0, int64(2*time.Hour/time.Millisecond))
	for _, tc := range []struct {
		name string
		b    []byte
		code int16
	}{
		{"snappy claiming 100 records", lying(wire.CodecSnappy, 100), kerr.InvalidRecord.Code},
		{"gzip claiming 2 of 3", lying(wire.CodecGzip, 2), kerr.InvalidRecord.Code},
		{"zstd bomb of 80 MiB", bomb, kerr.MessageTooLarge.Code},
		{"lz4 record two hours ahead", wire.AppendCompressedBatch(nil, future, wire.CodecLZ4), kerr.InvalidTimestamp.Code},
	} {
		p := produceRaw(h, 1, "hz", tc.b)
		if p.ErrorCode != tc.code || p.ErrorMessage == nil {
			t.Errorf("%s: code %d message %v, want %d with a message", tc.name, p.ErrorCode, p.ErrorMessage, tc.code)
		}
		if tc.code == kerr.InvalidTimestamp.Code && (len(p.ErrorRecords) != 1 || p.ErrorRecords[0].RelativeOffset != 1) {
			t.Errorf("%s: record errors %+v, want record 1", tc.name, p.ErrorRecords)
		}
	}
	// Below produce v7 zstd is refused before anything is decoded, as
	// Kafka's ProduceRequest.validateRecords does: the bomb is not opened.
	req := produceReq("hz", 0, nil)
	req.Version = 6
	req.Topics[0].Partitions[0].Records = bomb
	if p := h.do(1, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.UnsupportedCompressionType.Code {
		t.Errorf("zstd bomb at produce v6: code %d, want UNSUPPORTED_COMPRESSION_TYPE", p.ErrorCode)
	}
	if fp, got := fetchAll(t, h, 1, "hz"); fp.HighWatermark != 1 || len(got) != 1 {
		t.Fatalf("after the refused batches: high watermark %d, records %v", fp.HighWatermark, got)
	}
}

// storedBatches returns the produce batches in a node's raft log for
// partition 0 of topic, in log order.
func storedBatches(t *testing.T, n *Node, topic string) [][]byte {
	t.Helper()
	g := n.groups[n.meta.topics[topic].partitions[0].group]
	var out [][]byte
	for _, b := range indexedBatches(t, g.part) {
		ents, err := g.st.Entries(b.raftIndex, b.raftIndex+1, math.MaxUint64)
		if err != nil {
			t.Fatal(err)
		}
		body, err := entryBatch(ents[0].GetData())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, body)
	}
	return out
}

// A producer's wrong max timestamp is corrected by the leader before it
// proposes, CRC and all, so every replica stores the same, valid bytes and
// ListOffsets searches by the records' timestamps.
func TestProduceMaxTimestampRecomputed(t *testing.T) {
	h := newHarness(t, 3)
	leader := uint64(waitTopic(t, h, 1, "mt"))
	b := wire.AppendCompressedBatch(nil, stampedSpec("m", 5000, 0, 40, 20), wire.CodecSnappy)
	binary.BigEndian.PutUint64(b[35:], 5000) // maxTimestamp: the first, not the largest
	binary.BigEndian.PutUint32(b[17:], wire.BatchCRC(b))
	h.until(5*time.Second, "a served produce", func() bool {
		return produceRaw(h, leader, "mt", b).ErrorCode == 0
	})
	h.until(5*time.Second, "every replica applied it", func() bool {
		for _, id := range h.ids {
			if len(h.nodes[id].n.groups[h.nodes[id].n.meta.topics["mt"].partitions[0].group].part.idx.tail) != 1 {
				return false
			}
		}
		return true
	})
	want := storedBatches(t, h.nodes[leader].n, "mt")[0]
	hd, err := wire.ParseBatchHeader(want)
	if err != nil || hd.MaxTimestamp != 5040 || hd.CRC != wire.BatchCRC(want) {
		t.Fatalf("stored header %+v (%v): want max timestamp 5040 and a valid CRC", hd, err)
	}
	for _, id := range h.ids {
		got := storedBatches(t, h.nodes[id].n, "mt")[0]
		// The leader epoch and base offset are stamped at apply, the
		// same everywhere: the whole bytes must agree.
		if !bytes.Equal(got, want) {
			t.Fatalf("node %d stores other bytes than the leader %d", id, leader)
		}
	}
	p := h.do(leader, listOffsetsReq("mt", 0, -1, 5030)).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if p.Offset != 1 || p.Timestamp != 5040 {
		t.Fatalf("by timestamp 5030: offset %d ts %d, want 1 5040", p.Offset, p.Timestamp)
	}
}

// The planted max-timestamp-last-offset (KAFKA-16342) answers a compressed
// batch's last offset for the max timestamp; TestProduceCompressedEveryCodec
// is the same query without the bug, answering the first record carrying it.
func TestMaxTimestampLastOffsetPlanted(t *testing.T) {
	h := newHarness(t, 1, func(c *Config) { c.Bug = BugMaxTimestampLastOffset })
	waitTopic(t, h, 1, "ml")
	b := wire.AppendCompressedBatch(nil, stampedSpec("m", 7000, 0, 0, 0), wire.CodecSnappy)
	h.until(5*time.Second, "a served produce", func() bool {
		return produceRaw(h, 1, "ml", b).ErrorCode == 0
	})
	req := listOffsetsReq("ml", 0, -1, -3)
	req.Version = 7
	if p := h.do(1, req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; p.Offset != 2 {
		t.Fatalf("max timestamp with the bug: offset %d, want the batch's last, 2", p.Offset)
	}
}

// A topic's compression.type names the codec its batches are stored in: the
// leader rebuilds a producer's batch in it before proposing (Kafka's
// LogValidator), keeping offsets, producer fields and timestamps; the batch
// so rebuilt is held to max.message.bytes; "producer" keeps what was sent;
// and a fetch before v10 of a topic of compression.type zstd is
// UNSUPPORTED_COMPRESSION_TYPE (KIP-110).
func TestTopicCompressionType(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "warm")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "warm", nil, "a").ErrorCode == 0
	})
	names := map[int8]string{wire.CodecNone: "uncompressed", wire.CodecGzip: "gzip", wire.CodecSnappy: "snappy", wire.CodecLZ4: "lz4", wire.CodecZstd: "zstd"}
	codecs := append([]int8{wire.CodecNone}, testCodecs...)
	for _, target := range codecs {
		topic := "ct-" + names[target]
		if r := h.do(1, createWithConfigs(topic, 1, 1, "compression.type", names[target])).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
			t.Fatalf("create %s: code %d", topic, r.Topics[0].ErrorCode)
		}
		waitTopic(t, h, 1, topic)
		var want []string
		for k, src := range codecs {
			spec := stampedSpec(string(rune('p'+k)), int64(1000*(k+1)), 0, 30, 10)
			spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence = 9, 0, int32(3*k)
			p := produceRaw(h, 1, topic, wire.AppendCompressedBatch(nil, spec, src))
			if p.ErrorCode != 0 {
				t.Fatalf("%s from codec %d: code %d %v", topic, src, p.ErrorCode, p.ErrorMessage)
			}
			for i, r := range spec.Records {
				want = append(want, fmt.Sprintf("%d:%s", p.BaseOffset+int64(i), r.Value))
			}
		}
		for i, b := range storedBatches(t, h.nodes[1].n, topic) {
			hd, err := wire.ParseBatchHeader(b)
			if err != nil || hd.Codec() != target || hd.ProducerID != 9 || hd.BaseSequence != int32(3*i) || hd.MaxTimestamp != int64(1000*(i+1))+30 {
				t.Fatalf("%s: stored batch %d: codec %d pid %d seq %d max ts %d (%v), want codec %d", topic, i, hd.Codec(), hd.ProducerID, hd.BaseSequence, hd.MaxTimestamp, err, target)
			}
			if crc := wire.BatchCRC(b); crc != hd.CRC {
				t.Fatalf("%s: stored batch %d: crc %08x, computed %08x", topic, i, hd.CRC, crc)
			}
		}
		fp, got := fetchAll(t, h, 1, topic)
		if fp.ErrorCode != 0 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: fetch code %d %v, want %v", topic, fp.ErrorCode, got, want)
		}
		old := fetchReq(topic, 0, 0, 0, 1)
		old.Version = 9
		code := h.do(1, old).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
		if wantCode := map[bool]int16{true: kerr.UnsupportedCompressionType.Code, false: 0}[target == wire.CodecZstd]; code != wantCode {
			t.Fatalf("%s: fetch v9: code %d, want %d", topic, code, wantCode)
		}
	}
	// zstd a producer chose, in a topic that keeps the producer's codec, is
	// served to an old fetch: Kafka refuses by the topic's config only.
	if p := produceRaw(h, 1, "warm", wire.AppendCompressedBatch(nil, stampedSpec("z", 1000, 0), wire.CodecZstd)); p.ErrorCode != 0 {
		t.Fatalf("zstd produce to a producer-codec topic: code %d", p.ErrorCode)
	}
	old := fetchReq("warm", 0, 0, 0, 1)
	old.Version = 9
	if fp := h.do(1, old).(*kmsg.FetchResponse).Topics[0].Partitions[0]; fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 {
		t.Fatalf("fetch v9 of a producer's zstd batch: code %d, %d bytes", fp.ErrorCode, len(fp.RecordBatches))
	}
	// Incompressible values that gzip makes larger than the limit.
	if r := h.do(1, createWithConfigs("ct-tight", 1, 1, "compression.type", "gzip", "max.message.bytes", "4096")).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("create ct-tight: code %d", r.Topics[0].ErrorCode)
	}
	waitTopic(t, h, 1, "ct-tight")
	noise := make([]byte, 4000)
	x := uint32(1)
	for i := range noise { // xorshift: incompressible, and the same every run
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		noise[i] = byte(x)
	}
	spec := wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: 1000, Records: []wire.Record{{Value: noise}}}
	plain := wire.AppendBatch(nil, spec)
	if len(plain) > 4096 {
		t.Fatalf("test batch of %d bytes is over the limit before compression", len(plain))
	}
	if p := produceRaw(h, 1, "ct-tight", plain); p.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("a batch over max.message.bytes once gzipped: code %d, want MESSAGE_TOO_LARGE", p.ErrorCode)
	}
}
