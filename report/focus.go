package report

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/sim"
)

// Limits of the operations table: a window of simulated time either side
// of the focus, and at most so many rows (the ones nearest the focus, plus
// every marked one).
const (
	windowEach = 500 * time.Millisecond
	rowsMax    = 80
)

// focus is where the page looks: the time of the first violation, the
// partition it is on ("" for all), and the operations (history indexes)
// a check named.
type focus struct {
	what      string // what happened there, for the heading
	at        int64  // simulated ns; -1 if the run gave no time
	partition string
	// marked: operations a check named (on the focus's partition), marked
	// where the table shows them; kept: those the first finding named,
	// shown whatever the window.
	marked, kept map[int]bool
	// linPartition is the partition whose porcupine visualisation the page
	// embeds ("" if linearizability failed nowhere).
	linPartition string
}

var (
	atPrefix = regexp.MustCompile(`^at ([0-9a-zµ.]+): `)
	opRefs   = regexp.MustCompile(`op#([0-9]+)`)
)

// findFocus follows the order of Result.FirstCheck: the first violation
// raised as the run went (with its time), then the end-of-run checks, then
// the queue checks' first anomaly (the operations it names), then
// linearizability (the operation porcupine could not place).
func findFocus(r *sim.Result) focus {
	f := focus{at: -1, marked: map[int]bool{}, kept: map[int]bool{}}
	f.linPartition = failedPartition(r)
	switch {
	case len(r.Violations) > 0:
		v := r.Violations[0]
		f.what = v
		if m := atPrefix.FindStringSubmatch(v); m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil {
				f.at = int64(d)
			}
		} else if strings.HasPrefix(v, "ack gap") && r.AckGap.Partition != "" {
			f.at, f.partition = r.AckGap.From, r.AckGap.Partition
		} else {
			// Convergence and liveness are judged after the faults heal.
			f.at = healedAt(r)
		}
	case len(r.Check.Anomalies) > 0:
		a := r.Check.Anomalies[0]
		f.what, f.partition = a.String(), a.Partition
		for k, an := range r.Check.Anomalies {
			if an.Partition != a.Partition {
				continue
			}
			for _, m := range opRefs.FindAllStringSubmatch(an.Detail, -1) {
				if i, err := strconv.Atoi(m[1]); err == nil && i >= 0 && i < len(r.History) {
					f.marked[i] = true
					if k == 0 {
						f.kept[i] = true
					}
				}
			}
		}
		if m := opRefs.FindStringSubmatch(a.Detail); m != nil {
			if i, err := strconv.Atoi(m[1]); err == nil && i >= 0 && i < len(r.History) {
				f.at = r.History[i].Call
			}
		}
	case f.linPartition != "":
		f.partition = f.linPartition
		f.what = f.linPartition + ": not linearizable"
		stuck, err := stuckOps(r, f.linPartition)
		switch {
		case err != nil:
			f.what += " (" + err.Error() + ")"
		case len(stuck) == 0:
			f.what += " (porcupine's visualisation names no operation it could not place)"
		default:
			f.what += ": porcupine could place no order of the operations past the marked one"
			for _, i := range stuck {
				f.marked[i], f.kept[i] = true, true
			}
			f.at = r.History[stuck[0]].Call
		}
	}
	if f.at < 0 {
		f.at = healedAt(r)
	}
	return f
}

// failedPartition is the first partition (by name) porcupine found not
// linearizable, "" if none.
func failedPartition(r *sim.Result) string {
	var names []string
	timedOut := map[string]bool{}
	for _, p := range r.Check.TimedOut {
		timedOut[p] = true
	}
	for p, ok := range r.Check.Linearizable {
		if !ok && !timedOut[p] {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// healedAt is when the last fault ended (or, with none, the middle of the
// run): where liveness and convergence start to count.
func healedAt(r *sim.Result) int64 {
	var t int64
	for _, a := range r.Faults {
		t = max(t, a.End)
	}
	if t == 0 {
		t = int64(r.SimTime) / 2
	}
	return t
}

// vizData is the part of porcupine's visualisation data the page reads:
// every operation with its client and call time, and the partial
// linearizations porcupine found, longest first.
type vizData struct {
	Partitions []struct {
		History []struct {
			ClientId      int
			OriginalStart string
			OriginalEnd   string
		}
		PartialLinearizations [][]struct{ Index int }
	}
}

// readViz parses the data porcupine's visualisation embeds ("const data =
// {...}" on one line of its HTML).
func readViz(html []byte) (vizData, error) {
	var d vizData
	const marker = "const data = "
	s := string(html)
	i := strings.Index(s, marker)
	if i < 0 {
		return d, errors.New("no data in porcupine's visualisation")
	}
	s = s[i+len(marker):]
	if j := strings.IndexByte(s, '\n'); j >= 0 {
		s = s[:j]
	}
	err := json.Unmarshal([]byte(strings.TrimSuffix(strings.TrimSpace(s), ";")), &d)
	return d, err
}

// stuckOps names, as history indexes, the operations porcupine could not
// place: in each of its partitions that has no complete linearization, the
// operation outside the longest partial one that returns first (every
// order must place it before anything called after it returned, and none
// could). Operations are matched by client and call time, which is what
// porcupine keeps of them.
func stuckOps(r *sim.Result, partition string) ([]int, error) {
	path := r.Check.VizPaths[partition]
	if path == "" {
		return nil, errors.New("no visualisation was written: run with a VizPath")
	}
	html, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := readViz(html)
	if err != nil {
		return nil, err
	}
	type key struct {
		client int
		call   int64
	}
	byCall := map[key]int{}
	for i := range r.History {
		op := &r.History[i]
		if op.Partition == partition {
			byCall[key{op.Client, op.Call}] = i
		}
	}
	var out []int
	for _, p := range d.Partitions {
		in := make([]bool, len(p.History))
		if len(p.PartialLinearizations) > 0 {
			longest := p.PartialLinearizations[0]
			for _, l := range p.PartialLinearizations {
				if len(l) > len(longest) {
					longest = l
				}
			}
			for _, s := range longest {
				if s.Index >= 0 && s.Index < len(in) {
					in[s.Index] = true
				}
			}
		}
		best, bestEnd := -1, int64(0)
		for j, h := range p.History {
			if in[j] {
				continue
			}
			end, err := strconv.ParseInt(h.OriginalEnd, 10, 64)
			if err != nil {
				continue
			}
			if best < 0 || end < bestEnd {
				best, bestEnd = j, end
			}
		}
		if best < 0 {
			continue
		}
		call, err := strconv.ParseInt(p.History[best].OriginalStart, 10, 64)
		if err != nil {
			continue
		}
		if i, ok := byCall[key{p.History[best].ClientId, call}]; ok {
			out = append(out, i)
		}
	}
	sort.Ints(out)
	return out, nil
}

// window picks the operations the table shows: those of the focus's
// partition (all, if none) that overlap windowEach either side of the
// focus, at most rowsMax of them, the nearest, and the kept ones whatever
// their time; in call order.
func window(h checker.History, f focus) []int {
	lo, hi := f.at-int64(windowEach), f.at+int64(windowEach)
	var rows []int
	for i := range h {
		op := &h[i]
		if f.partition != "" && op.Partition != f.partition {
			continue
		}
		end := op.Return
		if op.Ambiguous || end < op.Call {
			end = op.Call
		}
		if f.kept[i] || (op.Call <= hi && end >= lo) {
			rows = append(rows, i)
		}
	}
	if len(rows) > rowsMax {
		dist := func(i int) int64 {
			d := h[i].Call - f.at
			if d < 0 {
				d = -d
			}
			return d
		}
		sort.SliceStable(rows, func(a, b int) bool {
			ma, mb := f.kept[rows[a]], f.kept[rows[b]]
			if ma != mb {
				return ma
			}
			return dist(rows[a]) < dist(rows[b])
		})
		rows = rows[:rowsMax]
	}
	sort.SliceStable(rows, func(a, b int) bool {
		if h[rows[a]].Call != h[rows[b]].Call {
			return h[rows[a]].Call < h[rows[b]].Call
		}
		return rows[a] < rows[b]
	})
	return rows
}
