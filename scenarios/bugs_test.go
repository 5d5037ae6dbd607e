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
	// Caught on 30 of seeds 1..30 (consumers validating their position
	// after the leader changes), and by swarm on 41 of seeds 1..50.
	{node.BugFetchIgnoresEpoch, "partition", 4},
	// Caught on 11 of seeds 1..30 (first on 4, never more than 5 apart):
	// the stalled leader wakes up holding FetchWaitsMax (2 in the
	// simulator) parked fetches and answers the next ones unconfirmed.
	{node.BugOverloadStaleRead, "partition", 12},
	// Disk: caught on 27 of seeds 1..30 (the restarted node lacks committed
	// entries it acknowledged, or raft panics on them), never two misses in a row.
	{node.BugTruncateOnCorruption, "disk", 4},
	// Caught on 26 of seeds 1..30 (fsync EIO then power loss: the node
	// cannot start, though no fault hit data it had synced).
	{node.BugFsyncRetry, "disk", 4},
}

// awaitingScenario lists the planted bugs that no scenario reaches yet, with
// what is missing; a unit test in node/ or wal/ shows each one's mechanism
// (and that the fix holds). Move a bug to plantedBugs once a scenario
// catches it.
var awaitingScenario = map[string]string{
	// A run applies 13-16 metadata entries and sends 0 or 1 MsgSnap
	// (measured on chaos and crash seeds 1-3), so a lost snapshot never
	// happens; it needs metadata churn (topics created and deleted while
	// faults run) and a check that every replica of the metadata group
	// caught up after the heal. Unit test: node.TestLostSnapshotIsResent.
	node.BugNoReportSnapshot: "no metadata churn, no replica catch-up check",
	// The simulated disk writes and syncs at one instant, so no crash
	// falls between the snapshot record and the hard state after it (0 of
	// crash, disk and swarm seeds 1-10 caught it); it needs the disk model
	// with a real gap between write and sync. Unit tests:
	// wal.TestCrashBetweenSnapshotAndHardState, node.TestSnapshotDurableBeforeAck.
	node.BugSnapshotCommitUnclamped: "no gap between write and sync on the simulated disk",
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
		if why, ok := awaitingScenario[b]; ok && !covered[b] {
			t.Logf("planted bug %s: no scenario catches it yet (%s)", b, why)
			continue
		}
		if !covered[b] {
			t.Errorf("planted bug %s has no scenario that must catch it", b)
		}
	}
}

// swarmSeedsDefault is the bar for every planted bug: swarm catches
// it within 50 seeds. A bug with no measured bound below gets this one.
const swarmSeedsDefault = 50

// swarmBounds: for each bug, the swarm seeds 1..N that must catch it. N is
// the smallest catching seed measured (docs/zoo.md, the catch-rate table)
// with a margin, so that `make test` stays short while a change that makes a
// bug much harder for swarm to find fails here.
var swarmBounds = map[string]int64{
	node.BugAckBeforeCommit: 3,  // caught on 50 of seeds 1..50, the first at 1
	node.BugNoDedupe:        6,  // 30 of 50, the first at 1: missing 6 in a row is 0.4% at that rate
	node.BugSkipFsync:       6,  // 28 of 50, the first at 1
	node.BugStaleRead:       15, // 16 of 50, the first at 4: missing 15 in a row is 0.3%
}

// TestSwarmCatchesEveryBug: every bug node.Bugs() lists, including those
// added later, is caught by the swarm scenario within its seed bound.
func TestSwarmCatchesEveryBug(t *testing.T) {
	sc, _ := Get("swarm")
	for _, b := range node.Bugs() {
		t.Run(b, func(t *testing.T) {
			bound, ok := swarmBounds[b]
			if !ok {
				bound = swarmSeedsDefault
				t.Logf("no measured swarm bound for %s: trying %d seeds (measure with go run ./cmd/sim -scenario swarm -seeds 50 -catch-table -bug %s)", b, bound, b)
			}
			for seed := int64(1); seed <= bound; seed++ {
				cfg := sc.Config(seed)
				cfg.Bug = b
				r := sim.Run(cfg)
				if !r.OK {
					t.Logf("caught on seed %d by %s (%s)", seed, r.FirstCheck(), Repro("swarm", seed, b))
					return
				}
			}
			t.Fatalf("bug %s not caught by swarm in seeds 1..%d", b, bound)
		})
	}
}
