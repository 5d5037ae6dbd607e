package scenarios

import (
	"strings"
	"testing"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/sim"
)

// TestGroupChecksCatchGroupBugs: the group zoo bugs are each caught by the
// groups scenario on a seed measured to catch it, and by a group check (the
// anomaly kind named), not by something else the bug happens to break.
func TestGroupChecksCatchGroupBugs(t *testing.T) {
	sc, _ := Get("groups")
	for _, tc := range []struct {
		bug  string
		seed int64
		kind string
	}{
		// Measured with go run ./cmd/sim -scenario groups -seed 1 -seeds 30
		// -catch-table -bug ... on the merged code: group-state-in-memory
		// 29 of 30 (two-owners, the first at 1), commit-any-generation 13
		// (commit-backwards 11, fenced-commit 2, the first at 1),
		// mutate-on-propose 2 (two-owners, the first at 4).
		//
		// Traces moved with issue 11 (liveness heartbeats, quiesced
		// groups): commit-any-generation is caught on seed 1 (fenced-commit
		// and commit-backwards), mutate-on-propose first on seed 9 of 1..24
		// (fenced-commit). Merged with issue 9's commit-crash and short
		// retention, issue 10's configs and simulated KIP-848 groups (on
		// one seed in two): mutate-on-propose 5 of 70, on 9 and 33 by group
		// liveness only, on 40 and 62 by two-owners, on 56 by
		// offset-fetch-stale; assign-before-revoke on seed 1 (two-owners).
		// With issue 10's producer expiry and issue 11's liveness changes:
		// mutate-on-propose on 3 and 26 of 1..30 by two-owners, 9 by group
		// liveness. Traces moved with issue 8's peer frames and commit-only
		// MsgApp holds: commit-any-generation 8 of seeds 1..20, the first at
		// 4 (commit-backwards 7, fenced-commit 1 first; fenced-commit among
		// the anomalies of 4, 5 and 8).
		// With issue 10's sparse offset index (smaller snapshots and
		// checkpoints move the traces): assign-before-revoke 0 of 1..16 (1
		// of 16 before: seed 1), 10 of 17..56, the first at 17, all by
		// two-owners. Merged with main's peer frames and MsgApp holds, and
		// the cleaner never cleaning the newest batch: assign-before-revoke
		// 3 of 1..20 (1, 10, 11), by two-owners. With heartbeats every
		// third tick (issue 11's per-batch work) and topics by ID:
		// assign-before-revoke 5 of 1..30, the first at 10, by two-owners.
		{node.BugGroupStateInMemory, 1, "two-owners"},
		// Since new groups start from their voters and elect in one
		// round (issue 11): commit-any-generation fenced-commit on 1, 3
		// and 5; mutate-on-propose on 9 and 27 (group liveness) and 19
		// (offset-fetch-stale) of 1..30, two-owners on none. With the
		// campaign retries of a dead leader's groups working
		// (quiesce.go tickAwake): assign-before-revoke 3 of 1..30 (18,
		// 24, 30), all by two-owners; merged with segment.ms and the
		// cleaner on __consumer_offsets: 6 of 1..40 (1, 11, 29, 35, 36,
		// 37), all by two-owners.
		{node.BugCommitAnyGeneration, 1, "fenced-commit"},
		{node.BugMutateOnPropose, 19, "offset-fetch-stale"},
		{node.BugAssignBeforeRevoke, 1, "two-owners"},
	} {
		t.Run(tc.bug, func(t *testing.T) {
			cfg := sc.Config(tc.seed)
			cfg.Bug = tc.bug
			r := sim.Run(cfg)
			if r.OK {
				t.Fatalf("%s not caught on groups seed %d", tc.bug, tc.seed)
			}
			var kinds []string
			for _, a := range r.Check.Anomalies {
				kinds = append(kinds, a.Kind)
				if a.Kind == tc.kind {
					return
				}
			}
			t.Fatalf("%s on groups seed %d: caught, but not by %s (anomalies %s; violations %v)", tc.bug, tc.seed, tc.kind, strings.Join(kinds, ","), r.Violations)
		})
	}
}
