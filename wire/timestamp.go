package wire

import (
	"encoding/binary"
	"hash/crc32"
)

// attrLogAppendTime is the batch attribute bit saying the timestamps are
// the broker's (LogAppendTime), not the producer's.
const attrLogAppendTime = 1 << 3

// SetLogAppendTime turns a validated batch into a LogAppendTime one, as
// Kafka's DefaultRecordBatch.setMaxTimestamp does for a topic with
// message.timestamp.type=LogAppendTime: the timestamp-type attribute set,
// MaxTimestamp the broker's time, and the CRC recomputed (it covers both).
// The records keep their own timestamps: a consumer reads the batch's
// MaxTimestamp for every record of a LogAppendTime batch.
func SetLogAppendTime(b []byte, ts int64) {
	mustHeader(b)
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	binary.BigEndian.PutUint16(b[offAttributes:], attrs|attrLogAppendTime)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// LogAppendTime reports whether a batch's timestamps are the broker's.
func LogAppendTime(b []byte) bool {
	return len(b) >= BatchHeaderBytes && binary.BigEndian.Uint16(b[offAttributes:])&attrLogAppendTime != 0
}
