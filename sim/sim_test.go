package sim

import (
	"strings"
	"testing"
	"time"
)

func report(t *testing.T, r Result) {
	t.Helper()
	t.Logf("seed %d: %d events, %v simulated in %v (check %v), %d ops, trace %s",
		r.Seed, r.Events, r.SimTime, r.Wall, r.CheckWall, len(r.History), r.TraceHash)
	if !r.OK {
		t.Errorf("seed %d failed:\n  knobs: %s\n  violations: %s\n  check: %s",
			r.Seed, strings.Join(r.Knobs, " "), strings.Join(r.Violations, "\n    "), r.Check.String())
	}
}

func TestCalmRun(t *testing.T) {
	r := Run(Config{Seed: 1, Scenario: "calm", Duration: 5 * time.Second, Quiet: 5 * time.Second})
	report(t, r)
	if len(r.History) < 50 {
		t.Fatalf("only %d operations in 10s", len(r.History))
	}
}

func TestCrashLeader(t *testing.T) {
	r := Run(Config{Seed: 2, Scenario: "crash", Duration: 10 * time.Second, Quiet: 10 * time.Second,
		Faults: []Fault{{At: 4 * time.Second, For: 3 * time.Second, Kind: Crash}}})
	report(t, r)
}
