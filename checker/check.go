package checker

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// linearizabilityTimeoutDefault is used when Options leaves the timeout zero:
// porcupine is exponential in the worst case and a run must end with a verdict.
const linearizabilityTimeoutDefault = 10 * time.Second

// Options tune Check.
type Options struct {
	// LinearizabilityTimeout bounds porcupine per partition; zero means
	// linearizabilityTimeoutDefault. A timeout fails the check: it is not
	// evidence of correctness.
	LinearizabilityTimeout time.Duration
	// VizPath, when not empty, is where porcupine's HTML visualisation of a
	// non-linearizable partition is written. With more than one partition in
	// the history each file gets the partition name before the extension.
	VizPath string
	// Annotations (injected faults) are drawn on the visualisation timeline.
	Annotations []Annotation
	// SkipLinearizability runs the queue checks only, for histories too long
	// for porcupine.
	SkipLinearizability bool
}

// Result is the verdict on a history.
type Result struct {
	OK        bool
	Anomalies []Anomaly // from the queue checks
	// Linearizable is porcupine's verdict per partition, absent if skipped.
	// A timed-out partition is false here and listed in TimedOut.
	Linearizable map[string]bool
	TimedOut     []string          // partitions porcupine gave up on
	VizPaths     map[string]string // partition -> visualisation written
	Errors       []string          // malformed history, visualisation not written ...
	Ops          int               // operations judged
}

// Anomaly is one violation found by the queue checks. Kind is one of the
// Kind* constants; Detail names the operations involved by their index in
// the History (op#12).
type Anomaly struct {
	Kind      string
	Partition string
	Detail    string
}

func (a Anomaly) String() string { return fmt.Sprintf("%s %s: %s", a.Partition, a.Kind, a.Detail) }

// String renders the verdict, one finding per line, in a stable order.
func (r Result) String() string {
	var b strings.Builder
	if r.OK {
		fmt.Fprintf(&b, "ok: %d ops", r.Ops)
	} else {
		fmt.Fprintf(&b, "FAILED: %d ops", r.Ops)
	}
	names := make([]string, 0, len(r.Linearizable))
	for p := range r.Linearizable {
		names = append(names, p)
	}
	sort.Strings(names)
	timedOut := make(map[string]bool)
	for _, p := range r.TimedOut {
		timedOut[p] = true
	}
	for _, p := range names {
		switch {
		case timedOut[p]:
			fmt.Fprintf(&b, "\n%s: linearizability unknown (timed out)", p)
		case !r.Linearizable[p]:
			fmt.Fprintf(&b, "\n%s: not linearizable", p)
			if v := r.VizPaths[p]; v != "" {
				fmt.Fprintf(&b, " (see %s)", v)
			}
		}
	}
	for _, a := range r.Anomalies {
		fmt.Fprintf(&b, "\n%s", a)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "\nerror: %s", e)
	}
	return b.String()
}

// Check judges a history: the queue checks always, porcupine per partition
// unless skipped. Partitions are checked one after another so that a run uses
// one core and its output is stable.
func Check(h History, opts Options) Result {
	res := Result{Ops: len(h), Anomalies: QueueCheck(h)}
	if !opts.SkipLinearizability {
		timeout := opts.LinearizabilityTimeout
		if timeout == 0 {
			timeout = linearizabilityTimeoutDefault
		}
		names, groups := byPartition(h)
		res.Linearizable = make(map[string]bool, len(names))
		for _, name := range names {
			ops := make([]Op, len(groups[name]))
			for k, i := range groups[name] {
				ops[k] = h[i]
			}
			viz := vizPathFor(opts.VizPath, name, len(names))
			ok, timedOut, err := Linearizable(ops, timeout, viz, opts.Annotations)
			res.Linearizable[name] = ok
			if timedOut {
				res.TimedOut = append(res.TimedOut, name)
			}
			if err != nil {
				res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", name, err))
			} else if !ok && !timedOut && viz != "" {
				if res.VizPaths == nil {
					res.VizPaths = make(map[string]string)
				}
				res.VizPaths[name] = viz
			}
		}
	}
	res.OK = len(res.Anomalies) == 0 && len(res.TimedOut) == 0 && len(res.Errors) == 0
	for _, ok := range res.Linearizable {
		res.OK = res.OK && ok
	}
	return res
}

// vizPathFor keeps one file per failing partition when several share a run.
func vizPathFor(path, partition string, partitions int) string {
	if path == "" || partitions <= 1 {
		return path
	}
	ext := filepath.Ext(path)
	safe := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == filepath.Separator || r == ':' {
			return '_'
		}
		return r
	}, partition)
	return strings.TrimSuffix(path, ext) + "-" + safe + ext
}

// Linearizable checks one partition's operations with porcupine against the
// partition model. timeout 0 means no limit. When the history is not
// linearizable and vizPath is not empty, the annotated visualisation is
// written there. err reports a malformed history or a failed write; ok is
// false whenever the history was not shown linearizable.
func Linearizable(ops []Op, timeout time.Duration, vizPath string, ann []Annotation) (ok bool, timedOut bool, err error) {
	history, err := toPorcupine(ops)
	if err != nil {
		return false, false, err
	}
	// Verbose checking records partial linearizations at every backtrack,
	// which slows the common, passing case; so check plainly first and
	// search again, verbosely, only to draw a failure.
	res := porcupine.CheckOperationsTimeout(partitionModel, history, timeout)
	if res != porcupine.Illegal || vizPath == "" {
		return res == porcupine.Ok, res == porcupine.Unknown, nil
	}
	// A verbose search that times out still has partial linearizations
	// worth drawing.
	_, info := porcupine.CheckOperationsVerbose(partitionModel, history, timeout)
	pann := make([]porcupine.Annotation, 0, len(ann))
	for _, a := range ann {
		tag := a.Tag
		if tag == "" {
			tag = "faults"
		}
		pann = append(pann, porcupine.Annotation{Tag: tag, Start: a.Start, End: a.End, Description: a.Description, Details: a.Description})
	}
	info.AddAnnotations(pann)
	if err := porcupine.VisualizePath(partitionModel, info, vizPath); err != nil {
		return false, false, fmt.Errorf("writing visualisation: %w", err)
	}
	return false, false, nil
}

// opRef names an op for porcupine's visualisation; it is formatted only
// when one is drawn, which keeps the passing case cheap.
type opRef struct {
	i  int
	op *Op
}

// toPorcupine turns one partition's ops into porcupine operations.
//
// Failed ops are dropped: a definitely-failed produce wrote nothing and a
// failed or ambiguous fetch returned nothing to check. An ambiguous produce
// may take effect at any time after its call, so it gets a return time after
// every other event and an unknown offset; the model accepts it anywhere, or,
// placed last, as not having happened. Two tightenings keep porcupine from
// trying every position for it, neither changing the verdict:
//   - if a read saw its value at offset o, it is pinned to offset o and must
//     have happened before the earliest such read returned;
//   - if no read shows its value, and reads and acknowledgements account
//     for every offset from the log length it certainly found when called
//     (lenAt) up to the highest offset any op shows, it can only have landed
//     after everything observed, which is the same as not at all, so it is
//     dropped. A run ending with a full read drops them all.
//
// And one for every produce whose offset o is known (acknowledged, or pinned
// by a read): it must have happened before the first op that proved the log
// longer than o returned (an acknowledgement of a higher offset, a fetch with
// a higher high watermark; lenFirst), since in every linearization that op
// comes after the append at o. So its return is brought forward to then.
// Likewise a fetch, which sees the log exactly hw long: it comes before the
// append at hw, so before the first op proving the log longer than hw.
// This changes no verdict, and keeps porcupine from trying the many orders
// that pipelined producers (5 batches in flight, a batch buffered while no
// leader is known, acks=0 writes first seen by a read seconds later) would
// otherwise leave open: an op whose interval spans a hundred others.
func toPorcupine(ops []Op) ([]porcupine.Operation, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	type seen struct {
		offset   int64
		returned int64
	}
	observed := make(map[string]seen)
	known := make(map[int64]bool)
	var observedLen, timeMax int64
	for i := range ops {
		op := &ops[i]
		if op.Partition != ops[0].Partition {
			return nil, fmt.Errorf("op#%d is on partition %q, op#0 on %q", i, op.Partition, ops[0].Partition)
		}
		if op.Kind < Produce || op.Kind > OffsetForEpoch {
			return nil, fmt.Errorf("op#%d: unknown kind %d", i, op.Kind)
		}
		if !op.Ambiguous && op.Return < op.Call {
			return nil, fmt.Errorf("op#%d returns at %d before its call at %d", i, op.Return, op.Call)
		}
		timeMax = max(timeMax, op.Call)
		if !op.Ambiguous {
			timeMax = max(timeMax, op.Return)
		}
		switch {
		case op.Kind == Produce && op.OK:
			known[op.Offset] = true
			observedLen = max(observedLen, op.Offset+1)
		case isLatest(op):
			observedLen = max(observedLen, op.Offset)
		case op.Kind == Fetch && op.OK:
			observedLen = max(observedLen, op.HighWatermark)
			for _, r := range op.Records {
				known[r.Offset] = true
				observedLen = max(observedLen, r.Offset+1)
				// A value read at two offsets fails the model whichever
				// one it is pinned to, so the first will do.
				s, ok := observed[r.Value]
				if !ok {
					s = seen{offset: r.Offset, returned: op.Return}
				}
				s.returned = min(s.returned, op.Return)
				observed[r.Value] = s
			}
		}
	}
	if timeMax == 1<<63-1 {
		return nil, errors.New("times must be below MaxInt64, which stands for an ambiguous op's return")
	}
	// lastGap is the highest offset below observedLen that no op accounts
	// for. Walking down finds it within len(known)+1 steps.
	lastGap := observedLen - 1
	for lastGap >= 0 && known[lastGap] {
		lastGap--
	}
	lenAt, lenFirst := lenLowerBound(ops)
	never := timeMax + 1
	// returnBy is when a produce at offset o known to return at ret must
	// have happened, at the latest (never before its call).
	returnBy := func(call, ret, o int64) int64 {
		if t, ok := lenFirst(o + 1); ok && t < ret {
			ret = t
		}
		return max(call, ret)
	}

	var out []porcupine.Operation
	for i := range ops {
		op := &ops[i]
		meta := opRef{i, op} // described only if a visualisation is drawn
		switch {
		case op.Kind == Produce && op.OK:
			out = append(out, porcupine.Operation{ClientId: op.Client, Call: op.Call, Return: returnBy(op.Call, op.Return, op.Offset), Metadata: meta,
				Input:  modelInput{kind: Produce, value: op.Value},
				Output: modelOutput{known: true, offset: op.Offset}})
		case op.Kind == Produce && op.Ambiguous:
			s, ok := observed[op.Value]
			switch {
			case ok:
				out = append(out, porcupine.Operation{ClientId: op.Client, Call: op.Call, Return: returnBy(op.Call, s.returned, s.offset), Metadata: meta,
					Input:  modelInput{kind: Produce, value: op.Value},
					Output: modelOutput{known: true, offset: s.offset}})
			case lenAt(op.Call) <= lastGap:
				out = append(out, porcupine.Operation{ClientId: op.Client, Call: op.Call, Return: never, Metadata: meta,
					Input:  modelInput{kind: Produce, value: op.Value, unread: true},
					Output: modelOutput{}})
			}
		case op.Kind == Fetch && op.OK:
			// hw is the log's length where the fetch linearizes: before
			// the first op proving it longer returned.
			out = append(out, porcupine.Operation{ClientId: op.Client, Call: op.Call, Return: returnBy(op.Call, op.Return, op.HighWatermark-1), Metadata: meta,
				Input:  modelInput{kind: Fetch, offset: op.Offset},
				Output: modelOutput{known: true, records: op.Records, hw: op.HighWatermark}})
		case isLatest(op):
			// ListOffsets latest reads the high watermark, the log's
			// length, as an empty fetch does. Other ListOffsets queries and
			// OffsetForEpoch answer from the log's fixed prefix, which the
			// epoch checks judge; they are not in the model.
			out = append(out, porcupine.Operation{ClientId: op.Client, Call: op.Call, Return: op.Return, Metadata: meta,
				Input:  modelInput{kind: Fetch},
				Output: modelOutput{known: true, hw: op.Offset}})
		}
	}
	return out, nil
}

// lenLowerBound returns lenAt(t), a lower bound on the log length at time t:
// what ops that completed strictly before t prove had been committed; and
// lenFirst(l), the earliest return of an op proving the log at least l long.
func lenLowerBound(ops []Op) (lenAt func(t int64) int64, lenFirst func(l int64) (int64, bool)) {
	type mark struct{ at, len int64 }
	var marks []mark
	for i := range ops {
		op := &ops[i]
		switch {
		case op.Kind == Produce && op.OK:
			marks = append(marks, mark{op.Return, op.Offset + 1})
		case op.Kind == Fetch && op.OK:
			marks = append(marks, mark{op.Return, op.HighWatermark})
		case isLatest(op):
			marks = append(marks, mark{op.Return, op.Offset})
		}
	}
	sort.Slice(marks, func(i, j int) bool { return marks[i].at < marks[j].at })
	for i := 1; i < len(marks); i++ {
		marks[i].len = max(marks[i].len, marks[i-1].len)
	}
	lenAt = func(t int64) int64 {
		i := sort.Search(len(marks), func(i int) bool { return marks[i].at >= t })
		if i == 0 {
			return 0
		}
		return marks[i-1].len
	}
	lenFirst = func(l int64) (int64, bool) {
		i := sort.Search(len(marks), func(i int) bool { return marks[i].len >= l })
		if i == len(marks) {
			return 0, false
		}
		return marks[i].at, true
	}
	return lenAt, lenFirst
}

// isLatest reports an answered ListOffsets latest: a read of the high
// watermark, judged with the fetches.
func isLatest(op *Op) bool { return op.Kind == ListOffsets && op.OK && op.Query == ListLatest }
