package checker

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// linearizabilityTimeoutDefault is used when Options leaves the timeout zero:
// porcupine is exponential in the worst case and a run must end with a verdict.
const linearizabilityTimeoutDefault = 10 * time.Second

// linearizabilityStepsDefault bounds porcupine's search per partition, in
// model steps: deterministic, unlike the timeout, so a seed's verdict does
// not depend on the machine's load. Measured: failover seeds 1-4 take at
// most 23k steps on a partition of 9.4k ops, swarm seeds 1-6, 41 and 59
// (the porcupine regressions) at most 18k; 2M steps are a second or two of
// search, a hundred times more than any default scenario needs.
const linearizabilityStepsDefault = 2_000_000

// Options tune Check.
type Options struct {
	// LinearizabilityTimeout bounds porcupine per partition in wall time;
	// zero means linearizabilityTimeoutDefault. LinearizabilitySteps bounds
	// it in model steps; zero means linearizabilityStepsDefault. Giving up
	// fails the check (it is not evidence of correctness) and is reported
	// in Result.GaveUp.
	LinearizabilityTimeout time.Duration
	LinearizabilitySteps   int
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
	TimedOut     []string // partitions porcupine gave up on (details in GaveUp)
	GaveUp       []GaveUp
	VizPaths     map[string]string // partition -> visualisation written
	Errors       []string          // malformed history, visualisation not written ...
	Ops          int               // operations judged
}

// GaveUp says where and after how much work porcupine gave up on a
// partition: its step bound or its timeout ran out on one segment of the
// partition's history (Bound, Linearizability).
type GaveUp struct {
	Partition string
	Steps     int           // model steps taken (the bound, when that ran out)
	Elapsed   time.Duration // wall time spent on the partition
	TimedOut  bool          // the timeout ran out, not the step bound
	Segment   int           // which segment (1-based) of Segments
	Segments  int
	Ops       int // porcupine operations in that segment
}

func (g GaveUp) String() string {
	after := fmt.Sprintf("%d steps (%v", g.Steps, g.Elapsed.Round(time.Millisecond))
	if g.TimedOut {
		after = fmt.Sprintf("%v (timed out", g.Elapsed.Round(time.Millisecond))
	}
	return fmt.Sprintf("linearizability: gave up on partition %s after %s, segment %d of %d, %d ops): unknown, not passed",
		g.Partition, after, g.Segment, g.Segments, g.Ops)
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
	gaveUp := make(map[string]GaveUp)
	for _, g := range r.GaveUp {
		gaveUp[g.Partition] = g
	}
	for _, p := range names {
		switch {
		case timedOut[p] && gaveUp[p].Partition != "":
			fmt.Fprintf(&b, "\n%s", gaveUp[p])
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
		bound := Bound{Timeout: opts.LinearizabilityTimeout, Steps: opts.LinearizabilitySteps}
		if bound.Timeout == 0 {
			bound.Timeout = linearizabilityTimeoutDefault
		}
		names, groups := byPartition(h)
		res.Linearizable = make(map[string]bool, len(names))
		for _, name := range names {
			ops := make([]Op, len(groups[name]))
			for k, i := range groups[name] {
				ops[k] = h[i]
			}
			viz := vizPathFor(opts.VizPath, name, len(names))
			lr := Linearizability(ops, bound, viz, opts.Annotations)
			ok, timedOut, err := lr.OK, lr.GaveUp != nil, lr.Err
			res.Linearizable[name] = ok
			if timedOut {
				res.TimedOut = append(res.TimedOut, name)
				g := *lr.GaveUp
				g.Partition = name
				res.GaveUp = append(res.GaveUp, g)
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
// partition model. timeout 0 means no wall-time limit; the search is bounded
// by linearizabilityStepsDefault steps either way. When the history is not
// linearizable and vizPath is not empty, the annotated visualisation is
// written there. err reports a malformed history or a failed write; ok is
// false whenever the history was not shown linearizable; timedOut, when the
// search gave up.
func Linearizable(ops []Op, timeout time.Duration, vizPath string, ann []Annotation) (ok bool, timedOut bool, err error) {
	r := Linearizability(ops, Bound{Timeout: timeout}, vizPath, ann)
	return r.OK, r.GaveUp != nil, r.Err
}

// Bound limits one partition's search: Steps model steps (0:
// linearizabilityStepsDefault) and Timeout of wall time (0: none).
type Bound struct {
	Steps   int
	Timeout time.Duration
}

// LinResult is the verdict on one partition.
type LinResult struct {
	OK       bool
	GaveUp   *GaveUp // the bound ran out: neither shown linearizable nor not
	Steps    int     // model steps porcupine took
	Segments int     // independent segments the history split into
	Err      error
}

// Linearizability checks one partition's operations with porcupine, bounded
// by b, in segments: wherever no operation is in flight (every op called so
// far has returned before the next is called), every linearization puts the
// ops before that point first, so each segment is checked on its own,
// starting from the log the segments before it leave. That log is unique
// once they passed: every produce porcupine sees there has a known offset
// (an ambiguous produce of unknown offset has no return, so no segment ends
// after it). Porcupine's search is exponential in the ops in flight at once
// and in a segment's length in the worst case; segments keep a bad stretch
// from costing the whole history.
func Linearizability(ops []Op, b Bound, vizPath string, ann []Annotation) LinResult {
	history, err := toPorcupine(ops)
	if err != nil {
		return LinResult{Err: err}
	}
	callsInOrder(history)
	if b.Steps <= 0 {
		b.Steps = linearizabilityStepsDefault
	}
	start := time.Now()
	segs := segments(history)
	res := LinResult{Segments: len(segs)}
	budget := b.Steps
	state := emptyLog
	for k, seg := range segs {
		timeout := time.Duration(0)
		if b.Timeout > 0 {
			if timeout = b.Timeout - time.Since(start); timeout <= 0 {
				timeout = time.Nanosecond
			}
		}
		before := budget
		model := boundedModel(state, &budget)
		// Verbose checking records partial linearizations at every
		// backtrack, which slows the common, passing case; so check
		// plainly first and search again, verbosely, only to draw a
		// failure.
		verdict := porcupine.CheckOperationsTimeout(model, seg, timeout)
		if verdict == porcupine.Unknown {
			// Timed out: the search may still be running, so the budget
			// is not read again.
			res.GaveUp = &GaveUp{Steps: b.Steps - before, Elapsed: time.Since(start), TimedOut: true,
				Segment: k + 1, Segments: len(segs), Ops: len(seg)}
			return res
		}
		res.Steps += before - budget
		if budget <= 0 {
			// Out of steps: the model refused every step since, which
			// porcupine reports as illegal.
			res.GaveUp = &GaveUp{Steps: res.Steps, Elapsed: time.Since(start), Segment: k + 1, Segments: len(segs), Ops: len(seg)}
			return res
		}
		if verdict == porcupine.Illegal {
			if vizPath != "" {
				res.Err = visualize(state, seg, b, vizPath, ann)
			}
			return res
		}
		state = logAfter(state, seg)
	}
	res.OK = true
	return res
}

// segmentOpsMin is the fewest ops a segment gets before it may end: a
// quiescent point comes every few ops under a steady load, and each
// porcupine call costs a goroutine, a timer and its setup; a few hundred ops
// between calls keep that small without letting a segment grow long.
var segmentOpsMin = 256 // a variable for the tests

// segments splits porcupine operations where none is in flight, once a
// segment holds segmentOpsMin ops.
func segments(ops []porcupine.Operation) [][]porcupine.Operation {
	if len(ops) == 0 {
		return nil
	}
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return ops[order[i]].Call < ops[order[j]].Call })
	var out [][]porcupine.Operation
	cut := func(idx []int) {
		sort.Ints(idx) // the ops in their history order, as before splitting
		seg := make([]porcupine.Operation, len(idx))
		for k, i := range idx {
			seg[k] = ops[i]
		}
		out = append(out, seg)
	}
	from := 0
	returned := ops[order[0]].Return
	for k := 1; k < len(order); k++ {
		op := &ops[order[k]]
		// Porcupine orders a call before a return at the same instant, so
		// only a call strictly after every return so far starts anew.
		if op.Call > returned && k-from >= segmentOpsMin {
			cut(order[from:k])
			from = k
		}
		returned = max(returned, op.Return)
	}
	cut(order[from:])
	return out
}

// timeScale maps a history's times to porcupine's: t becomes (t-t0)*k for a
// call, and (t-t0)*k + k-1 for a return.
type timeScale struct{ t0, k int64 }

func (s timeScale) call(t int64) int64 { return (t - s.t0) * s.k }
func (s timeScale) ret(t int64) int64  { return (t-s.t0)*s.k + s.k - 1 }

// callsInOrder moves calls later to where the known offsets put them, so
// that porcupine tries ops in the order the log forces. Every op but an
// unread ambiguous produce has a place in that order: a produce at offset o
// comes after every append below o and every read of a log at most o long,
// a fetch (or ListOffsets latest) of high watermark hw after every append
// below hw; so in every linearization an op comes after every op placed
// before it, and cannot have taken effect before the latest call among
// them. Raising its call to there changes no verdict.
//
// Porcupine tries the pending op called first and backtracks only on
// reaching a return. Without this, a produce at hw called before a fetch
// of high watermark hw is tried first; the fetch can then no longer be
// placed, which porcupine learns only at its return, and if k fetches of
// one log length became possible meanwhile it tries all 2^k subsets of
// them first (seed 109 of swarm: 34 parked fetches of the final log, 2M
// steps without a verdict; 5k once the produce waits for the fetch).
//
// The raised call has to sort after the call it waits for, and an op
// returning at exactly that instant must stay concurrent with it; so times
// are scaled by k: a call at t goes to (t-t0)*k, a return to (t-t0)*k+k-1
// (which keeps every order and tie between a call and a return), and a
// raised call to the call it waits for plus its place's rank (below k),
// which is after every return before that call and before every return at
// it or after. Each op's metadata keeps its times from before, for the
// visualisation (whose times must be the history's, and which the run's page
// matches ops by). If the scaled times would overflow, times stay as they
// are and no call moves.
func callsInOrder(history []porcupine.Operation) {
	for i := range history {
		op := &history[i]
		if r, ok := op.Metadata.(*opRef); ok {
			r.call, r.ret = op.Call, op.Return
		}
	}
	if len(history) == 0 {
		return
	}
	// place is an op's position in the log's order: 2o+1 for a produce at
	// o, 2hw for a read of hw (after the append at hw-1, before the one at
	// hw); -1 for an unread ambiguous produce, which has none.
	place := func(op *porcupine.Operation) int64 {
		in, out := op.Input.(*modelInput), op.Output.(*modelOutput)
		switch {
		case in.kind == Produce && out.known:
			return 2*out.offset + 1
		case in.kind == Produce:
			return -1
		}
		return 2 * out.hw
	}
	t0, t1 := history[0].Call, history[0].Return
	for i := range history {
		t0 = min(t0, history[i].Call)
		t1 = max(t1, history[i].Return)
	}
	k := int64(2*len(history) + 2) // more than the ranks below
	if t1-t0 >= (1<<62)/k {
		return
	}
	s := timeScale{t0: t0, k: k}
	order := make([]int, 0, len(history))
	for i := range history {
		op := &history[i]
		if place(op) >= 0 {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return place(&history[order[i]]) < place(&history[order[j]]) })
	// before is the latest call, scaled, among ops placed before the
	// current place; rank counts places from 1.
	before, rank := int64(-1), int64(0)
	for g := 0; g < len(order); {
		p := place(&history[order[g]])
		rank++
		end := g
		latest := before
		for ; end < len(order) && place(&history[order[end]]) == p; end++ {
			op := &history[order[end]]
			call, ret := s.call(op.Call), s.ret(op.Return)
			latest = max(latest, call)
			// A call raised past the op's return means an op placed
			// before it was called after it returned: not linearizable
			// either way, and the call is left alone.
			if before >= 0 && before+rank > call && before+rank <= ret {
				call = before + rank
			}
			op.Call, op.Return = call, ret
		}
		before = latest
		g = end
	}
	for i := range history {
		if op := &history[i]; place(op) < 0 {
			op.Call, op.Return = s.call(op.Call), s.ret(op.Return)
		}
	}
}

// logAfter is the log a segment that passed leaves: its produces at their
// offsets, in offset order.
func logAfter(log *logNode, seg []porcupine.Operation) *logNode {
	type placed struct {
		offset int64
		value  string
	}
	var ps []placed
	for _, op := range seg {
		in, out := op.Input.(*modelInput), op.Output.(*modelOutput)
		if in.kind == Produce && out.known {
			ps = append(ps, placed{out.offset, in.value})
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].offset < ps[j].offset })
	for _, p := range ps {
		log = log.append(p.value, false)
	}
	return log
}

// boundedModel is partitionModel starting from log, refusing every step
// once budget is spent.
func boundedModel(log *logNode, budget *int) porcupine.Model {
	m := partitionModel
	m.Init = func() any { return log }
	step := partitionModel.Step
	m.Step = func(state, input, output any) (bool, any) {
		if *budget <= 0 {
			return false, state
		}
		*budget--
		return step(state, input, output)
	}
	return m
}

// visualize draws the failing segment: the search again, verbosely (a
// verbose search that runs out still has partial linearizations worth
// drawing), on the times before callsInOrder scaled them, so that the
// drawing, the fault annotations and the run's page agree with the history.
func visualize(log *logNode, seg []porcupine.Operation, b Bound, vizPath string, ann []Annotation) error {
	seg = slices.Clone(seg)
	for i := range seg {
		if r, ok := seg[i].Metadata.(*opRef); ok {
			seg[i].Call, seg[i].Return = r.call, r.ret
		}
	}
	budget := b.Steps
	model := boundedModel(log, &budget)
	_, info := porcupine.CheckOperationsVerbose(model, seg, b.Timeout)
	pann := make([]porcupine.Annotation, 0, len(ann))
	for _, a := range ann {
		tag := a.Tag
		if tag == "" {
			tag = "faults"
		}
		pann = append(pann, porcupine.Annotation{Tag: tag, Start: a.Start, End: a.End, Description: a.Description, Details: a.Description})
	}
	info.AddAnnotations(pann)
	budget = b.Steps // drawing replays the partial linearizations
	if err := porcupine.VisualizePath(model, info, vizPath); err != nil {
		return fmt.Errorf("writing visualisation: %w", err)
	}
	return nil
}

// opRef names an op for porcupine's visualisation; it is formatted only
// when one is drawn, which keeps the passing case cheap.
type opRef struct {
	i         int
	op        *Op
	call, ret int64 // porcupine's times before callsInOrder
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
	// Sized for a record per op, about what a run reads: no rehashing as
	// they fill.
	observed := make(map[string]seen, len(ops))
	known := make(map[int64]bool, len(ops))
	var observedLen, timeMax int64
	// A record read again at the offset where its value was first read
	// changes only the earliest return of a read of it: that is kept per
	// offset (again, againRet) and folded into observed at the end, so the
	// many repeated sightings cost no map lookups.
	again := newOffsetMemo(len(ops))
	var againRet []int64
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
				if again.is(r.Offset, r.Value) {
					againRet[r.Offset] = min(againRet[r.Offset], op.Return)
					continue
				}
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
				if _, seenThere := again.get(r.Offset); !seenThere && s.offset == r.Offset {
					again.set(r.Offset, r.Value)
					for int64(len(againRet)) < int64(len(again.has)) {
						againRet = append(againRet, 1<<63-1)
					}
				}
			}
		}
	}
	for o, ok := range again.has {
		if ok {
			s := observed[again.vals[o]]
			s.returned = min(s.returned, againRet[o])
			observed[again.vals[o]] = s
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

	out := make([]porcupine.Operation, 0, len(ops))
	// Inputs, outputs and metadata live in slabs, one allocation each, and
	// go into porcupine's interfaces as pointers: no allocation per op.
	ins, outs, metas := make([]modelInput, len(ops)), make([]modelOutput, len(ops)), make([]opRef, len(ops))
	for i := range ops {
		op := &ops[i]
		add := func(ret int64, in modelInput, res modelOutput) {
			ins[i], outs[i] = in, res
			metas[i] = opRef{i: i, op: op} // described only if a visualisation is drawn
			out = append(out, porcupine.Operation{ClientId: op.Client, Call: op.Call, Return: ret, Metadata: &metas[i],
				Input: &ins[i], Output: &outs[i]})
		}
		switch {
		case op.Kind == Produce && op.OK:
			add(returnBy(op.Call, op.Return, op.Offset), modelInput{kind: Produce, value: op.Value}, modelOutput{known: true, offset: op.Offset})
		case op.Kind == Produce && op.Ambiguous:
			s, ok := observed[op.Value]
			switch {
			case ok:
				add(returnBy(op.Call, s.returned, s.offset), modelInput{kind: Produce, value: op.Value}, modelOutput{known: true, offset: s.offset})
			case lenAt(op.Call) <= lastGap:
				add(never, modelInput{kind: Produce, value: op.Value, unread: true}, modelOutput{})
			}
		case op.Kind == Fetch && op.OK:
			// hw is the log's length where the fetch linearizes: before
			// the first op proving it longer returned.
			add(returnBy(op.Call, op.Return, op.HighWatermark-1), modelInput{kind: Fetch, offset: op.Offset},
				modelOutput{known: true, records: op.Records, hw: op.HighWatermark})
		case isLatest(op):
			// ListOffsets latest reads the high watermark, the log's
			// length, as an empty fetch does. Other ListOffsets queries and
			// OffsetForEpoch answer from the log's fixed prefix, which the
			// epoch checks judge; they are not in the model.
			add(op.Return, modelInput{kind: Fetch}, modelOutput{known: true, hw: op.Offset})
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
