package node

// Produce validation: what the leader checks of a produced batch before
// proposing it (safety rule 8), and how a rejection is answered.

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// Timestamp bounds on CreateTime records, Kafka 4.x's defaults
// (message.timestamp.before.max.ms: none; message.timestamp.after.max.ms:
// one hour, KIP-1030): a record stamped more than an hour ahead of the
// leader's clock is refused.
const (
	timestampBeforeMaxMs = math.MaxInt64
	timestampAfterMaxMs  = int64(time.Hour / time.Millisecond)
)

// validateProduce checks one partition's records as Kafka's LogValidator
// does (wire.ValidateProduceRecords: zstd refused below produce v7,
// compressed batches decoded, every record and timestamp checked) and returns the bytes to propose: the
// producer's batch without the trailing bytes Kafka trims, and with the
// max timestamp the records really carry if the producer's header said
// otherwise (Kafka's setMaxTimestamp, CRC recomputed). The leader rewrites
// before proposing, so every replica stores the same bytes. createTime
// says the topic's message.timestamp.type is CreateTime: only then are the
// producer's timestamps bounded (LogAppendTime replaces them). keyed says
// the topic is compacted: every record needs a key.
func (n *Node) validateProduce(b []byte, version int16, batchBytesMax int, createTime, keyed bool) (wire.BatchHeader, []byte, error) {
	h, info, err := wire.ValidateProduceRecords(b, wire.ProduceLimits{
		BatchBytesMax: batchBytesMax, ProduceVersion: version, KeyRequired: keyed,
		Timestamps: createTime, NowMs: n.now.UnixMilli(),
		TimestampBeforeMaxMs: timestampBeforeMaxMs, TimestampAfterMaxMs: timestampAfterMaxMs,
	})
	if err != nil {
		return h, nil, err
	}
	records := b[:h.TotalBytes()]
	if info.MaxTimestamp != h.MaxTimestamp && !h.LogAppendTime() {
		records = append([]byte(nil), records...) // the request's bytes stay the client's
		wire.SetMaxTimestamp(records, info.MaxTimestamp)
		h.MaxTimestamp, h.CRC = info.MaxTimestamp, wire.BatchCRC(records)
	}
	return h, records, nil
}

// answerBatchError fills a produce partition's answer for a rejected batch:
// the code, the message and (v8+) the records at fault.
func answerBatchError(out *kmsg.ProduceResponseTopicPartition, err error) {
	out.ErrorCode = batchErrorCode(err)
	msg := err.Error()
	if be, ok := err.(*wire.BatchError); ok {
		msg = be.Msg
		for _, r := range be.Records {
			er := kmsg.NewProduceResponseTopicPartitionErrorRecord()
			er.RelativeOffset, er.ErrorMessage = r.Index, kmsg.StringPtr(r.Msg)
			out.ErrorRecords = append(out.ErrorRecords, er)
		}
	}
	out.ErrorMessage = &msg
}
