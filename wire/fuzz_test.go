package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzFrame checks FrameReader against a one-shot reference split: however
// the stream is chunked, the same frames come out, then the same verdict.
func FuzzFrame(f *testing.F) {
	f.Add(framed([]byte("abc"), nil, []byte("de")), 1, 16)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 2, 16)
	f.Add(append(framed([]byte("ok")), 0, 0, 1, 0), 3, 16)
	f.Fuzz(func(t *testing.T, stream []byte, chunk, frameBytesMax int) {
		chunk = 1 + abs(chunk)%64
		frameBytesMax = 1 + abs(frameBytesMax)%1024

		// Reference: split the whole stream at once.
		var want [][]byte
		var wantErr error
		for rest := stream; len(rest) >= 4; {
			n := int32(binary.BigEndian.Uint32(rest))
			if n < 0 {
				wantErr = ErrBadFrameSize
				break
			}
			if int(n) > frameBytesMax {
				wantErr = ErrFrameTooLarge
				break
			}
			if len(rest)-4 < int(n) {
				break
			}
			want = append(want, rest[4:4+n])
			rest = rest[4+n:]
		}

		r := NewFrameReader(frameBytesMax)
		got, err := drain(t, r, stream, chunk)
		if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
			t.Fatalf("err = %v, want %v", err, wantErr)
		}
		if len(want) != len(got) {
			t.Fatalf("%d frames, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(want[i], got[i]) {
				t.Fatalf("frame %d = %x, want %x", i, got[i], want[i])
			}
		}
		if r.Buffered() > len(stream) {
			t.Fatalf("buffered %d of a %d-byte stream", r.Buffered(), len(stream))
		}
	})
}

func abs(x int) int {
	if x < 0 {
		if x == -x { // MinInt
			return 0
		}
		return -x
	}
	return x
}

// FuzzParseRequest checks that ParseRequest never panics and that whatever
// it accepts survives a re-encode: AppendRequest of the parsed request
// parses back to the same request.
func FuzzParseRequest(f *testing.F) {
	for _, req := range sampleRequests(&testing.T{}) {
		f.Add(AppendRequest(nil, 3, strp("c"), req)[4:])
	}
	f.Add(append(header(18, 4, 1), 0xff, 0xff))
	f.Add([]byte{0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 1, 0, 1, 0})
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := ParseRequest(frame, allKmsg)
		if err != nil {
			if req.Body != nil {
				t.Fatalf("body with error %v", err)
			}
			var uv *UnsupportedVersionError
			var ua *UnknownAPIError
			if !errors.Is(err, ErrMalformed) && !errors.As(err, &uv) && !errors.As(err, &ua) {
				t.Fatalf("unexpected error kind %T: %v", err, err)
			}
			return
		}
		if req.Body.GetVersion() != req.Header.Version || req.Body.Key() != req.Header.Key {
			t.Fatalf("body key/version %d/%d, header %+v", req.Body.Key(), req.Body.GetVersion(), req.Header)
		}
		again := AppendRequest(nil, req.Header.CorrelationID, req.Header.ClientID, req.Body)
		req2, err := ParseRequest(again[4:], allKmsg)
		if err != nil {
			t.Fatalf("re-encoded request does not parse: %v", err)
		}
		if diff := cmp.Diff(req, req2, cmpKmsg); diff != "" {
			t.Fatalf("re-encode changed the request (-first +second)\n%s", diff)
		}
	})
}

// FuzzValidateProduceBatch checks that batch validation never panics, that
// errors are always *BatchError, that an accepted batch, compressed or not,
// decodes with ParseRecords to as many records as it declares, and that an
// uncompressed one re-encodes to the same records. Decoding is bounded to
// 1 MiB so that a fuzzed bomb costs at most that.
func FuzzValidateProduceBatch(f *testing.F) {
	const decodedMax = 1 << 20
	f.Add(AppendBatch(nil, sampleSpec()), 1<<20, false)
	for _, codec := range []int8{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		f.Add(AppendCompressedBatch(nil, sampleSpec(), codec), 1<<20, true)
	}
	f.Add(withSection(AppendBatch(nil, sampleSpec()), CodecSnappy, xerial(AppendBatch(nil, sampleSpec())[BatchHeaderBytes:], 9)), 1<<20, true)
	f.Add(AppendBatch(nil, BatchSpec{Records: []Record{{}}}), 100, false)
	f.Add(append(AppendBatch(nil, sampleSpec()), 0), 1<<20, true)
	f.Add(make([]byte, 61), 1<<20, true)
	f.Fuzz(func(t *testing.T, b []byte, maxBytes int, fix bool) {
		// Random bytes almost never carry a valid CRC, which would keep the
		// fuzzer out of record parsing; fix lets it get past that check.
		if fix && len(b) >= BatchHeaderBytes {
			b = reseal(b)
		}
		// Neither may panic on anything.
		_, _ = SplitBatches(b)
		_, _, _ = ParseRecordsMax(b, decodedMax)

		h, _, err := ValidateProduceRecords(b, ProduceLimits{BatchBytesMax: maxBytes, DecodedBytesMax: decodedMax})
		if err != nil {
			var be *BatchError
			if !errors.As(err, &be) {
				t.Fatalf("error %T is not a *BatchError: %v", err, err)
			}
			return
		}
		if h.TotalBytes() > len(b) {
			t.Fatalf("accepted a batch of %d bytes in %d", h.TotalBytes(), len(b))
		}
		b = b[:h.TotalBytes()] // trailing bytes too few for a batch are ignored, as Kafka does
		if len(b) > maxBytes || BatchCRC(b) != h.CRC {
			t.Fatalf("accepted inconsistent batch %+v of %d bytes", h, len(b))
		}
		h2, recs, err := ParseRecordsMax(b, decodedMax)
		if h.Codec() != CodecNone {
			if err != nil || h2 != h || len(recs) != int(h.NumRecords) {
				t.Fatalf("ParseRecords of a valid compressed batch: %d records, %v", len(recs), err)
			}
			return
		}
		if err != nil || h2 != h || len(recs) != int(h.NumRecords) {
			t.Fatalf("ParseRecords of a valid batch: %d records, %v", len(recs), err)
		}
		again := AppendBatch(nil, BatchSpec{
			BaseOffset: h.BaseOffset, PartitionLeaderEpoch: h.PartitionLeaderEpoch, Attributes: h.Attributes,
			FirstTimestamp: h.FirstTimestamp, ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
			BaseSequence: h.BaseSequence, Records: recs,
		})
		_, recs2, err := ParseRecords(again)
		if err != nil {
			t.Fatalf("re-encoded batch does not parse: %v", err)
		}
		if diff := cmp.Diff(recs, recs2); diff != "" {
			t.Fatalf("re-encode changed records:\n%s", diff)
		}
		// kmsg is an independent decoder of the same format.
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(b); err != nil {
			t.Fatalf("kmsg rejects a batch we accepted: %v", err)
		}
	})
}

// FuzzDecompress checks the codecs on their own: whatever the bytes,
// Decompress returns a *BatchError or at most limit bytes, never panics, and
// what it decodes survives the codec's encoder: a fuzzed
// input that decodes re-encodes (Compress) to something decoding to the same
// bytes.
func FuzzDecompress(f *testing.F) {
	section := AppendBatch(nil, sampleSpec())[BatchHeaderBytes:]
	for _, codec := range []int8{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		f.Add(uint8(codec), Compress(codec, section), 1<<16)
	}
	f.Add(uint8(CodecSnappy), xerial(section, 9), 1<<16)
	f.Add(uint8(CodecSnappy), append(binary.AppendUvarint(nil, 1<<31), 0, 0), 1<<16)
	f.Add(uint8(CodecZstd), Compress(CodecZstd, make([]byte, 1<<20)), 1<<10)
	f.Fuzz(func(t *testing.T, codec uint8, src []byte, limit int) {
		// The bounds DecodedBytesMax gives: at least its floor (below it
		// zstd refuses frames for their window alone).
		limit = decodedBytesFloor + abs(limit)%(1<<20)
		out, err := Decompress(int8(codec%8), src, limit)
		if err != nil {
			var be *BatchError
			if !errors.As(err, &be) {
				t.Fatalf("error %T is not a *BatchError: %v", err, err)
			}
			return
		}
		if len(out) > limit {
			t.Fatalf("decoded %d bytes past the limit %d", len(out), limit)
		}
		again, err := Decompress(int8(codec%8), Compress(int8(codec%8), out), limit)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-encoded output does not decode to itself: %v", err)
		}
	})
}
