package checker

import (
	"strings"
	"testing"
)

// TestGiveUpIsReported: a search past its step bound is reported, with the
// partition and the steps, in the result and in its String, and fails the
// check; and the same history gives up the same way twice (the bound is in
// steps, not wall time).
func TestGiveUpIsReported(t *testing.T) {
	// No final read: ambiguous produces nobody read keep endless intervals,
	// which is what makes porcupine's search explode.
	cfg := benchConfig
	cfg.ops, cfg.finalRead = 1000, false
	h, _ := genHistory(newRand(7), cfg, p0)
	const steps = 20_000
	var first GaveUp
	for i := 0; i < 2; i++ {
		res := Check(h, Options{LinearizabilitySteps: steps})
		if res.OK || len(res.GaveUp) != 1 || res.Linearizable[p0] {
			t.Fatalf("a search past its bound must fail and say so:\n%s", res)
		}
		g := res.GaveUp[0]
		if g.Partition != p0 || g.Steps != steps || g.TimedOut || g.Segment < 1 || g.Segment > g.Segments {
			t.Fatalf("gave up: %+v", g)
		}
		want := "linearizability: gave up on partition t/0 after 20000 steps"
		if !strings.Contains(res.String(), want) {
			t.Fatalf("String() does not say %q:\n%s", want, res)
		}
		if i == 0 {
			first = g
		} else if g.Segment != first.Segment || g.Ops != first.Ops {
			t.Fatalf("gave up differently on the same history: %+v then %+v", first, g)
		}
	}
}

// TestStaleReadAcrossSegments: a read that misses a write acknowledged
// before it was sent, with nothing in flight between them, is caught though
// write and read fall in different segments: the later segment starts from
// the log the earlier one leaves, not from an empty one.
func TestStaleReadAcrossSegments(t *testing.T) {
	h := History{
		produced(1, 0, 10, "a", 0),
		produced(2, 5, 15, "b", 1),
		fetched(3, 20, 30, 0, 2, "a", "b"), // a segment of its own
		produced(1, 40, 50, "c", 2),
		fetched(3, 60, 70, 1, 2, "b"), // stale: c was acknowledged at 50
	}
	defer func(n int) { segmentOpsMin = n }(segmentOpsMin)
	segmentOpsMin = 1
	r := Linearizability(h, Bound{}, "", nil)
	if r.OK || r.GaveUp != nil || r.Err != nil {
		t.Fatalf("stale read passed: %+v", r)
	}
	if r.Segments != 4 {
		t.Fatalf("want 4 segments (nothing in flight at 17, 35, 55), got %d", r.Segments)
	}
	// Without the stale read it passes, in the same segments.
	h[4] = fetched(3, 60, 70, 1, 3, "b", "c")
	if r := Linearizability(h, Bound{}, "", nil); !r.OK || r.Segments != 4 {
		t.Fatalf("fresh read: %+v", r)
	}
	// A write placed at an offset the earlier segments already fill is
	// caught too.
	h[3] = produced(1, 40, 50, "c", 1)
	h[4] = fetched(3, 60, 70, 1, 2, "c")
	if r := Linearizability(h, Bound{}, "", nil); r.OK {
		t.Fatalf("overwritten offset passed: %+v", r)
	}
}
