package wire

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// BatchHeaderBytes is the size of a record batch v2 header: everything up
// to and including recordCount.
const BatchHeaderBytes = 61

// Offsets into a record batch v2 header.
const (
	offBaseOffset           = 0
	offBatchLength          = 8
	offPartitionLeaderEpoch = 12
	offMagic                = 16
	offCRC                  = 17
	offAttributes           = 21
	offLastOffsetDelta      = 23
	offFirstTimestamp       = 27
	offMaxTimestamp         = 35
	offProducerID           = 43
	offProducerEpoch        = 51
	offBaseSequence         = 53
	offRecordCount          = 57

	// batchLengthSpanBytes is what precedes the bytes batchLength counts
	// (baseOffset and batchLength itself).
	batchLengthSpanBytes = 12
)

// Kafka error codes a produce partition is answered with when its batch is
// rejected.
const (
	CodeCorruptMessage              int16 = 2
	CodeMessageTooLarge             int16 = 10
	CodeUnsupportedForMessageFormat int16 = 43
	CodeUnsupportedCompressionType  int16 = 76
	CodeInvalidTimestamp            int16 = 32
	CodeInvalidRecord               int16 = 87
)

// Compression codecs (the low three bits of the batch attributes).
const (
	CodecNone   int8 = 0
	CodecGzip   int8 = 1
	CodecSnappy int8 = 2
	CodecLZ4    int8 = 3
	CodecZstd   int8 = 4
)

const (
	attrCodecMask     = 0x07
	attrTransactional = 0x10
	attrControl       = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchError rejects a record batch with the Kafka error code the produce
// partition should be answered with.
type BatchError struct {
	Code int16
	Msg  string
	// Records names the records at fault, for the produce answer's
	// RecordErrors (v8+): only record-level checks (timestamps) fill it.
	Records []RecordError
}

// RecordError is one record a batch was rejected for: its index in the
// batch and why.
type RecordError struct {
	Index int32
	Msg   string
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("wire: bad record batch (error code %d): %s", e.Code, e.Msg)
}

func batchErr(code int16, format string, args ...any) *BatchError {
	return &BatchError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// BatchHeader is the decoded header of a record batch v2.
type BatchHeader struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Codec returns the compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4,
// 4 zstd (5..7 are invalid).
func (h BatchHeader) Codec() int8 { return int8(h.Attributes & attrCodecMask) }

// LogAppendTime reports attribute bit 3: the broker's append time is every
// record's timestamp.
func (h BatchHeader) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Transactional reports attribute bit 4.
func (h BatchHeader) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports attribute bit 5 (transaction markers; never from clients).
func (h BatchHeader) Control() bool { return h.Attributes&attrControl != 0 }

// TotalBytes is the whole batch's size on the wire, header included.
func (h BatchHeader) TotalBytes() int { return batchLengthSpanBytes + int(h.BatchLength) }

// ParseBatchHeader reads the header of the batch at the start of b without
// validating the body or the CRC. The error is a *BatchError: magic other
// than 2 has a different layout (UNSUPPORTED_FOR_MESSAGE_FORMAT), short input
// or a batchLength too small to hold the header is CORRUPT_MESSAGE.
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	var h BatchHeader
	if len(b) <= offMagic {
		return h, batchErr(CodeCorruptMessage, "batch of %d bytes has no magic byte", len(b))
	}
	if m := int8(b[offMagic]); m != 2 {
		return h, batchErr(CodeUnsupportedForMessageFormat, "magic %d, only 2 is supported", m)
	}
	if len(b) < BatchHeaderBytes {
		return h, batchErr(CodeCorruptMessage, "batch header needs %d bytes, have %d", BatchHeaderBytes, len(b))
	}
	be := binary.BigEndian
	h = BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(be.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offPartitionLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offRecordCount:])),
	}
	if h.TotalBytes() < BatchHeaderBytes {
		return h, batchErr(CodeCorruptMessage, "batchLength %d smaller than the header", h.BatchLength)
	}
	return h, nil
}

// ValidateProduceBatch is ValidateProduceRecords with only a size limit:
// no timestamp bounds, compressed records decoded up to
// DecodedBytesMax(maxBytes).
func ValidateProduceBatch(b []byte, maxBytes int) (BatchHeader, error) {
	h, _, err := ValidateProduceRecords(b, ProduceLimits{BatchBytesMax: maxBytes})
	return h, err
}

// ProduceLimits are what ValidateProduceRecords holds a batch to.
type ProduceLimits struct {
	// BatchBytesMax is message.max.bytes (a topic's max.message.bytes).
	BatchBytesMax int
	// ProduceVersion, if above 0, is the produce request's version: below
	// 7 a zstd batch is UNSUPPORTED_COMPRESSION_TYPE (zstd came with v7,
	// KIP-110), checked where Kafka's ProduceRequest.validateRecords does,
	// before anything is decoded.
	ProduceVersion int16
	// DecodedBytesMax bounds a compressed batch's decoded records; 0 is
	// DecodedBytesMax(BatchBytesMax).
	DecodedBytesMax int
	// With Timestamps, every CreateTime record's timestamp must lie in
	// [NowMs-TimestampBeforeMaxMs, NowMs+TimestampAfterMaxMs]
	// (message.timestamp.before.max.ms and .after.max.ms, KIP-937;
	// both >= 0), else INVALID_TIMESTAMP naming each record outside.
	Timestamps                                bool
	NowMs                                     int64
	TimestampBeforeMaxMs, TimestampAfterMaxMs int64
	// KeyRequired (a compacted topic) refuses a record without a key:
	// INVALID_RECORD naming each, as Kafka's LogValidator.validateKey.
	KeyRequired bool
}

// RecordsInfo is what validation read from the records themselves.
type RecordsInfo struct {
	// MaxTimestamp is the largest record timestamp: Kafka recomputes the
	// header's (LogValidator, setMaxTimestamp) rather than trust it.
	MaxTimestamp int64
	// OffsetOfMaxTimestamp is the offset delta of the first record
	// carrying it (KAFKA-16342: not the batch's last).
	OffsetOfMaxTimestamp int32
}

// ValidateProduceRecords validates the Records field of one produce
// partition as Kafka requires of produce v3+ (ProduceRequest.validateRecords,
// then LogValidator): exactly one magic-2 batch at the start of b, with
// baseOffset 0, at most lim.BatchBytesMax long, CRC-32C intact, a known
// codec, a record count matching lastOffsetDelta, a sequence if it has a
// producer id, and every record well formed with offset deltas 0, 1, 2, …
// and nothing after the last, for compressed batches too: those are
// decompressed (bounded by lim.DecodedBytesMax), so their count, offsets
// and timestamps are read, not trusted. Where Kafka would rewrite a
// compressed batch whose inner offsets are not 0..n-1 (old clients), ketch
// refuses it: no client that writes v2 batches sends that.
//
// The error is a *BatchError carrying the code to answer the partition with.
// Checks run in Kafka's order with Kafka's codes, so that clients see what
// Kafka would give them: Kafka first walks the batches (ProduceRequest.
// validateRecords): a batchLength below 14 or a magic outside 0..2 is
// CORRUPT_MESSAGE; no whole batch, a magic of 0 or 1 (an old format), or a
// second batch is INVALID_RECORD. Then the log's checks: a baseOffset other
// than 0 is INVALID_RECORD, then the size (MESSAGE_TOO_LARGE), then a batch
// too short for its header or a wrong CRC (CORRUPT_MESSAGE), then the
// counts, attributes and records (INVALID_RECORD), then the timestamps
// (INVALID_TIMESTAMP). Bytes after the batch too few to be a whole batch
// are ignored, as Kafka trims them: the batch is b[:h.TotalBytes()], which
// may be shorter than b.
func ValidateProduceRecords(b []byte, lim ProduceLimits) (BatchHeader, RecordsInfo, error) {
	var h BatchHeader
	var info RecordsInfo
	total, err := kafkaNextBatch(b)
	if err != nil {
		return h, info, err
	}
	if total == 0 {
		return h, info, batchErr(CodeInvalidRecord, "no whole record batch in %d bytes", len(b))
	}
	if m := int8(b[offMagic]); m != 2 {
		return h, info, batchErr(CodeInvalidRecord, "magic %d: produce requests v3+ carry only magic 2 batches", m)
	}
	if v := lim.ProduceVersion; v > 0 && v < 7 && total > offAttributes+1 && int8(b[offAttributes+1]&attrCodecMask) == CodecZstd {
		return h, info, batchErr(CodeUnsupportedCompressionType, "zstd needs produce v7, the request is v%d", v)
	}
	if rest := b[total:]; len(rest) > 0 {
		next, err := kafkaNextBatch(rest)
		switch {
		case err != nil:
			return h, info, err
		case next > 0:
			return h, info, batchErr(CodeInvalidRecord, "produce requests must contain exactly one record batch")
		}
		// Too few bytes for another whole batch: Kafka ignores them
		// (UnifiedLog trims the records to the valid bytes), and so does
		// the caller, storing b[:h.TotalBytes()].
		b = b[:total]
	}
	if base := int64(binary.BigEndian.Uint64(b[offBaseOffset:])); base != 0 {
		return h, info, batchErr(CodeInvalidRecord, "baseOffset of a produced batch must be 0, is %d", base)
	}
	if len(b) > lim.BatchBytesMax {
		return h, info, batchErr(CodeMessageTooLarge, "batch of %d bytes exceeds %d", len(b), lim.BatchBytesMax)
	}
	h, err = ParseBatchHeader(b)
	if err != nil {
		return h, info, err
	}
	if crc := crc32.Checksum(b[offAttributes:], castagnoli); crc != h.CRC {
		return h, info, batchErr(CodeCorruptMessage, "crc %08x, computed %08x", h.CRC, crc)
	}
	if c := h.Codec(); c > CodecZstd {
		return h, info, batchErr(CodeUnsupportedCompressionType, "compression codec %d", c)
	}
	if h.Control() {
		return h, info, batchErr(CodeInvalidRecord, "clients may not produce control batches")
	}
	if h.NumRecords <= 0 {
		return h, info, batchErr(CodeInvalidRecord, "record count %d", h.NumRecords)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return h, info, batchErr(CodeInvalidRecord, "lastOffsetDelta %d with %d records", h.LastOffsetDelta, h.NumRecords)
	}
	if h.ProducerID >= 0 && h.BaseSequence < 0 {
		return h, info, batchErr(CodeInvalidRecord, "producer id %d with base sequence %d", h.ProducerID, h.BaseSequence)
	}
	section := b[BatchHeaderBytes:]
	if h.Codec() != CodecNone {
		if len(section) == 0 {
			return h, info, batchErr(CodeCorruptMessage, "compressed batch with no payload")
		}
		decodedMax := lim.DecodedBytesMax
		if decodedMax <= 0 {
			decodedMax = DecodedBytesMax(lim.BatchBytesMax)
		}
		if section, err = Decompress(h.Codec(), section, decodedMax); err != nil {
			return h, info, err
		}
	}
	info.MaxTimestamp = -1 // RecordBatch.NO_TIMESTAMP, below any record's
	var bad, keyless []RecordError
	err = walkRecords(h, section, false, false, func(i int32, r Record) {
		if lim.KeyRequired && r.Key == nil && len(keyless) < recordErrorsMax {
			keyless = append(keyless, RecordError{Index: i, Msg: "Compacted topic cannot accept message without key"})
		}
		ts := h.RecordTimestamp(r)
		if ts > info.MaxTimestamp {
			info.MaxTimestamp, info.OffsetOfMaxTimestamp = ts, i
		}
		if lim.Timestamps && !h.LogAppendTime() && ts != -1 && outsideBounds(ts, lim) && len(bad) < recordErrorsMax {
			bad = append(bad, RecordError{Index: i, Msg: fmt.Sprintf(
				"Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]",
				ts, i, lim.NowMs-lim.TimestampBeforeMaxMs, lim.NowMs+lim.TimestampAfterMaxMs)}) // the bounds as Kafka prints them, overflow and all
		}
	})
	if err != nil {
		return h, info, err
	}
	if len(keyless) > 0 {
		return h, info, &BatchError{Code: CodeInvalidRecord, Msg: "Compacted topic cannot accept message without key", Records: keyless}
	}
	if len(bad) > 0 {
		return h, info, &BatchError{Code: CodeInvalidTimestamp, Msg: "One or more records have been rejected due to invalid timestamp", Records: bad}
	}
	return h, info, nil
}

// recordErrorsMax bounds the record errors one answer names (each costs a
// message); Kafka names every record, ketch the first thousand.
const recordErrorsMax = 1000

// outsideBounds reports whether ts lies outside [now-before, now+after],
// computed without overflow: the distance from now in uint64.
func outsideBounds(ts int64, lim ProduceLimits) bool {
	now := lim.NowMs
	if ts < now {
		return uint64(now)-uint64(ts) > uint64(max(lim.TimestampBeforeMaxMs, 0))
	}
	return uint64(ts)-uint64(now) > uint64(max(lim.TimestampAfterMaxMs, 0))
}

// RecordTimestamp is a record's timestamp as Kafka reads it
// (DefaultRecordBatch): the batch's max timestamp for every record of a
// LogAppendTime batch, else the first timestamp plus the record's delta.
func (h BatchHeader) RecordTimestamp(r Record) int64 {
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	return h.FirstTimestamp + r.TimestampDelta
}

// SetMaxTimestamp rewrites the batch's max timestamp and, because the field
// lies inside the CRC's range, its CRC, as Kafka's setMaxTimestamp does when
// the producer's value is wrong. b must hold a whole batch.
func SetMaxTimestamp(b []byte, ts int64) {
	mustHeader(b)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// kafkaNextBatch is Kafka's batch iterator over a produce partition's records
// (ByteBufferLogInputStream.nextBatch): the size of the whole batch at the
// start of b, 0 if b holds no whole batch, or the CORRUPT_MESSAGE Kafka
// throws while looking (a batchLength below a legacy record's overhead, or a
// magic byte that no format has).
func kafkaNextBatch(b []byte) (int, error) {
	const legacyRecordOverheadBytes = 14 // LegacyRecord.RECORD_OVERHEAD_V0
	if len(b) < batchLengthSpanBytes {
		return 0, nil
	}
	n := int32(binary.BigEndian.Uint32(b[offBatchLength:]))
	if n < legacyRecordOverheadBytes {
		return 0, batchErr(CodeCorruptMessage, "batchLength %d is below the minimum record overhead", n)
	}
	if len(b) <= offMagic {
		return 0, nil
	}
	if m := int8(b[offMagic]); m < 0 || m > 2 {
		return 0, batchErr(CodeCorruptMessage, "invalid magic %d", m)
	}
	if total := int64(batchLengthSpanBytes) + int64(n); total <= int64(len(b)) {
		return int(total), nil
	}
	return 0, nil
}

// SetBaseOffset stamps the offset assigned to the batch's first record.
// Stored batches keep the producer's bytes; baseOffset lies outside the CRC
// range, so the CRC stays valid. b must hold at least a batch header.
func SetBaseOffset(b []byte, off int64) {
	mustHeader(b)
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch stamps the leader epoch (the raft term) the batch
// was appended in; like baseOffset it lies outside the CRC range.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	mustHeader(b)
	binary.BigEndian.PutUint32(b[offPartitionLeaderEpoch:], uint32(epoch))
}

// mustHeader panics: the setters are only called on batches this process
// validated, so a short slice is a bug, not bad input.
func mustHeader(b []byte) {
	if len(b) < BatchHeaderBytes {
		panic(fmt.Sprintf("wire: batch of %d bytes is shorter than a header", len(b)))
	}
}

// SplitBatches walks concatenated batches (a fetch response's Records or a
// stored log segment), returning each whole batch as a subslice of b. A
// partial trailing batch, which fetch responses are allowed to end with, is
// ignored. A batchLength too small to hold a header is an error because the
// walk cannot continue past it. Only framing is checked, not CRCs.
func SplitBatches(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) >= batchLengthSpanBytes {
		n := int32(binary.BigEndian.Uint32(b[offBatchLength:]))
		total := int64(batchLengthSpanBytes) + int64(n)
		if total < BatchHeaderBytes {
			return out, batchErr(CodeCorruptMessage, "batchLength %d smaller than the header", n)
		}
		if total > int64(len(b)) {
			break
		}
		out = append(out, b[:total:total])
		b = b[total:]
	}
	return out, nil
}

// BatchCRC computes the CRC-32C a batch's header should carry (over the
// bytes from attributes to the end). b must hold at least a batch header.
func BatchCRC(b []byte) uint32 {
	mustHeader(b)
	return crc32.Checksum(b[offAttributes:], castagnoli)
}
