package wire

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var codecs = map[string]int8{"gzip": CodecGzip, "snappy": CodecSnappy, "lz4": CodecLZ4, "zstd": CodecZstd}

// sealSection builds a batch from spec's header fields around an arbitrary
// (decoded) records section, compressed with codec: what a buggy or hostile
// producer could send, with a valid CRC.
func sealSection(spec BatchSpec, numRecords int32, section []byte, codec int8) []byte {
	b := AppendBatch(nil, spec)[:BatchHeaderBytes]
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(numRecords))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(numRecords-1))
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(codec))
	return reseal(append(b, Compress(codec, section)...))
}

// xerial frames src as snappy-java's SnappyOutputStream does: the header
// (magic, version 1, compatible version 1), then blocks of at most
// blockBytes, each a big-endian length and a raw snappy block.
func xerial(src []byte, blockBytes int) []byte {
	out := append(append([]byte(nil), xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1)
	for len(src) > 0 {
		n := min(blockBytes, len(src))
		blk := s2.EncodeSnappy(nil, src[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
		out = append(out, blk...)
		src = src[n:]
	}
	return out
}

func withSection(b []byte, codec int8, compressed []byte) []byte {
	out := append(append([]byte(nil), b[:BatchHeaderBytes]...), compressed...)
	binary.BigEndian.PutUint16(out[offAttributes:], uint16(codec))
	return reseal(out)
}

// Every codec round-trips through validation and ParseRecords, and kmsg (an
// independent implementation, franz-go's) reads the same batch.
func TestCompressedRoundTrip(t *testing.T) {
	spec := sampleSpec()
	for name, codec := range codecs {
		b := AppendCompressedBatch(nil, spec, codec)
		h, info, err := ValidateProduceRecords(b, ProduceLimits{BatchBytesMax: len(b)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h.Codec() != codec || info.MaxTimestamp != spec.FirstTimestamp+5 || info.OffsetOfMaxTimestamp != 1 {
			t.Fatalf("%s: codec %d, max timestamp %d at %d", name, h.Codec(), info.MaxTimestamp, info.OffsetOfMaxTimestamp)
		}
		_, recs, err := ParseRecords(b)
		if err != nil {
			t.Fatalf("%s: ParseRecords: %v", name, err)
		}
		if diff := cmp.Diff(spec.Records, recs); diff != "" {
			t.Fatalf("%s: records (-sent +parsed)\n%s", name, diff)
		}
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(b); err != nil || kb.Attributes&7 != int16(codec) {
			t.Fatalf("%s: kmsg: %v", name, err)
		}
	}
}

// The framings other clients write: xerial (Java, kafka-python), in one
// block and in several, and concatenated gzip members.
func TestCompressedFramings(t *testing.T) {
	plain := AppendBatch(nil, sampleSpec())
	section := plain[BatchHeaderBytes:]
	var two bytes.Buffer
	for _, part := range [][]byte{section[:10], section[10:]} {
		zw := gzip.NewWriter(&two)
		zw.Write(part)
		zw.Close()
	}
	// zstd-jni's streaming (the Java client) writes frames with no
	// content size, whose window the decoder sees instead: 8 MiB at the
	// higher levels, accepted under the smallest batch limits.
	var zs bytes.Buffer
	zw, err := zstd.NewWriter(&zs, zstd.WithWindowSize(8<<20), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(section[:10])
	zw.Flush() // the frame header goes out before the size is known
	zw.Write(section[10:])
	zw.Close()
	if fh := zs.Bytes()[4]; fh&0xc0 != 0 || fh&0x20 != 0 {
		t.Fatalf("test setup: zstd frame header %#x declares a content size or a single segment", fh)
	}
	cases := map[string][]byte{
		"zstd stream, 8 MiB window": withSection(plain, CodecZstd, zs.Bytes()),
		"xerial one block":          withSection(plain, CodecSnappy, xerial(section, 32<<10)),
		"xerial many blocks":        withSection(plain, CodecSnappy, xerial(section, 7)),
		"gzip two members":          withSection(plain, CodecGzip, two.Bytes()),
	}
	for name, b := range cases {
		if _, err := ValidateProduceBatch(b, len(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, recs, err := ParseRecords(b); err != nil || len(recs) != 3 || string(recs[0].Value) != "v0" {
			t.Fatalf("%s: %d records, %v", name, len(recs), err)
		}
	}
}

// A compressed batch's count, offsets and record framing are read from its
// records, not trusted from its header.
func TestCompressedRecordsValidated(t *testing.T) {
	spec := sampleSpec()
	section := AppendBatch(nil, spec)[BatchHeaderBytes:]
	// One record encoded with offset delta 5.
	oneAt5 := appendRecord(nil, 5, Record{Value: []byte("x")})
	for name, codec := range codecs {
		cases := map[string][]byte{
			"count above the records": sealSection(spec, 4, section, codec),
			"count below the records": sealSection(spec, 2, section, codec),
			"offset delta not 0":      sealSection(spec, 1, oneAt5, codec),
			"truncated record":        sealSection(spec, 3, section[:len(section)-1], codec),
			"bad varint":              sealSection(spec, 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, codec),
			"garbage payload":         withSection(AppendBatch(nil, spec), codec, []byte("not compressed at all")),
		}
		for what, b := range cases {
			_, err := ValidateProduceBatch(b, 1<<20)
			var be *BatchError
			if !errors.As(err, &be) || be.Code != CodeInvalidRecord {
				t.Fatalf("%s %s: %v, want INVALID_RECORD", name, what, err)
			}
		}
	}
}

// A decompression bomb is refused with MESSAGE_TOO_LARGE once its output
// passes the bound, and decoding it allocates about the bound, not what it
// would inflate to.
func TestDecompressionBomb(t *testing.T) {
	const inflatedBytes = 64 << 20
	zeros := make([]byte, inflatedBytes)
	spec := BatchSpec{Records: []Record{{}}}
	plain := AppendBatch(nil, spec)
	bombs := map[string][]byte{}
	for _, name := range []string{"gzip", "lz4", "zstd"} {
		bombs[name] = sealSection(spec, 1, zeros, codecs[name])
	}
	zeros = nil
	// Snappy inflates at most about 21 times, but a block declares its
	// decoded length up front: a few bytes can claim gigabytes.
	claim := binary.AppendUvarint(nil, 1<<31)
	bombs["snappy claims 2 GiB"] = withSection(plain, CodecSnappy, append(claim, 0, 0, 0, 0))
	var blocks []byte
	for range 64 {
		blk := binary.AppendUvarint(nil, 1<<20)
		blocks = binary.BigEndian.AppendUint32(blocks, uint32(len(blk)+2))
		blocks = append(append(blocks, blk...), 0, 0)
	}
	bombs["xerial blocks claiming 64 MiB"] = withSection(plain, CodecSnappy,
		append(append(append([]byte(nil), xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1), blocks...))
	for name, b := range bombs {
		// Each bomb is held to the smallest batch limit it fits, so the
		// decoded bound (64 times that) is below what it inflates to.
		batchBytesMax := max(len(b), 64<<10)
		limit := DecodedBytesMax(batchBytesMax)
		if limit >= inflatedBytes {
			t.Fatalf("%s: bomb of %d bytes is not small", name, len(b))
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := ValidateProduceBatch(b, batchBytesMax)
		runtime.ReadMemStats(&after)
		var be *BatchError
		if !errors.As(err, &be) || be.Code != CodeMessageTooLarge {
			t.Fatalf("%s: %v, want MESSAGE_TOO_LARGE", name, err)
		}
		// The output buffer doubles up to the bound (about twice it in
		// all, then one more of it); lz4's block buffers add a few MiB.
		if got := after.TotalAlloc - before.TotalAlloc; got > uint64(4*limit+16<<20) {
			t.Fatalf("%s: decoding allocated %d bytes, bound %d", name, got, limit)
		}
		if _, _, err := ParseRecordsMax(b, limit); err == nil {
			t.Fatalf("%s: ParseRecordsMax decoded past its bound", name)
		}
	}
}

// Decoding leaves no goroutine behind (the zstd and lz4 decoders are made
// with concurrency 1 and read synchronously).
func TestDecompressNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 20 {
		for _, codec := range codecs {
			b := AppendCompressedBatch(nil, sampleSpec(), codec)
			if _, _, err := ParseRecords(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("goroutines %d before decoding, %d after", before, after)
	}
}

// Timestamps: bounds as message.timestamp.{before,after}.max.ms, naming the
// records outside them; the max timestamp read from the records.
func TestProduceTimestamps(t *testing.T) {
	const now = 1_700_000_000_000
	spec := BatchSpec{FirstTimestamp: now, ProducerID: -1, BaseSequence: -1, Records: []Record{
		{Value: []byte("a")}, {Value: []byte("b"), TimestampDelta: 7_200_000}, {Value: []byte("c"), TimestampDelta: -5},
	}}
	lim := ProduceLimits{BatchBytesMax: 1 << 20, Timestamps: true, NowMs: now, TimestampBeforeMaxMs: 1 << 62, TimestampAfterMaxMs: 3_600_000}
	for name, codec := range map[string]int8{"none": CodecNone, "zstd": CodecZstd} {
		b := AppendCompressedBatch(nil, spec, codec)
		_, _, err := ValidateProduceRecords(b, lim)
		var be *BatchError
		if !errors.As(err, &be) || be.Code != CodeInvalidTimestamp || len(be.Records) != 1 || be.Records[0].Index != 1 {
			t.Fatalf("%s: %v %+v, want INVALID_TIMESTAMP for record 1", name, err, be)
		}
		before := lim
		before.TimestampBeforeMaxMs, before.TimestampAfterMaxMs = 1, 1<<62
		if _, _, err := ValidateProduceRecords(b, before); !errors.As(err, &be) || len(be.Records) != 1 || be.Records[0].Index != 2 {
			t.Fatalf("%s: before bound: %v", name, err)
		}
		// Extreme timestamps and bounds do not overflow into acceptance.
		wide := lim
		wide.TimestampAfterMaxMs, wide.TimestampBeforeMaxMs = 1<<63-1, 1<<63-1
		if _, info, err := ValidateProduceRecords(b, wide); err != nil || info.MaxTimestamp != now+7_200_000 || info.OffsetOfMaxTimestamp != 1 {
			t.Fatalf("%s: unbounded: %v, max %d at %d", name, err, info.MaxTimestamp, info.OffsetOfMaxTimestamp)
		}
	}
	far := BatchSpec{FirstTimestamp: -1 << 63, ProducerID: -1, BaseSequence: -1, Records: []Record{{}}}
	if _, _, err := ValidateProduceRecords(AppendBatch(nil, far), lim); err == nil {
		t.Fatal("timestamp -2^63 accepted under a finite before bound? it is 2^63 ms before now")
	}
}

// A header lying about its max timestamp is corrected by SetMaxTimestamp,
// with a CRC that still checks.
func TestSetMaxTimestamp(t *testing.T) {
	b := AppendCompressedBatch(nil, sampleSpec(), CodecSnappy)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], 1)
	reseal(b)
	_, info, err := ValidateProduceRecords(b, ProduceLimits{BatchBytesMax: len(b)})
	if err != nil {
		t.Fatal(err)
	}
	SetMaxTimestamp(b, info.MaxTimestamp)
	h, err := ValidateProduceBatch(b, len(b))
	if err != nil || h.MaxTimestamp != info.MaxTimestamp || h.CRC != crc32.Checksum(b[offAttributes:], castagnoli) {
		t.Fatalf("after SetMaxTimestamp: %+v, %v", h, err)
	}
}
