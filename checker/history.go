package checker

import (
	"fmt"
	"sort"
)

// Kind says what a client operation did.
type Kind uint8

const (
	Produce Kind = iota + 1
	Fetch
	// ListOffsets asks the partition leader for an offset: the earliest,
	// the latest (the high watermark), the one of the record with the
	// largest timestamp, or the first at or after a timestamp (see Query).
	ListOffsets
	// OffsetForEpoch is an OffsetForLeaderEpoch request: where leader epoch
	// Epoch ends in the log, as a KIP-320 consumer asks after a leader
	// change to check its position was not truncated away.
	OffsetForEpoch
)

// ListOffsets queries other than a timestamp (Op.Query), as Kafka numbers them.
const (
	ListLatest       int64 = -1
	ListEarliest     int64 = -2
	ListMaxTimestamp int64 = -3
)

func (k Kind) String() string {
	switch k {
	case Produce:
		return "produce"
	case Fetch:
		return "fetch"
	case ListOffsets:
		return "list-offsets"
	case OffsetForEpoch:
		return "offset-for-epoch"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Op is one client operation against one topic-partition. Times are simulated
// nanoseconds (or any monotonic clock shared by all clients of a history).
type Op struct {
	Client    int
	Kind      Kind
	Partition string // "topic/0"
	Call      int64  // invoke time
	Return    int64  // completion time; ignored when Ambiguous

	// Produce: the unique value written (each produced value is unique in a
	// history); on success the offset assigned.
	Value string
	// Produce: assigned offset (when OK). Fetch: the requested fetch offset.
	// ListOffsets: the offset answered (-1: no record matched the query).
	// OffsetForEpoch: the end offset answered (-1: epoch unknown).
	Offset int64

	// Fetch: the records returned (consecutive offsets starting at the fetch
	// offset) and the high watermark.
	Records       []Record
	HighWatermark int64

	// ListOffsets: the query, ListEarliest, ListLatest, ListMaxTimestamp, or
	// a timestamp in milliseconds (>= 0): the first offset whose record's
	// timestamp is at or after it.
	Query int64
	// ListOffsets: the timestamp answered (-1 for earliest and latest, or
	// when no record matched).
	Timestamp int64
	// OffsetForEpoch: the leader epoch asked about, and Position, the
	// consumer's position being validated (the offset after the last record
	// it consumed, which carried leader epoch Epoch; -1 if the ask is not
	// a validation). An end offset below Position is a truncation.
	Epoch    int32
	Position int64
	// ListOffsets and OffsetForEpoch: the leader epoch answered with the
	// offset (-1: none). For ListOffsets earliest and by timestamp it is the
	// epoch of the record at the offset, for latest the leader's epoch; for
	// OffsetForEpoch the largest epoch <= Epoch the log holds.
	LeaderEpoch int32
	// Fetch, ListOffsets, OffsetForEpoch: the CurrentLeaderEpoch the client
	// sent (KIP-320 fencing, from Metadata). Values below 1 mean none was
	// sent: ketch's leader epochs are raft terms, which start at 1.
	CurrentEpoch int32

	OK bool // definitely succeeded
	// Ambiguous: may or may not have taken effect (timeout, connection cut,
	// NOT_LEADER after send ...). OK=false, Ambiguous=false means definitely
	// did not take effect, e.g. a validation error before proposing.
	Ambiguous bool
	Err       string
}

// Record is one record returned by a fetch.
type Record struct {
	Offset int64
	Value  string
	// Epoch is the PartitionLeaderEpoch of the record's batch as the fetch
	// returned it (in ketch, the raft term of the entry that holds it).
	Epoch int32
	// Timestamp is the record's timestamp in milliseconds (the batch's
	// FirstTimestamp plus the record's delta); 0 if the history does not
	// record it.
	Timestamp int64
}

// History is every operation of a run, in any order.
type History []Op

// Annotation marks an injected fault (or any other event) on the timeline of
// the visualisation. Tag names the row it is drawn on; empty means "faults".
type Annotation struct {
	Start, End  int64
	Description string
	Tag         string
}

// describeOp renders an operation for anomaly details. i is its index in the
// History so that a reader can find it again in a dump.
func describeOp(i int, op *Op) string {
	var what string
	switch op.Kind {
	case Produce:
		what = fmt.Sprintf("produce(%q)", op.Value)
		if op.OK {
			what += fmt.Sprintf("→%d", op.Offset)
		}
	case Fetch:
		what = fmt.Sprintf("fetch(%d)", op.Offset)
		if op.OK {
			what += fmt.Sprintf("→%d records hw=%d", len(op.Records), op.HighWatermark)
		}
	case ListOffsets:
		what = fmt.Sprintf("list-offsets(%s)", queryName(op.Query))
		if op.OK {
			what += fmt.Sprintf("→%d ts=%d epoch=%d", op.Offset, op.Timestamp, op.LeaderEpoch)
		}
	case OffsetForEpoch:
		what = fmt.Sprintf("offset-for-epoch(%d", op.Epoch)
		if op.Position >= 0 {
			what += fmt.Sprintf(" at position %d", op.Position)
		}
		what += ")"
		if op.OK {
			what += fmt.Sprintf("→epoch %d end %d", op.LeaderEpoch, op.Offset)
		}
	default:
		what = op.Kind.String()
	}
	switch {
	case op.Ambiguous:
		what += " ambiguous"
	case !op.OK:
		what += " failed"
	}
	if op.CurrentEpoch > 0 {
		what += fmt.Sprintf(" current-epoch=%d", op.CurrentEpoch)
	}
	if op.Err != "" {
		what += " err=" + op.Err
	}
	if op.Ambiguous {
		return fmt.Sprintf("op#%d client %d %s called %d", i, op.Client, what, op.Call)
	}
	return fmt.Sprintf("op#%d client %d %s [%d,%d]", i, op.Client, what, op.Call, op.Return)
}

func queryName(q int64) string {
	switch q {
	case ListLatest:
		return "latest"
	case ListEarliest:
		return "earliest"
	case ListMaxTimestamp:
		return "max-timestamp"
	}
	return fmt.Sprintf("ts %d", q)
}

// byPartition groups the history's indexes by partition, each group in call
// order, and returns the partition names sorted so that output is stable.
func byPartition(h History) ([]string, map[string][]int) {
	groups := make(map[string][]int)
	for i := range h {
		groups[h[i].Partition] = append(groups[h[i].Partition], i)
	}
	names := make([]string, 0, len(groups))
	for name, idx := range groups {
		names = append(names, name)
		sort.SliceStable(idx, func(a, b int) bool { return h[idx[a]].Call < h[idx[b]].Call })
	}
	sort.Strings(names)
	return names, groups
}
