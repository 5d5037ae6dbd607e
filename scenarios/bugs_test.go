package scenarios

import (
	"testing"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/sim"
)

// plantedBugs says, for each bug the node can plant, which scenario must
// catch it and within how many seeds (counting from seed 1). The bounds come
// from measured catch rates, with a margin: which seed catches a bug moves
// whenever the node's behaviour shifts a trace, but if a change makes a bug
// much harder to catch, this test says so.
var plantedBugs = []struct {
	bug      string
	scenario string
	seeds    int64
}{
	// Caught on every seed measured (1..8).
	{node.BugAckBeforeCommit, "election", 4},
	{node.BugSkipFsync, "crash", 4},
	// Caught on 18 of seeds 1..30 when measured: missing 8 in a row would
	// take a change that makes the bug much harder to see.
	{node.BugNoDedupe, "failover", 8},
	// Caught on 12 of seeds 1..20 (the stalled leader waking up cut off).
	{node.BugStaleRead, "partition", 8},
	// Disk: caught on 27 of seeds 1..30 (the restarted node lacks committed
	// entries it acknowledged, or raft panics on them), never two misses in a row.
	{node.BugTruncateOnCorruption, "disk", 4},
	// Caught on 26 of seeds 1..30 (fsync EIO then power loss: the node
	// cannot start, though no fault hit data it had synced).
	{node.BugFsyncRetry, "disk", 4},
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
