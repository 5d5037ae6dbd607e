package sim

import (
	"strings"
	"testing"
	"time"
)

// TestConvergenceCatchesAStuckReplica: a replica cut from its peers after
// every fault healed (as a follower paused in StateSnapshot is) misses the
// last writes; the end-of-run check on the nodes' state must say so. The same
// run without the cut converges.
func TestConvergenceCatchesAStuckReplica(t *testing.T) {
	for _, stuck := range []bool{false, true} {
		cfg := Config{Seed: 3, Scenario: "converge", Duration: 3 * time.Second, Quiet: 4 * time.Second}
		cfg.defaults()
		w := newWorld(cfg)
		if stuck {
			w.at(int64(cfg.Duration+time.Second), "test-cut", 0, 0, 0, func() {
				for _, o := range w.nodes {
					if o.id != 3 {
						w.cut[[2]uint64{3, o.id}], w.cut[[2]uint64{o.id, 3}] = true, true
					}
				}
			})
		}
		w.run()
		var conv []string
		for _, v := range w.violation {
			if strings.Contains(v, "convergence") {
				conv = append(conv, v)
			}
		}
		switch {
		case stuck && len(conv) == 0:
			t.Fatalf("node 3 cut off for the last %v: no convergence violation (violations: %v)", cfg.Quiet-time.Second, w.violation)
		case stuck && !strings.Contains(strings.Join(conv, "\n"), "node 3 applied"):
			t.Fatalf("the convergence violations do not name node 3: %v", conv)
		case !stuck && len(w.violation) > 0:
			t.Fatalf("calm run: %v", w.violation)
		}
		t.Logf("stuck=%v: %d convergence violations, first: %.300s", stuck, len(conv), strings.Join(conv, " | "))
	}
}
