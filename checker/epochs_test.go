package checker

import (
	"slices"
	"testing"
	"time"
)

// Builders for the epoch histories, on partition p0. Values are written by
// ambiguous produces (so no read is a phantom), and every record carries an
// epoch and a timestamp.

func writes(values ...string) History {
	var h History
	for i, v := range values {
		h = append(h, timedOut(9, int64(i), v))
	}
	return h
}

type rec struct {
	value string
	epoch int32
	ts    int64
}

func fetchedE(client int, call, ret, offset, hw int64, current int32, rs ...rec) Op {
	op := Op{Client: client, Kind: Fetch, Partition: p0, Call: call, Return: ret, Offset: offset, OK: true,
		HighWatermark: hw, CurrentEpoch: current}
	for k, r := range rs {
		op.Records = append(op.Records, Record{Offset: offset + int64(k), Value: r.value, Epoch: r.epoch, Timestamp: r.ts})
	}
	return op
}

func epochEnd(client int, call, ret int64, epoch int32, position int64, leaderEpoch int32, end int64) Op {
	return Op{Client: client, Kind: OffsetForEpoch, Partition: p0, Call: call, Return: ret, OK: true,
		Epoch: epoch, Position: position, LeaderEpoch: leaderEpoch, Offset: end}
}

func listed(client int, call, ret, query, offset, ts int64, epoch int32) Op {
	return Op{Client: client, Kind: ListOffsets, Partition: p0, Call: call, Return: ret, OK: true,
		Query: query, Offset: offset, Timestamp: ts, LeaderEpoch: epoch}
}

func withCurrent(op Op, current int32) Op { op.CurrentEpoch = current; return op }

// A log of three records: offsets 0 and 1 written in epoch 1 at 100 and 150
// ms, offset 2 in epoch 3 at 200 ms; the high watermark is 3.
var epochLog = []rec{{"a", 1, 100}, {"b", 1, 150}, {"c", 3, 200}}

func epochHistory(ops ...Op) History {
	h := writes("a", "b", "c")
	h = append(h, fetchedE(1, 10, 20, 0, 3, 3, epochLog...))
	return append(h, ops...)
}

var epochCases = []struct {
	name      string
	h         History
	anomalies []string // kinds QueueCheck must report, exactly
}{
	// Good histories.
	{name: "the log alone", h: epochHistory()},
	{
		name: "OffsetForLeaderEpoch answers as Kafka does",
		h: epochHistory(
			epochEnd(2, 30, 40, 1, 2, 1, 2),    // epoch 1 ends where epoch 3 starts
			epochEnd(2, 50, 60, 2, -1, 1, 2),   // epoch 2 has no records: epoch 1's end
			epochEnd(2, 70, 80, 3, 3, 3, 3),    // the current epoch ends at the high watermark
			epochEnd(2, 90, 95, 0, -1, 0, 0),   // below the first epoch: where the log starts
			epochEnd(2, 96, 97, 4, -1, 4, 3),   // a new leader's epoch, no record of it yet
			epochEnd(2, 98, 99, 9, -1, -1, -1), // above every epoch
		),
	},
	{
		name: "the current epoch's end may be below records of it read later",
		h: append(writes("a", "b", "c", "d"),
			fetchedE(1, 10, 20, 0, 3, 3, epochLog...),
			epochEnd(2, 30, 40, 3, -1, 3, 3),
			fetchedE(1, 50, 60, 3, 4, 3, rec{"d", 3, 250}),
		),
	},
	{
		name: "UNDEFINED before any record of the epoch was read",
		h: append(writes("a", "b", "c"),
			epochEnd(2, 0, 5, 3, -1, -1, -1),
			fetchedE(1, 10, 20, 0, 3, 3, epochLog...),
		),
	},
	{
		name: "ListOffsets answers as Kafka does",
		h: epochHistory(
			listed(2, 30, 40, ListEarliest, 0, -1, 1),
			withCurrent(listed(2, 30, 40, ListLatest, 3, -1, 3), 3),
			listed(2, 50, 60, 120, 1, 150, 1),  // the first record at or after 120 ms
			listed(2, 50, 60, 150, 1, 150, 1),  // exactly at it
			listed(2, 70, 80, 201, -1, -1, -1), // after every record
			listed(2, 70, 80, ListMaxTimestamp, 2, 200, 3),
			fetchedE(1, 90, 100, 0, 3, 3, epochLog[:1]...),
		),
	},
	{
		name: "no record after a timestamp, then one is written",
		h: append(writes("a", "b", "c", "d"),
			fetchedE(1, 10, 20, 0, 3, 3, epochLog...),
			listed(2, 30, 40, 220, -1, -1, -1),
			fetchedE(1, 50, 60, 3, 4, 3, rec{"d", 3, 250}),
		),
	},

	// Bad histories.
	{
		name: "a record's epoch changes",
		h: epochHistory(
			fetchedE(2, 30, 40, 2, 3, 4, rec{"c", 4, 200}),
		),
		anomalies: []string{KindEpochChanged},
	},
	{
		name: "an epoch goes down along the log",
		h: append(writes("a", "b"),
			fetchedE(1, 10, 20, 0, 2, 3, rec{"a", 3, 100}, rec{"b", 2, 100}),
		),
		anomalies: []string{KindEpochRegressed},
	},
	{
		name: "a fetch with a stale current epoch is served by a later leader",
		h: epochHistory(
			fetchedE(2, 30, 40, 1, 3, 1, epochLog[1:]...),
		),
		anomalies: []string{KindEpochNotFenced},
	},
	{
		name:      "ListOffsets latest answered by a leader of another epoch",
		h:         epochHistory(withCurrent(listed(2, 30, 40, ListLatest, 3, -1, 3), 1)),
		anomalies: []string{KindEpochNotFenced},
	},
	{
		name:      "OffsetForLeaderEpoch answers an old epoch with the log end",
		h:         epochHistory(epochEnd(2, 30, 40, 1, 2, 1, 3)),
		anomalies: []string{KindEpochEnd},
	},
	{
		name:      "OffsetForLeaderEpoch answers the current epoch for an old one",
		h:         epochHistory(epochEnd(2, 30, 40, 1, 2, 3, 3)),
		anomalies: []string{KindEpochEnd},
	},
	{
		name:      "OffsetForLeaderEpoch ends an epoch before its records",
		h:         epochHistory(epochEnd(2, 30, 40, 1, -1, 1, 1)),
		anomalies: []string{KindEpochEnd},
	},
	{
		name:      "OffsetForLeaderEpoch skips an epoch with records",
		h:         epochHistory(epochEnd(2, 30, 40, 3, -1, 1, 3)),
		anomalies: []string{KindEpochEnd},
	},
	{
		name:      "OffsetForLeaderEpoch UNDEFINED for an epoch the log holds",
		h:         epochHistory(epochEnd(2, 30, 40, 3, -1, -1, -1)),
		anomalies: []string{KindEpochEnd},
	},
	{
		name:      "a consumer's position truncated away",
		h:         epochHistory(epochEnd(2, 30, 40, 1, 2, 1, 1)),
		anomalies: []string{KindEpochEnd, KindTruncation},
	},
	{
		name: "the current epoch ends below a record of it already read",
		h: append(writes("a", "b", "c", "d"),
			fetchedE(1, 10, 20, 0, 4, 3, append(epochLog, rec{"d", 3, 250})...),
			epochEnd(2, 30, 40, 3, -1, 3, 3),
		),
		anomalies: []string{KindEpochEnd},
	},
	{
		name: "earliest above an offset read after it",
		h: epochHistory(
			listed(2, 30, 40, ListEarliest, 1, -1, 1),
			fetchedE(1, 50, 60, 0, 3, 3, epochLog[:1]...),
		),
		anomalies: []string{KindListOffsets},
	},
	{
		name:      "a timestamp's offset past a record at or after it",
		h:         epochHistory(listed(2, 30, 40, 120, 2, 200, 3)),
		anomalies: []string{KindListOffsets},
	},
	{
		name:      "no offset for a timestamp a record read carries",
		h:         epochHistory(listed(2, 30, 40, 200, -1, -1, -1)),
		anomalies: []string{KindListOffsets},
	},
	{
		name:      "max timestamp below a record's",
		h:         epochHistory(listed(2, 30, 40, ListMaxTimestamp, 1, 150, 1)),
		anomalies: []string{KindListOffsets},
	},
	{
		name: "max timestamp not at the first record carrying it",
		h: append(writes("a", "b", "c", "d"),
			fetchedE(1, 10, 20, 0, 4, 3, append(epochLog, rec{"d", 3, 200})...),
			listed(2, 30, 40, ListMaxTimestamp, 3, 200, 3),
		),
		anomalies: []string{KindListOffsets},
	},
	{
		name:      "no max timestamp on a log holding records",
		h:         epochHistory(listed(2, 30, 40, ListMaxTimestamp, -1, -1, -1)),
		anomalies: []string{KindListOffsets},
	},
	{
		name:      "a listed offset's epoch is not its record's",
		h:         epochHistory(listed(2, 30, 40, ListEarliest, 0, -1, 3)),
		anomalies: []string{KindListOffsets},
	},
	{
		name: "latest below an acknowledged write",
		h: History{
			produced(0, 0, 10, "a", 0),
			listed(1, 20, 30, ListLatest, 0, -1, 1),
		},
		anomalies: []string{KindStaleRead},
	},
	{
		name: "latest below a high watermark already read",
		h: append(epochHistory(),
			listed(2, 30, 40, ListLatest, 2, -1, 3),
		),
		anomalies: []string{KindHWRegressed},
	},
}

func TestEpochChecks(t *testing.T) {
	for _, tc := range epochCases {
		t.Run(tc.name, func(t *testing.T) {
			got := QueueCheck(tc.h)
			if !slices.Equal(kinds(got), tc.anomalies) {
				t.Errorf("QueueCheck kinds = %v, want %v\n%v", kinds(got), tc.anomalies, got)
			}
			res := Check(tc.h, Options{LinearizabilityTimeout: 5 * time.Second})
			if res.OK != (len(tc.anomalies) == 0) {
				t.Errorf("Check OK = %v\n%s", res.OK, res)
			}
		})
	}
}
