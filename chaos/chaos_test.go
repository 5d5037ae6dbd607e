package chaos

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/node"
)

// testWriter sends a run's progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestChaosShort is the short real-process run CI does: three nodes, about
// 30 s of faults, 10 s healed, the check. It starts processes and takes
// most of a minute, so it runs only when KETCH_CHAOS=1 (.ci/run sets it);
// make test stays fast. KETCH_CHAOS_SEED, KETCH_CHAOS_NODES, KETCH_CHAOS_BUG
// and KETCH_CHAOS_BINARY (a prebuilt cmd/node) vary it.
func TestChaosShort(t *testing.T) {
	if os.Getenv("KETCH_CHAOS") != "1" {
		t.Skip("real-process chaos: set KETCH_CHAOS=1 to run")
	}
	// Not t.TempDir: a failed run's logs and data are what to look at.
	dir, err := os.MkdirTemp("", "ketch-chaos-test-")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Duration: 30 * time.Second, Seed: 1, Dir: dir, Out: testWriter{t}}
	if s := os.Getenv("KETCH_CHAOS_SEED"); s != "" {
		seed, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("KETCH_CHAOS_SEED: %v", err)
		}
		cfg.Seed = seed
	}
	if s := os.Getenv("KETCH_CHAOS_NODES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("KETCH_CHAOS_NODES: %v", err)
		}
		cfg.Nodes = n
	}
	cfg.Bug = os.Getenv("KETCH_CHAOS_BUG")
	cfg.Binary = os.Getenv("KETCH_CHAOS_BINARY")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("setup: %v (run directory kept: %s)", err, dir)
	}
	t.Log("\n" + res.Summary())
	if res.OK {
		os.RemoveAll(dir)
	} else {
		t.Fatalf("chaos run failed; run directory kept: %s\nrerun: KETCH_CHAOS=1 KETCH_CHAOS_SEED=%d go test -run TestChaosShort ./chaos  (or go run ./cmd/chaos -duration 30s -seed %d)", dir, cfg.Seed, cfg.Seed)
	}
}

// A seed names one schedule: the same seed twice gives the same faults, and
// the plan fills the duration without overrunning it by more than a fault.
func TestPlanFaultsIsASeedsSchedule(t *testing.T) {
	a, b := planFaults(7, 2*time.Minute), planFaults(7, 2*time.Minute)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("plans of one seed differ in length: %d, %d", len(a), len(b))
	}
	var total time.Duration
	kinds := map[faultKind]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("fault %d differs: %v vs %v", i, a[i], b[i])
		}
		total += a[i].gap + a[i].hold
		kinds[a[i].kind] = true
	}
	if total > 2*time.Minute {
		t.Fatalf("plan of %v for a 2m run", total)
	}
	if total < time.Minute {
		t.Fatalf("plan of %v leaves most of a 2m run without faults", total)
	}
	if len(kinds) != int(faultKinds) {
		t.Fatalf("a 2m plan uses only %d kinds of fault: %v", len(kinds), a)
	}
	if c := planFaults(8, 2*time.Minute); len(c) == len(a) && c[0] == a[0] && c[1] == a[1] {
		t.Fatalf("seeds 7 and 8 drew the same schedule")
	}
}

func TestLiveness(t *testing.T) {
	heal, stop := int64(10), int64(20)
	before := checker.Op{Kind: checker.Produce, Call: 5, OK: true}
	acked := checker.Op{Kind: checker.Produce, Call: 12, OK: true}
	read := checker.Op{Kind: checker.Fetch, Call: 13, OK: true}
	final := checker.Op{Kind: checker.Fetch, Call: 21, OK: true, Client: finalReadClient}
	if got := liveness(checker.History{before, acked, read}, heal, stop); len(got) != 0 {
		t.Fatalf("live cluster judged dead: %v", got)
	}
	// Only writes from before the heal and the final read: neither counts.
	if got := liveness(checker.History{before, final}, heal, stop); len(got) != 2 {
		t.Fatalf("want two liveness failures, got %v", got)
	}
}

// TestChaosCatchesPlantedBug shows the real-process run can fail: with a
// node built with -tags chaos and acknowledging on propose
// (ack-before-commit), the same short run must be judged a failure. Like
// TestChaosShort it runs only when KETCH_CHAOS=1.
func TestChaosCatchesPlantedBug(t *testing.T) {
	if os.Getenv("KETCH_CHAOS") != "1" {
		t.Skip("real-process chaos: set KETCH_CHAOS=1 to run")
	}
	dir := t.TempDir()
	cfg := Config{Duration: 20 * time.Second, Seed: 1, Dir: dir, Out: testWriter{t}, Bug: node.BugAckBeforeCommit}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	if res.OK {
		t.Fatalf("a cluster acknowledging before commit passed the chaos check:\n%s", res.Summary())
	}
	t.Logf("caught, as it must be:\n%s", res.Summary())
}
