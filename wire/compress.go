package wire

// Compressed record batches: the records section of a batch whose codec is
// not none is one compressed blob, in the format each Kafka client writes:
//
//   - gzip: a gzip stream (RFC 1952; members may be concatenated);
//   - snappy: either one raw snappy block (franz-go, librdkafka) or the
//     xerial framing snappy-java's SnappyOutputStream writes (the Java
//     client, kafka-python): a 16-byte header, then blocks each behind a
//     big-endian length;
//   - lz4: an LZ4 frame (magic v1 and later; magic 0's broken header
//     checksum never reaches a v2 batch);
//   - zstd: one or more zstd frames.
//
// Decoding is bounded: a few kilobytes that inflate to gigabytes (a
// decompression bomb) get an error once the output passes the caller's
// limit, never the memory. The decoders run in the caller's goroutine: the
// zstd decoder is made with concurrency 1 and no reader (DecodeAll only),
// lz4's with concurrency 1; neither then starts a goroutine, so the package
// stays deterministic under the simulator.

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// decodeInflationMax bounds a compressed batch's decoded records by a
// multiple of the batch size limit. Kafka itself streams the records and
// sets no bound; real producers close a batch near their batch size
// measured before compression (franz-go, librdkafka) or on an estimate of
// the compressed size (Java), so their batches decode to a few times the
// limit at most, while a bomb inflates a thousandfold.
const decodeInflationMax = 64

// DecodedBytesCeiling caps the bound whatever the batch limit: kgo's own
// default (MaxDecompressBatchBytes) for a fetched batch.
const DecodedBytesCeiling = 1 << 30

// decodedBytesFloor is the least the bound is, however small the batch
// limit: a zstd frame is refused when its window is above the bound, and
// zstd's windows reach 8 MiB at the levels clients use (windowLog 23; the
// Java client's zstd-jni streams frames with no content size, so the
// window, not the content, is what the decoder sees).
const decodedBytesFloor = 8 << 20

// DecodedBytesMax is the decoded size a compressed batch of at most
// batchBytesMax bytes may reach: decodeInflationMax times the limit, at
// least decodedBytesFloor and at most DecodedBytesCeiling.
func DecodedBytesMax(batchBytesMax int) int {
	if batchBytesMax > DecodedBytesCeiling/decodeInflationMax {
		return DecodedBytesCeiling
	}
	return max(batchBytesMax*decodeInflationMax, decodedBytesFloor)
}

// errDecodedTooLarge is returned when the decoded bytes pass the limit.
var errDecodedTooLarge = errors.New("decoded size above the limit")

// xerialMagic opens snappy-java's framing; the version and the minimum
// compatible version (4 bytes each) follow.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderBytes = 16

// Decompress decodes a compressed records section (the bytes after a batch
// header) into a new slice of at most decodedMax bytes. The error is a
// *BatchError: MESSAGE_TOO_LARGE past the limit (a Java producer splits
// the batch on it), INVALID_RECORD for a blob that does not decode (Kafka
// answers UNKNOWN_SERVER_ERROR there, "Failed to decompress record
// stream"; ketch names the fault), UNSUPPORTED_COMPRESSION_TYPE for codecs
// 5..7.
func Decompress(codec int8, src []byte, decodedMax int) ([]byte, error) {
	out, err := decompress(codec, src, decodedMax)
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, errDecodedTooLarge):
		return nil, batchErr(CodeMessageTooLarge, "codec %d: records decode to more than %d bytes", codec, decodedMax)
	case codec < CodecGzip || codec > CodecZstd:
		return nil, batchErr(CodeUnsupportedCompressionType, "compression codec %d", codec)
	default:
		return nil, batchErr(CodeInvalidRecord, "codec %d: records do not decompress: %v", codec, err)
	}
}

func decompress(codec int8, src []byte, limit int) ([]byte, error) {
	switch codec {
	case CodecGzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		return readBounded(zr, limit)
	case CodecSnappy:
		if len(src) >= xerialHeaderBytes && bytes.HasPrefix(src, xerialMagic) {
			return xerialDecode(src[xerialHeaderBytes:], limit)
		}
		return snappyBlock(nil, src, limit)
	case CodecLZ4:
		zr := lz4.NewReader(bytes.NewReader(src))
		if err := zr.Apply(lz4.ConcurrencyOption(1)); err != nil {
			return nil, err
		}
		return readBounded(zr, limit)
	case CodecZstd:
		// DecodeAll checks the bound against each frame's declared size
		// before allocating and against the output as it grows.
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(max(limit, 1))))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		out, err := d.DecodeAll(src, nil)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) || len(out) > limit {
			return nil, errDecodedTooLarge
		}
		return out, err
	}
	return nil, fmt.Errorf("unknown codec %d", codec)
}

// readBounded reads r to its end, failing once more than limit bytes come.
// The buffer doubles but never past limit+1, so reading a bomb allocates
// at most about twice the limit in all.
func readBounded(r io.Reader, limit int) ([]byte, error) {
	out := make([]byte, 0, min(limit+1, 64<<10))
	for {
		if len(out) == cap(out) {
			if len(out) > limit {
				return nil, errDecodedTooLarge
			}
			out = append(make([]byte, 0, min(2*cap(out), limit+1)), out...)
		}
		n, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			if len(out) > limit {
				return nil, errDecodedTooLarge
			}
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// snappyBlock appends one raw snappy block's decoding to dst, checking the
// length the block declares before anything is allocated.
func snappyBlock(dst, src []byte, max int) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, err
	}
	if n > max-len(dst) {
		return nil, errDecodedTooLarge
	}
	if cap(dst)-len(dst) < n {
		dst = append(make([]byte, 0, len(dst)+n), dst...)
	}
	out, err := s2.Decode(dst[len(dst):cap(dst)], src)
	if err != nil {
		return nil, err
	}
	return dst[:len(dst)+len(out)], nil
}

// xerialDecode decodes xerial blocks (after the header): it first walks the
// block lengths summing what each declares, so the output is allocated
// once and a bomb is refused before any decoding.
func xerialDecode(src []byte, max int) ([]byte, error) {
	total := 0
	for rest := src; len(rest) > 0; {
		block, next, err := xerialNext(rest)
		if err != nil {
			return nil, err
		}
		n, err := s2.DecodedLen(block)
		if err != nil {
			return nil, err
		}
		if n > max-total {
			return nil, errDecodedTooLarge
		}
		total += n
		rest = next
	}
	out := make([]byte, 0, total)
	for rest := src; len(rest) > 0; {
		block, next, _ := xerialNext(rest)
		var err error
		if out, err = snappyBlock(out, block, total); err != nil {
			return nil, err
		}
		rest = next
	}
	return out, nil
}

func xerialNext(b []byte) (block, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, errors.New("xerial: truncated block length")
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, errors.New("xerial: block length past the end")
	}
	return b[4 : 4+n], b[4+n:], nil
}

// The encoders are costly to build (a zstd encoder's tables are about 1.6
// MB, a gzip writer's 800 KB) and cheap to reuse: a leader recompressing
// each batch must not build one a batch. Their output depends only on the
// input.
var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		// EncodeAll only, which is safe for concurrent use; one
		// goroutine-free encoder for the process.
		zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(fmt.Sprintf("wire: zstd encoder: %v", err)) // only options are wrong here
		}
		return zw
	})
)

// Compress encodes a records section with codec (raw snappy blocks, as
// franz-go writes them). Producers in tests and the simulator use it, and
// Recompress for a topic whose compression.type names a codec.
func Compress(codec int8, src []byte) []byte {
	var buf bytes.Buffer
	switch codec {
	case CodecNone:
		return append([]byte(nil), src...)
	case CodecGzip:
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&buf)
		_, _ = zw.Write(src) // writes to a bytes.Buffer do not fail
		_ = zw.Close()
		gzipWriters.Put(zw)
	case CodecSnappy:
		return s2.EncodeSnappy(nil, src)
	case CodecLZ4:
		zw := lz4.NewWriter(&buf)
		_ = zw.Apply(lz4.ConcurrencyOption(1))
		_, _ = zw.Write(src)
		_ = zw.Close()
	case CodecZstd:
		return zstdEncoder().EncodeAll(src, nil)
	default:
		panic(fmt.Sprintf("wire: Compress with codec %d", codec))
	}
	return buf.Bytes()
}

// AppendCompressedBatch appends a valid record batch v2 built from s with
// its records section compressed by codec (s.Attributes' codec bits are
// replaced), the way a producer sends one.
func AppendCompressedBatch(dst []byte, s BatchSpec, codec int8) []byte {
	plain := AppendBatch(nil, s)
	section := Compress(codec, plain[BatchHeaderBytes:])
	start := len(dst)
	dst = append(dst, plain[:BatchHeaderBytes]...)
	dst = append(dst, section...)
	h := dst[start:]
	be := binary.BigEndian
	be.PutUint32(h[offBatchLength:], uint32(len(h)-batchLengthSpanBytes))
	be.PutUint16(h[offAttributes:], uint16(s.Attributes&^attrCodecMask|int16(codec)))
	be.PutUint32(h[offCRC:], crc32.Checksum(h[offAttributes:], castagnoli))
	return dst
}

// CodecNamed is the codec a compression.type config names, and false for
// "producer" (keep the producer's) or a name that is not a codec.
func CodecNamed(name string) (int8, bool) {
	switch name {
	case "uncompressed":
		return CodecNone, true
	case "gzip":
		return CodecGzip, true
	case "snappy":
		return CodecSnappy, true
	case "lz4":
		return CodecLZ4, true
	case "zstd":
		return CodecZstd, true
	}
	return 0, false
}

// Recompress returns a validated batch b with its records section in codec
// instead of b's own, as Kafka's LogValidator rebuilds a batch when the
// topic's compression.type differs from the producer's: the header is kept
// (offsets, producer id, epoch and sequence, timestamps) but for the
// codec bits, the length and the CRC. A batch already in codec is returned
// as is. decodedMax bounds the decompressed section.
func Recompress(b []byte, codec int8, decodedMax int) ([]byte, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return nil, err
	}
	if h.Codec() == codec {
		return b, nil
	}
	section := b[BatchHeaderBytes:h.TotalBytes()]
	if h.Codec() != CodecNone {
		if section, err = Decompress(h.Codec(), section, decodedMax); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, BatchHeaderBytes+len(section))
	out = append(out, b[:BatchHeaderBytes]...)
	if codec == CodecNone {
		out = append(out, section...)
	} else {
		out = append(out, Compress(codec, section)...)
	}
	be := binary.BigEndian
	be.PutUint32(out[offBatchLength:], uint32(len(out)-batchLengthSpanBytes))
	be.PutUint16(out[offAttributes:], uint16(h.Attributes&^attrCodecMask|int16(codec)))
	be.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	return out, nil
}
