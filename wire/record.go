package wire

import (
	"encoding/binary"
	"hash/crc32"
	"math"
)

// Record is one record of a batch. A nil Key or Value is encoded as null
// (a nil Value is a tombstone); a non-nil empty slice as zero bytes, and
// ParseRecords gives back the same distinction.
type Record struct {
	Key, Value     []byte
	Headers        []RecordHeader
	TimestampDelta int64
}

// RecordHeader is one record header. Kafka forbids null header keys; a nil
// Value is null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// BatchSpec describes a batch for AppendBatch. Attributes are written as
// given, so a test can build a batch claiming a codec it does not use.
type BatchSpec struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	Attributes           int16
	FirstTimestamp       int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	Records              []Record
}

// AppendBatch appends a valid uncompressed record batch v2 built from s to
// dst: lastOffsetDelta, maxTimestamp, recordCount, batchLength and the CRC
// are derived. Offset deltas are 0, 1, 2, …. With no records the batch is
// well framed but ValidateProduceBatch rejects it, as Kafka would.
func AppendBatch(dst []byte, s BatchSpec) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, BatchHeaderBytes)...)
	maxDelta := int64(0)
	for i, r := range s.Records {
		maxDelta = max(maxDelta, r.TimestampDelta)
		dst = appendRecord(dst, int32(i), r)
	}
	h := dst[start:]
	be := binary.BigEndian
	be.PutUint64(h[offBaseOffset:], uint64(s.BaseOffset))
	be.PutUint32(h[offBatchLength:], uint32(len(h)-batchLengthSpanBytes))
	be.PutUint32(h[offPartitionLeaderEpoch:], uint32(s.PartitionLeaderEpoch))
	h[offMagic] = 2
	be.PutUint16(h[offAttributes:], uint16(s.Attributes))
	be.PutUint32(h[offLastOffsetDelta:], uint32(len(s.Records)-1))
	be.PutUint64(h[offFirstTimestamp:], uint64(s.FirstTimestamp))
	be.PutUint64(h[offMaxTimestamp:], uint64(s.FirstTimestamp+maxDelta))
	be.PutUint64(h[offProducerID:], uint64(s.ProducerID))
	be.PutUint16(h[offProducerEpoch:], uint16(s.ProducerEpoch))
	be.PutUint32(h[offBaseSequence:], uint32(s.BaseSequence))
	be.PutUint32(h[offRecordCount:], uint32(len(s.Records)))
	be.PutUint32(h[offCRC:], crc32.Checksum(h[offAttributes:], castagnoli))
	return dst
}

func appendRecord(dst []byte, offsetDelta int32, r Record) []byte {
	var body []byte
	body = append(body, 0) // attributes: unused in v2
	body = binary.AppendVarint(body, r.TimestampDelta)
	body = binary.AppendVarint(body, int64(offsetDelta))
	body = appendVarBytes(body, r.Key)
	body = appendVarBytes(body, r.Value)
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, hd := range r.Headers {
		body = binary.AppendVarint(body, int64(len(hd.Key)))
		body = append(body, hd.Key...)
		body = appendVarBytes(body, hd.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// ParseRecords decodes the header and records of one batch at the start of
// b (trailing bytes after it are ignored), decompressing a compressed one
// up to DecodedBytesMax(len(b)) bytes. It checks framing and record
// structure but not the CRC; callers reading untrusted bytes run
// ValidateProduceBatch first. Keys, values and header values alias b, or
// for a compressed batch a fresh decoded buffer. Allocation is bounded by
// len(b) (times the inflation bound when compressed), never by counts read
// from it.
func ParseRecords(b []byte) (BatchHeader, []Record, error) {
	return ParseRecordsMax(b, DecodedBytesMax(len(b)))
}

// ParseRecordsMax is ParseRecords with the bound on a compressed batch's
// decoded records given: a stored batch was validated against the limits
// in force when it was produced, which may since have changed.
func ParseRecordsMax(b []byte, decodedMax int) (BatchHeader, []Record, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, nil, err
	}
	if h.TotalBytes() > len(b) {
		return h, nil, batchErr(CodeCorruptMessage, "batchLength %d says %d bytes, have %d", h.BatchLength, h.TotalBytes(), len(b))
	}
	section := b[BatchHeaderBytes:h.TotalBytes()]
	if c := h.Codec(); c != CodecNone {
		if section, err = Decompress(c, section, decodedMax); err != nil {
			return h, nil, err
		}
	}
	if h.NumRecords < 0 {
		return h, nil, batchErr(CodeInvalidRecord, "record count %d", h.NumRecords)
	}
	recs := make([]Record, 0, min(int(h.NumRecords), len(section)/recordBytesMin))
	err = walkRecords(h, section, true, false, func(_ int32, r Record) { recs = append(recs, r) })
	if err != nil {
		return h, nil, err
	}
	return h, recs, nil
}

// recordBytesMin is the smallest encoded record: one byte each for length,
// attributes, timestampDelta, offsetDelta, key length, value length and
// header count. It turns a byte count into a bound on a record count.
const recordBytesMin = 7

// walkRecords parses the records section of a batch (decoded, if it was
// compressed), checking that it holds exactly h.NumRecords records with
// offset deltas 0..n-1 (with gaps, as a compacted batch has them: rising,
// at most lastOffsetDelta) and nothing else. fn, if not nil, receives each
// record with its offset delta; its headers only with keep.
func walkRecords(h BatchHeader, section []byte, keep, gaps bool, fn func(int32, Record)) error {
	if int64(h.NumRecords)*recordBytesMin > int64(len(section)) {
		return batchErr(CodeInvalidRecord, "%d records cannot fit in %d bytes", h.NumRecords, len(section))
	}
	prev := int32(-1)
	for i := int32(0); i < h.NumRecords; i++ {
		length, n := binary.Varint(section)
		if n <= 0 || length < 0 || length > int64(len(section)-n) {
			return batchErr(CodeInvalidRecord, "record %d: bad length", i)
		}
		body := section[n : n+int(length)]
		section = section[n+int(length):]
		r, offsetDelta, err := parseRecordBody(body, keep)
		if err != nil {
			return batchErr(CodeInvalidRecord, "record %d: %s", i, err.Msg)
		}
		switch {
		case !gaps && offsetDelta != i:
			return batchErr(CodeInvalidRecord, "record %d has offset delta %d", i, offsetDelta)
		case gaps && (offsetDelta <= prev || offsetDelta > h.LastOffsetDelta):
			return batchErr(CodeInvalidRecord, "record %d has offset delta %d after %d (last %d)", i, offsetDelta, prev, h.LastOffsetDelta)
		}
		prev = offsetDelta
		if fn != nil {
			fn(offsetDelta, r)
		}
	}
	if len(section) != 0 {
		return batchErr(CodeInvalidRecord, "%d bytes left after %d records", len(section), h.NumRecords)
	}
	return nil
}

// recordReader reads Kafka's zigzag varints, remembering the first failure
// so the parse reads straight through and checks once.
type recordReader struct {
	b   []byte
	bad string
}

func (r *recordReader) fail(msg string) {
	if r.bad == "" {
		r.bad = msg
	}
	r.b = nil
}

func (r *recordReader) varlong(what string) int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint " + what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) varint(what string) int32 {
	v := r.varlong(what)
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail("varint out of range " + what)
		return 0
	}
	return int32(v)
}

// bytes reads a varint length then that many bytes; -1 is null (nil) when
// nullable, anything else negative is malformed.
func (r *recordReader) bytes(what string, nullable bool) []byte {
	l := r.varint(what)
	if r.bad != "" {
		return nil
	}
	if l == -1 && nullable {
		return nil
	}
	if l < 0 || int(l) > len(r.b) {
		r.fail("bad length " + what)
		return nil
	}
	out := r.b[:l:l]
	r.b = r.b[l:]
	return out
}

func parseRecordBody(body []byte, keep bool) (Record, int32, *BatchError) {
	var rec Record
	r := recordReader{b: body}
	if len(r.b) < 1 {
		return rec, 0, &BatchError{Code: CodeInvalidRecord, Msg: "empty record"}
	}
	r.b = r.b[1:] // attributes: unused in v2
	rec.TimestampDelta = r.varlong("timestamp delta")
	offsetDelta := r.varint("offset delta")
	rec.Key = r.bytes("key", true)
	rec.Value = r.bytes("value", true)
	nh := r.varint("header count")
	if r.bad == "" && (nh < 0 || int(nh) > len(r.b)/2) {
		// Each header takes at least two bytes (two lengths).
		r.fail("bad header count")
	}
	if keep && r.bad == "" && nh > 0 {
		rec.Headers = make([]RecordHeader, 0, nh)
	}
	for j := int32(0); j < nh && r.bad == ""; j++ {
		k := r.bytes("header key", false)
		v := r.bytes("header value", true)
		if keep && r.bad == "" {
			rec.Headers = append(rec.Headers, RecordHeader{Key: string(k), Value: v})
		}
	}
	if r.bad != "" {
		return rec, 0, &BatchError{Code: CodeInvalidRecord, Msg: r.bad}
	}
	if len(r.b) != 0 {
		return rec, 0, &BatchError{Code: CodeInvalidRecord, Msg: "record length larger than its fields"}
	}
	return rec, offsetDelta, nil
}
