package checker

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func drawConfig(t *rapid.T) genConfig {
	return genConfig{
		ops:       rapid.IntRange(1, 30).Draw(t, "ops"),
		clients:   rapid.IntRange(1, 4).Draw(t, "clients"),
		window:    int64(rapid.IntRange(0, 30).Draw(t, "window")),
		ambiguous: rapid.IntRange(0, 30).Draw(t, "ambiguous%"),
		failed:    rapid.IntRange(0, 20).Draw(t, "failed%"),
		fetchMax:  rapid.IntRange(0, 4).Draw(t, "fetchMax"),
		fetchBack: rapid.IntRange(0, 10).Draw(t, "fetchBack"),
		finalRead: rapid.Bool().Draw(t, "finalRead"),
	}
}

func rapidRand(t *rapid.T) func(int) int {
	return func(n int) int { return rapid.IntRange(0, n-1).Draw(t, "r") }
}

// TestValidHistoriesPass: histories from a sequential log, whatever their
// concurrency and failures, pass every check.
func TestValidHistoriesPass(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawConfig(t)
		h, _ := genHistory(rapidRand(t), cfg, "a/0")
		h2, _ := genHistory(rapidRand(t), cfg, "b/0")
		h = append(h, h2...)
		if res := Check(h, Options{LinearizabilityTimeout: 10 * time.Second}); !res.OK {
			t.Fatalf("valid history rejected:\n%s\n%s", res, dump(h))
		}
	})
}

// A mutation breaks one op of a valid history in a way no valid history can
// show, and names the check bound to notice.
type mutation struct {
	name  string
	kind  string // the queue anomaly expected; "" means porcupine must fail
	apply func(t *rapid.T, h History, log []string) bool
}

func pick(t *rapid.T, h History, label string, ok func(*Op) bool) *Op {
	var idx []int
	for i := range h {
		if ok(&h[i]) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	return &h[rapid.SampledFrom(idx).Draw(t, label)]
}

func readWithRecords(op *Op) bool { return op.Kind == Fetch && op.OK && len(op.Records) > 0 }

var mutations = []mutation{
	{"phantom record", KindPhantom, func(t *rapid.T, h History, _ []string) bool {
		op := pick(t, h, "read", readWithRecords)
		if op == nil {
			return false
		}
		op.Records[rapid.IntRange(0, len(op.Records)-1).Draw(t, "k")].Value = "ghost"
		return true
	}},
	{"skipped offset", KindSkippedOffset, func(t *rapid.T, h History, _ []string) bool {
		op := pick(t, h, "read", readWithRecords)
		if op == nil {
			return false
		}
		op.Records[len(op.Records)-1].Offset++
		return true
	}},
	{"duplicated record", KindDuplicate, func(t *rapid.T, h History, _ []string) bool {
		op := pick(t, h, "read", readWithRecords)
		if op == nil {
			return false
		}
		last := op.Records[len(op.Records)-1].Offset
		op.Records = append(op.Records, Record{Offset: last + 1, Value: op.Records[0].Value})
		op.HighWatermark = max(op.HighWatermark, last+2)
		return true
	}},
	{"offset acknowledged twice", KindOffsetConflict, func(t *rapid.T, h History, _ []string) bool {
		isAck := func(op *Op) bool { return op.Kind == Produce && op.OK }
		a := pick(t, h, "ack1", isAck)
		if a == nil {
			return false
		}
		b := pick(t, h, "ack2", func(op *Op) bool { return isAck(op) && op != a })
		if b == nil {
			return false
		}
		b.Offset = a.Offset
		return true
	}},
	{"read misses an acknowledged write", KindStaleRead, func(t *rapid.T, h History, _ []string) bool {
		ack := pick(t, h, "ack", func(op *Op) bool { return op.Kind == Produce && op.OK })
		if ack == nil {
			return false
		}
		read := pick(t, h, "read", func(op *Op) bool { return op.Kind == Fetch && op.OK && op.Call > ack.Return })
		if read == nil {
			return false
		}
		read.HighWatermark = ack.Offset
		return true
	}},
	{"high watermark beyond any log", "", func(t *rapid.T, h History, _ []string) bool {
		op := pick(t, h, "read", func(op *Op) bool { return op.Kind == Fetch && op.OK })
		if op == nil {
			return false
		}
		var writes int64 // the longest log the produces could have made
		for _, w := range h {
			if w.Kind == Produce && (w.OK || w.Ambiguous) {
				writes++
			}
		}
		op.HighWatermark = writes + 1 + int64(rapid.IntRange(0, 3).Draw(t, "extra"))
		return true
	}},
	{"read before the write was called", "", func(t *rapid.T, h History, _ []string) bool {
		calls := make(map[string]int64)
		for _, op := range h {
			if op.Kind == Produce {
				calls[op.Value] = op.Call
			}
		}
		op := pick(t, h, "read", func(op *Op) bool { return readWithRecords(op) && calls[op.Records[0].Value] >= 2 })
		if op == nil {
			return false
		}
		op.Call, op.Return = calls[op.Records[0].Value]-2, calls[op.Records[0].Value]-1
		return true
	}},
}

// TestMutatedHistoriesFail: one broken op in a valid history is caught, by the
// check meant to catch it.
func TestMutatedHistoriesFail(t *testing.T) {
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				h, log := genHistory(rapidRand(t), drawConfig(t), p0)
				if !m.apply(t, h, log) {
					t.Skip("nothing to mutate")
				}
				if m.kind != "" {
					if got := QueueCheck(h); !slices.Contains(kinds(got), m.kind) {
						t.Fatalf("QueueCheck missed %s: %v\n%s", m.kind, got, dump(h))
					}
					return
				}
				ok, to, err := Linearizable(h, 10*time.Second, "", nil)
				if ok || to || err != nil {
					t.Fatalf("Linearizable ok=%v timedOut=%v err=%v\n%s", ok, to, err, dump(h))
				}
			})
		})
	}
}

func dump(h History) string {
	s := ""
	for i := range h {
		s += fmt.Sprintf("%s %v\n", describeOp(i, &h[i]), h[i].Records)
	}
	return s
}

func drawEpochConfig(t *rapid.T) genConfig {
	cfg := drawConfig(t)
	cfg.epochs = true
	return cfg
}

// TestValidEpochHistoriesPass: with leader changes, epochs on records and
// OffsetForEpoch and ListOffsets answered as a leader would, every check
// passes.
func TestValidEpochHistoriesPass(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h, _ := genHistory(rapidRand(t), drawEpochConfig(t), p0)
		if res := Check(h, Options{LinearizabilityTimeout: 10 * time.Second}); !res.OK {
			t.Fatalf("valid history rejected:\n%s\n%s", res, dump(h))
		}
	})
}

// readRecords returns pointers to every record the OK fetches of h show.
func readRecords(h History) []*Record {
	var out []*Record
	for i := range h {
		if h[i].Kind == Fetch && h[i].OK {
			for k := range h[i].Records {
				out = append(out, &h[i].Records[k])
			}
		}
	}
	return out
}

var epochMutations = []mutation{
	{"OffsetForEpoch answers an old epoch with the log end", KindEpochEnd, func(t *rapid.T, h History, _ []string) bool {
		recs := readRecords(h)
		op := pick(t, h, "ask", func(op *Op) bool {
			if op.Kind != OffsetForEpoch || !op.OK || op.Offset < 0 {
				return false
			}
			for _, r := range recs {
				if r.Epoch > op.Epoch {
					return true
				}
			}
			return false
		})
		if op == nil {
			return false
		}
		for _, r := range recs {
			if r.Epoch > op.Epoch {
				op.Offset = max(op.Offset, r.Offset+1)
			}
		}
		return true
	}},
	{"an epoch goes down along the log", KindEpochRegressed, func(t *rapid.T, h History, _ []string) bool {
		recs := readRecords(h)
		var top int64 = -1
		for _, r := range recs {
			top = max(top, r.Offset)
		}
		var below []int64
		for _, r := range recs {
			if r.Offset < top && !slices.Contains(below, r.Offset) {
				below = append(below, r.Offset)
			}
		}
		if len(below) == 0 {
			return false
		}
		o := rapid.SampledFrom(below).Draw(t, "offset")
		var above int32
		for _, r := range recs {
			if r.Offset > o {
				above = max(above, r.Epoch)
			}
		}
		for _, r := range recs {
			if r.Offset == o {
				r.Epoch = above + 1
			}
		}
		return true
	}},
	{"a record's epoch changes between reads", KindEpochChanged, func(t *rapid.T, h History, _ []string) bool {
		recs := readRecords(h)
		seen := map[int64]int{}
		var twice []int
		for k, r := range recs {
			if j, ok := seen[r.Offset]; ok {
				twice = append(twice, j, k)
				continue
			}
			seen[r.Offset] = k
		}
		if len(twice) == 0 {
			return false
		}
		recs[twice[2*rapid.IntRange(0, len(twice)/2-1).Draw(t, "pair")+1]].Epoch += 1 + int32(rapid.IntRange(0, 2).Draw(t, "by"))
		return true
	}},
}

// TestMutatedEpochHistoriesFail: one broken epoch in a valid history is
// caught by the epoch check meant to catch it.
func TestMutatedEpochHistoriesFail(t *testing.T) {
	for _, m := range epochMutations {
		t.Run(m.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				h, log := genHistory(rapidRand(t), drawEpochConfig(t), p0)
				if !m.apply(t, h, log) {
					t.Skip("nothing to mutate")
				}
				if got := QueueCheck(h); !slices.Contains(kinds(got), m.kind) {
					t.Fatalf("QueueCheck missed %s: %v\n%s", m.kind, got, dump(h))
				}
			})
		})
	}
}
