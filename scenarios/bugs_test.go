package scenarios

import (
	"testing"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/sim"
)

// plantedBugs says, for each bug the node can plant, which scenario must
// catch it and within how many seeds (counting from seed 1). The bounds were
// measured, then given a margin; if a change makes a bug harder to catch,
// this test says so.
var plantedBugs = []struct {
	bug      string
	scenario string
	seeds    int64
}{
	{node.BugAckBeforeCommit, "election", 2},
	{node.BugSkipFsync, "crash", 2},
	{node.BugNoDedupe, "failover", 3},
	{node.BugStaleRead, "clock", 8},
}

// TestPlantedBugsAreCaught shows the checks can fail: each planted mistake is
// caught by its scenario within the bound.
func TestPlantedBugsAreCaught(t *testing.T) {
	covered := map[string]bool{}
	for _, pb := range plantedBugs {
		covered[pb.bug] = true
		t.Run(pb.bug, func(t *testing.T) {
			sc, ok := Get(pb.scenario)
			if !ok {
				t.Fatalf("no scenario %q", pb.scenario)
			}
			for seed := int64(1); seed <= pb.seeds; seed++ {
				cfg := sc.Config(seed)
				cfg.Bug = pb.bug
				r := sim.Run(cfg)
				if !r.OK {
					t.Logf("caught on seed %d (%s): %d violations, check: %.300s", seed, Repro(pb.scenario, seed, pb.bug), len(r.Violations), r.Check.String())
					return
				}
			}
			t.Fatalf("bug %s not caught by scenario %s in seeds 1..%d", pb.bug, pb.scenario, pb.seeds)
		})
	}
	for _, b := range node.Bugs() {
		if !covered[b] {
			t.Errorf("planted bug %s has no scenario that must catch it", b)
		}
	}
}
