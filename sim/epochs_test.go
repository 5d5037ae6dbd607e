package sim

import (
	"strings"
	"testing"
)

// TestOneLeaderPerEpoch: two Metadata answers naming different leaders for
// one epoch of one topic are a violation; the same leader again, another
// epoch, or a recreated topic (another ID) reusing the epoch are not.
func TestOneLeaderPerEpoch(t *testing.T) {
	w := &World{}
	k := tp{"t", 0}
	a, b := [16]byte{1}, [16]byte{2}
	w.noteEpochLeader(1, 1, a, k, 3, 1)
	w.noteEpochLeader(2, 2, a, k, 3, 1) // another broker relays the same leader
	w.noteEpochLeader(1, 2, a, k, 4, 2) // a new epoch, a new leader
	w.noteEpochLeader(1, 3, b, k, 3, 2) // the topic was recreated: its epochs start over
	w.noteEpochLeader(1, 3, a, k, -1, 3)
	if len(w.violation) != 0 {
		t.Fatalf("violations for answers that agree: %q", w.violation)
	}
	w.noteEpochLeader(3, 3, a, k, 3, 3)
	if len(w.violation) != 1 || !strings.Contains(w.violation[0], "one leader epoch has two leaders") {
		t.Fatalf("two leaders of epoch 3 gave violations %q", w.violation)
	}
	if got := (Result{Violations: w.violation}).FirstCheck(); got != "one-leader-per-epoch" {
		t.Fatalf("FirstCheck = %q", got)
	}
}
