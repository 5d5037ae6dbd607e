package scenarios

import (
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/sim"
)

// TestEveryScenarioScheduleRoundTrips: for every scenario and many seeds,
// the printed schedule parses back to the configuration the seed built, so
// `cmd/sim -knobs ... -faults ...` runs the seed's run exactly (cmd/sim's
// test runs a few and compares trace hashes).
func TestEveryScenarioScheduleRoundTrips(t *testing.T) {
	for _, sc := range All() {
		for seed := int64(1); seed <= 30; seed++ {
			want := sc.Config(seed)
			got := config0(sc, seed)
			if err := sim.ParseSchedule(&got, sim.FormatSchedule(want)); err != nil {
				t.Fatalf("%s seed %d: %v", sc.Name, seed, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s seed %d: schedule did not round-trip:\n%s", sc.Name, seed, diff)
			}
			if err := sim.ValidateSchedule(want); err != nil {
				t.Errorf("%s seed %d: the seed's own schedule is refused: %v", sc.Name, seed, err)
			}
		}
	}
}

// config0 is a configuration that knows the seed and scenario and nothing
// the scenario drew.
func config0(sc Scenario, seed int64) sim.Config { return sim.Config{Seed: seed, Scenario: sc.Name} }

var (
	knobsArg  = regexp.MustCompile(`-knobs '([^']*)'`)
	faultsArg = regexp.MustCompile(`-faults '([^']*)'`)
)

// fromCommand reads a command ReproSchedule printed back into a
// configuration, as cmd/sim would.
func fromCommand(t *testing.T, sc Scenario, seed int64, bug, cmd string) sim.Config {
	t.Helper()
	k, f := knobsArg.FindStringSubmatch(cmd), faultsArg.FindStringSubmatch(cmd)
	if k == nil || f == nil {
		t.Fatalf("command lacks -knobs or -faults: %s", cmd)
	}
	cfg := sc.Config(seed)
	cfg.Bug = bug
	if err := sim.ApplyKnobs(&cfg, k[1]); err != nil {
		t.Fatal(err)
	}
	faults, err := sim.ParseFaults(f[1])
	if err != nil {
		t.Fatal(err)
	}
	cfg.Faults = faults
	return cfg
}

// TestShrinkFailover: failover seed 1 with acknowledgements before commit
// fails (offset-conflict) with its two crashes; the bug needs no fault at
// all, so the shrunk run must keep fewer, still fail the same way, pass
// without the bug, and its printed command must rerun it exactly.
func TestShrinkFailover(t *testing.T) {
	sc, _ := Get("failover")
	cfg := sc.Config(1)
	cfg.Bug = node.BugAckBeforeCommit
	first := sim.Run(cfg)
	if first.OK {
		t.Fatalf("failover seed 1 with %s passed: pick another seed", cfg.Bug)
	}
	out, err := Shrink(cfg, first, ShrinkOptions{Budget: 40})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d faults -> %d, %d candidates, %d runs, %v: %s", len(cfg.Faults), len(out.Config.Faults), out.Candidates, out.Runs, out.Wall, out.Command())
	if out.Check != first.FirstCheck() || out.Result.OK || out.Result.FirstCheck() != out.Check {
		t.Fatalf("shrunk run fails with %q (ok=%v), the first with %q", out.Result.FirstCheck(), out.Result.OK, first.FirstCheck())
	}
	if len(out.Config.Faults) >= len(cfg.Faults) {
		t.Errorf("kept %d of %d faults; the bug needs none", len(out.Config.Faults), len(cfg.Faults))
	}
	if out.Config.Duration+out.Config.Quiet >= cfg.Duration+cfg.Quiet || out.Config.Producers+out.Config.Consumers >= cfg.Producers+cfg.Consumers {
		t.Errorf("shrunk run is no shorter or has no fewer clients: %s", sim.FormatKnobs(out.Config))
	}
	if !out.PassesWithoutBug {
		t.Errorf("the shrunk run fails without the bug too")
	}
	again := sim.Run(fromCommand(t, sc, 1, cfg.Bug, out.Command()))
	if again.TraceHash != out.Result.TraceHash || again.FirstCheck() != out.Check {
		t.Fatalf("the printed command ran trace %s (%s), the shrunk run %s (%s): %s", again.TraceHash, again.FirstCheck(),
			out.Result.TraceHash, out.Check, out.Command())
	}
}

// TestShrinkRefusesAPass: a passing run has nothing to shrink.
func TestShrinkRefusesAPass(t *testing.T) {
	if _, err := Shrink(sim.Config{}, sim.Result{OK: true}, ShrinkOptions{}); err == nil {
		t.Fatal("Shrink of a passing run: no error")
	}
}
