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
)

func (k Kind) String() string {
	switch k {
	case Produce:
		return "produce"
	case Fetch:
		return "fetch"
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
	Offset int64

	// Fetch: the records returned (consecutive offsets starting at the fetch
	// offset) and the high watermark.
	Records       []Record
	HighWatermark int64

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
	default:
		what = op.Kind.String()
	}
	switch {
	case op.Ambiguous:
		what += " ambiguous"
	case !op.OK:
		what += " failed"
	}
	if op.Err != "" {
		what += " err=" + op.Err
	}
	if op.Ambiguous {
		return fmt.Sprintf("op#%d client %d %s called %d", i, op.Client, what, op.Call)
	}
	return fmt.Sprintf("op#%d client %d %s [%d,%d]", i, op.Client, what, op.Call, op.Return)
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
