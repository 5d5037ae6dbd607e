package wire

import (
	"encoding/binary"
	"hash/crc32"
)

// attrDeleteHorizon is Kafka's DELETE_HORIZON_FLAG_MASK (KIP-534): the
// batch's firstTimestamp is the time after which the log cleaner may drop
// its tombstones, and its records' timestamp deltas count from it.
const attrDeleteHorizon = 0x40

// DeleteHorizon returns the delete horizon a log cleaner stamped on the
// batch (KIP-534), if it did.
func (h BatchHeader) DeleteHorizon() (int64, bool) {
	if h.Attributes&attrDeleteHorizon == 0 {
		return 0, false
	}
	return h.FirstTimestamp, true
}

// ParseLogRecords decodes a stored batch whose records may have gaps in
// their offsets (one a log cleaner rewrote): offset deltas rise and stay at
// most lastOffsetDelta, and the record count is what is left. It returns the
// records and their offset deltas; bounds as ParseRecordsMax.
func ParseLogRecords(b []byte, decodedMax int) (BatchHeader, []Record, []int32, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, nil, nil, err
	}
	if h.TotalBytes() > len(b) {
		return h, nil, nil, batchErr(CodeCorruptMessage, "batchLength %d says %d bytes, have %d", h.BatchLength, h.TotalBytes(), len(b))
	}
	section := b[BatchHeaderBytes:h.TotalBytes()]
	if c := h.Codec(); c != CodecNone {
		if section, err = Decompress(c, section, decodedMax); err != nil {
			return h, nil, nil, err
		}
	}
	if h.NumRecords < 0 {
		return h, nil, nil, batchErr(CodeInvalidRecord, "record count %d", h.NumRecords)
	}
	n := min(int(h.NumRecords), len(section)/recordBytesMin)
	recs, deltas := make([]Record, 0, n), make([]int32, 0, n)
	err = walkRecords(h, section, true, true, func(d int32, r Record) {
		recs = append(recs, r)
		deltas = append(deltas, d)
	})
	if err != nil {
		return h, nil, nil, err
	}
	return h, recs, deltas, nil
}

// AppendCleanedBatch appends the batch a log cleaner writes for h keeping
// recs (at offset deltas deltas, rising; at least one record), as Kafka's
// MemoryRecords.filterTo does: the same base offset, lastOffsetDelta,
// producer id, epoch and base sequence, timestamp type and record
// timestamps; the max timestamp that of the kept records (a LogAppendTime
// batch keeps its own). It is written uncompressed. With horizon >= 0 the
// batch carries that delete horizon (KIP-534), its record timestamps then
// counting from it.
func AppendCleanedBatch(dst []byte, h BatchHeader, recs []Record, deltas []int32, horizon int64) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, BatchHeaderBytes)...)
	first := h.FirstTimestamp
	attrs := h.Attributes &^ (attrCodecMask | attrDeleteHorizon)
	if horizon >= 0 {
		first = horizon
		attrs |= attrDeleteHorizon
	}
	maxTS := int64(-1)
	for i, r := range recs {
		ts := h.FirstTimestamp + r.TimestampDelta
		maxTS = max(maxTS, ts)
		r.TimestampDelta = ts - first
		dst = appendRecord(dst, deltas[i], r)
	}
	if h.LogAppendTime() {
		maxTS = h.MaxTimestamp
	}
	b := dst[start:]
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[offBatchLength:], uint32(len(b)-batchLengthSpanBytes))
	be.PutUint32(b[offPartitionLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], uint16(attrs))
	be.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[offFirstTimestamp:], uint64(first))
	be.PutUint64(b[offMaxTimestamp:], uint64(maxTS))
	be.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[offRecordCount:], uint32(len(recs)))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return dst
}
