package wire

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func sampleSpec() BatchSpec {
	return BatchSpec{
		BaseOffset:           0,
		PartitionLeaderEpoch: -1,
		FirstTimestamp:       1_700_000_000_000,
		ProducerID:           7,
		ProducerEpoch:        1,
		BaseSequence:         10,
		Records: []Record{
			{Value: []byte("v0")},
			{Key: []byte("k1"), Value: []byte{}, TimestampDelta: 5},
			{Key: []byte{}, Value: nil, TimestampDelta: 3, Headers: []RecordHeader{
				{Key: "h", Value: []byte("hv")}, {Key: "", Value: nil},
			}},
		},
	}
}

// reseal recomputes batchLength and the CRC after a test edits a batch, so
// the edit under test is the only thing wrong with it.
func reseal(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-batchLengthSpanBytes))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

func TestAppendParseRecordsRoundTrip(t *testing.T) {
	spec := sampleSpec()
	b := AppendBatch([]byte("xx"), spec)[2:]
	h, err := ValidateProduceBatch(b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := BatchHeader{
		BaseOffset: 0, BatchLength: int32(len(b) - 12), PartitionLeaderEpoch: -1, Magic: 2,
		CRC: crc32.Checksum(b[21:], castagnoli), LastOffsetDelta: 2,
		FirstTimestamp: spec.FirstTimestamp, MaxTimestamp: spec.FirstTimestamp + 5,
		ProducerID: 7, ProducerEpoch: 1, BaseSequence: 10, NumRecords: 3,
	}
	if diff := cmp.Diff(wantHeader, h); diff != "" {
		t.Fatalf("header (-want +got)\n%s", diff)
	}
	h2, recs, err := ParseRecords(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h, h2); diff != "" {
		t.Fatalf("ParseRecords header differs:\n%s", diff)
	}
	if diff := cmp.Diff(spec.Records, recs); diff != "" {
		t.Fatalf("records (-want +got)\n%s", diff)
	}
}

// kmsg's RecordBatch is an independent decoder of the same format: our
// encoder must agree with it, CRC included.
func TestAppendBatchMatchesKmsg(t *testing.T) {
	b := AppendBatch(nil, sampleSpec())
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	if kb.NumRecords != 3 || kb.LastOffsetDelta != 2 || kb.Magic != 2 || uint32(kb.CRC) != BatchCRC(b) {
		t.Fatalf("kmsg disagrees: %+v", kb)
	}
	if diff := cmp.Diff(b, kb.AppendTo(nil)); diff != "" {
		t.Fatalf("kmsg re-encodes differently:\n%s", diff)
	}
}

func TestSetters(t *testing.T) {
	b := AppendBatch(nil, sampleSpec())
	SetBaseOffset(b, 1234)
	SetPartitionLeaderEpoch(b, 9)
	// A stamped batch is a stored one (a produced batch must carry
	// baseOffset 0): its CRC must still hold.
	h, err := ParseBatchHeader(b)
	if err != nil || BatchCRC(b) != h.CRC {
		t.Fatalf("stamping broke the batch: %v, crc %08x computed %08x", err, h.CRC, BatchCRC(b))
	}
	if h.BaseOffset != 1234 || h.PartitionLeaderEpoch != 9 {
		t.Fatalf("header %+v", h)
	}
}

func TestSettersPanicOnShortBatch(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a short batch")
		}
	}()
	SetBaseOffset(make([]byte, 60), 1)
}

func TestValidateProduceBatchErrors(t *testing.T) {
	good := func() []byte { return AppendBatch(nil, sampleSpec()) }
	one := func() []byte { return AppendBatch(nil, BatchSpec{Records: []Record{{Value: []byte("v")}}}) }
	setU32 := func(b []byte, off int, v uint32) []byte { binary.BigEndian.PutUint32(b[off:], v); return b }
	tests := []struct {
		name     string
		batch    []byte
		maxBytes int
		code     int16
	}{
		{"empty", nil, 1 << 20, CodeInvalidRecord},
		{"shorter than the length", good()[:10], 1 << 20, CodeInvalidRecord},
		{"shorter than magic", good()[:16], 1 << 20, CodeInvalidRecord},
		{"truncated header", good()[:40], 1 << 20, CodeInvalidRecord},
		{"truncated body", good()[:len(good())-1], 1 << 20, CodeInvalidRecord},
		{"wrong crc", func() []byte { b := good(); b[len(b)-1] ^= 1; return b }(), 1 << 20, CodeCorruptMessage},
		{"crc field flipped", func() []byte { b := good(); b[offCRC] ^= 1; return b }(), 1 << 20, CodeCorruptMessage},
		{"magic 1", func() []byte { b := good(); b[offMagic] = 1; return b }(), 1 << 20, CodeInvalidRecord},
		{"magic 3", func() []byte { b := good(); b[offMagic] = 3; return b }(), 1 << 20, CodeCorruptMessage},
		{"magic -1", func() []byte { b := good(); b[offMagic] = 0xff; return b }(), 1 << 20, CodeCorruptMessage},
		{"magic 0 short", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1 << 20, CodeInvalidRecord},
		{"magic 0 whole", make26(), 1 << 20, CodeInvalidRecord},
		{"batchLength too big", setU32(good(), offBatchLength, uint32(len(good()))), 1 << 20, CodeInvalidRecord},
		{"baseOffset not 0", func() []byte { b := good(); b[offBaseOffset+7] = 5; return b }(), 1 << 20, CodeInvalidRecord},
		{"baseOffset not 0 beats size", func() []byte { b := good(); b[offBaseOffset+7] = 5; return b }(), 10, CodeInvalidRecord},
		{"v2 batch shorter than its header", setU32(good()[:30], offBatchLength, 18), 1 << 20, CodeCorruptMessage},
		{"producer id without sequence", AppendBatch(nil, BatchSpec{ProducerID: 7, ProducerEpoch: 0, BaseSequence: -1, Records: []Record{{Value: []byte("v")}}}), 1 << 20, CodeInvalidRecord},
		{"second batch with a bad magic", append(good(), func() []byte { b := good()[:20]; b[offMagic] = 9; return b }()...), 1 << 20, CodeCorruptMessage},
		{"second batch bad length", append(good(), setU32(good(), offBatchLength, 3)...), 1 << 20, CodeCorruptMessage},
		{"batchLength too small", setU32(good(), offBatchLength, uint32(len(good())-13)), 1 << 20, CodeCorruptMessage},
		{"batchLength below header", setU32(good(), offBatchLength, 10), 1 << 20, CodeCorruptMessage},
		{"batchLength negative", setU32(good(), offBatchLength, 0xffffffff), 1 << 20, CodeCorruptMessage},
		{"two batches", append(good(), good()...), 1 << 20, CodeInvalidRecord},
		{"over maxBytes", good(), len(good()) - 1, CodeMessageTooLarge},
		{"unknown codec", reseal(func() []byte { b := good(); b[offAttributes+1] |= 5; return b }()), 1 << 20, CodeUnsupportedCompressionType},
		{"control batch", reseal(func() []byte { b := good(); b[offAttributes+1] |= 0x20; return b }()), 1 << 20, CodeInvalidRecord},
		{"lastOffsetDelta mismatch", reseal(setU32(good(), offLastOffsetDelta, 1)), 1 << 20, CodeInvalidRecord},
		{"record count zero", reseal(setU32(setU32(good(), offRecordCount, 0), offLastOffsetDelta, 0xffffffff)), 1 << 20, CodeInvalidRecord},
		{"record count too high", reseal(setU32(setU32(good(), offRecordCount, 4), offLastOffsetDelta, 3)), 1 << 20, CodeInvalidRecord},
		{"record count huge", reseal(setU32(setU32(good(), offRecordCount, 1<<30), offLastOffsetDelta, 1<<30-1)), 1 << 20, CodeInvalidRecord},
		{"record count too low", reseal(setU32(setU32(good(), offRecordCount, 2), offLastOffsetDelta, 1)), 1 << 20, CodeInvalidRecord},
		{"records not filling section", reseal(append(good(), 0)), 1 << 20, CodeInvalidRecord},
		{"no records section", reseal(one()[:BatchHeaderBytes]), 1 << 20, CodeInvalidRecord},
		{"offset delta wrong", reseal(func() []byte {
			b := one()
			b[BatchHeaderBytes+3] = 2 // length, attributes, timestampDelta, then offsetDelta (zigzag 1)
			return b
		}()), 1 << 20, CodeInvalidRecord},
		{"record length past section", reseal(func() []byte { b := one(); b[BatchHeaderBytes] = 0x7e; return b }()), 1 << 20, CodeInvalidRecord},
		{"record length negative", reseal(func() []byte { b := one(); b[BatchHeaderBytes] = 1; return b }()), 1 << 20, CodeInvalidRecord},
		{"record length longer than fields", reseal(func() []byte {
			b := one()
			b[BatchHeaderBytes] += 2
			return append(b, 0, 0)
		}()), 1 << 20, CodeInvalidRecord},
		{"key length -2", reseal(func() []byte { b := one(); b[BatchHeaderBytes+4] = 3; return b }()), 1 << 20, CodeInvalidRecord},
		{"compressed, empty payload", reseal(func() []byte { b := one()[:BatchHeaderBytes]; b[offAttributes+1] = 1; return b }()), 1 << 20, CodeCorruptMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ValidateProduceBatch(tt.batch, tt.maxBytes)
			var be *BatchError
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want a *BatchError", err)
			}
			if be.Code != tt.code {
				t.Fatalf("code %d (%v), want %d", be.Code, err, tt.code)
			}
		})
	}
}

// make26 is a whole magic-0 message of 26 bytes: Kafka finds a batch, then
// refuses its format.
func make26() []byte {
	b := make([]byte, 26)
	binary.BigEndian.PutUint32(b[offBatchLength:], 14)
	return b
}

// TestValidateProduceBatchTrailingBytes: bytes after the batch too few to be
// another whole batch are ignored, as Kafka trims them.
func TestValidateProduceBatchTrailingBytes(t *testing.T) {
	b := AppendBatch(nil, sampleSpec())
	n := len(b)
	for _, tail := range [][]byte{{0}, make([]byte, 11), b[:20], b[:n-1]} {
		h, err := ValidateProduceBatch(append(b[:n:n], tail...), 1<<20)
		if err != nil {
			t.Fatalf("batch with %d trailing bytes: %v", len(tail), err)
		}
		if h.TotalBytes() != n {
			t.Fatalf("batch with %d trailing bytes: TotalBytes %d, want %d", len(tail), h.TotalBytes(), n)
		}
	}
}

func TestValidateProduceBatchAccepts(t *testing.T) {
	tests := map[string][]byte{
		"sample":          AppendBatch(nil, sampleSpec()),
		"exact maxBytes":  AppendBatch(nil, sampleSpec()),
		"gzip":            AppendCompressedBatch(nil, sampleSpec(), CodecGzip),
		"snappy":          AppendCompressedBatch(nil, sampleSpec(), CodecSnappy),
		"lz4":             AppendCompressedBatch(nil, sampleSpec(), CodecLZ4),
		"zstd":            AppendCompressedBatch(nil, sampleSpec(), CodecZstd),
		"transactional":   reseal(func() []byte { b := AppendBatch(nil, sampleSpec()); b[offAttributes+1] |= 0x10; return b }()),
		"one null record": AppendBatch(nil, BatchSpec{Records: []Record{{}}}),
	}
	for name, b := range tests {
		h, err := ValidateProduceBatch(b, len(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h.TotalBytes() != len(b) {
			t.Fatalf("%s: TotalBytes %d, len %d", name, h.TotalBytes(), len(b))
		}
	}
}

func TestBatchHeaderAttributes(t *testing.T) {
	h := BatchHeader{Attributes: 0x34 | int16(CodecZstd)}
	if h.Codec() != CodecZstd || !h.Transactional() || !h.Control() {
		t.Fatalf("attributes misread: codec %d txn %v control %v", h.Codec(), h.Transactional(), h.Control())
	}
	if (BatchHeader{}).Transactional() || (BatchHeader{}).Control() {
		t.Fatal("zero attributes read as set")
	}
}

func TestSplitBatches(t *testing.T) {
	a := AppendBatch(nil, sampleSpec())
	b := AppendBatch(nil, BatchSpec{BaseOffset: 3, Records: []Record{{Value: []byte("x")}}})
	all := append(append([]byte(nil), a...), b...)
	tests := []struct {
		name string
		in   []byte
		want [][]byte
		bad  bool
	}{
		{name: "empty", in: nil, want: nil},
		{name: "two", in: all, want: [][]byte{a, b}},
		{name: "partial trailing batch", in: all[:len(all)-1], want: [][]byte{a}},
		{name: "partial trailing length", in: all[:len(a)+7], want: [][]byte{a}},
		{name: "corrupt length", in: append(append([]byte(nil), a...), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5), want: [][]byte{a}, bad: true},
		{name: "negative length", in: append(append([]byte(nil), a...), 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0), want: [][]byte{a}, bad: true},
	}
	for _, tt := range tests {
		got, err := SplitBatches(tt.in)
		if (err != nil) != tt.bad {
			t.Fatalf("%s: err = %v, want error %v", tt.name, err, tt.bad)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Fatalf("%s: (-want +got)\n%s", tt.name, diff)
		}
	}
}

func TestParseBatchHeaderAndRecordsErrors(t *testing.T) {
	b := AppendBatch(nil, sampleSpec())
	if _, err := ParseBatchHeader(b[:60]); err == nil {
		t.Fatal("short header accepted")
	}
	if _, _, err := ParseRecords(b[:len(b)-1]); err == nil {
		t.Fatal("truncated batch accepted")
	}
	// Uncompressed records claiming gzip: not a gzip stream.
	gz := reseal(func() []byte { c := AppendBatch(nil, sampleSpec()); c[offAttributes+1] |= 1; return c }())
	if _, _, err := ParseRecords(gz); err == nil {
		t.Fatal("ParseRecords decoded plain records as gzip")
	}
	// Trailing bytes after the batch are not ParseRecords' business.
	if _, recs, err := ParseRecords(append(b, 1, 2, 3)); err != nil || len(recs) != 3 {
		t.Fatalf("trailing bytes: %d records, %v", len(recs), err)
	}
}
