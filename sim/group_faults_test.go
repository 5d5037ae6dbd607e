package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/node"
)

// commitCrashRun is a groups run with one CommitCrash.
func commitCrashRun(seed int64, bug string) Config {
	return Config{Seed: seed, Scenario: "commit-crash", Duration: 14 * time.Second, Quiet: 6 * time.Second,
		Topics: []TopicSpec{{Name: "a", Partitions: 3}}, Producers: 2, IdempotentProducers: 1,
		GroupConsumers: 4, Groups: 2, Bug: bug,
		Faults: []Fault{{At: 3 * time.Second, For: 4 * time.Second, Kind: CommitCrash}}}
}

// A CommitCrash kills the coordinator as it accepts a commit, and the next
// coordinator leads for a while unloaded. A correct node answers nothing
// from that state; one that answers OffsetFetch from it is caught by the
// lag monitor's reads.
func TestCommitCrashOpensTheLoadingWindow(t *testing.T) {
	caught := 0
	for seed := int64(1); seed <= 4; seed++ {
		r := Run(commitCrashRun(seed, ""))
		if !r.OK {
			t.Fatalf("seed %d: a correct cluster failed: %v %v", seed, r.Violations, r.Check.Anomalies)
		}
		if r.Stats["crash.after-offset-commit"] != 1 || r.Stats["stall.loading-coordinator"] != 1 {
			t.Fatalf("seed %d: the fault did not fire as meant: %v", seed, r.Stats)
		}
		b := Run(commitCrashRun(seed, node.BugOffsetsWhileLoading))
		for _, a := range b.Check.Anomalies {
			if a.Kind == checker.KindOffsetFetchStale && strings.Contains(a.Detail, "from node") {
				caught++
				break
			}
		}
	}
	if caught == 0 {
		t.Fatalf("%s: no stale offset read in 4 seeds", node.BugOffsetsWhileLoading)
	}
}
