package scenarios

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ketch-dev/ketch/sim"
)

// seeds is how many seeds each scenario runs in `go test`; KETCH_SEEDS runs
// more (make soak sets it to 200).
func seeds(t *testing.T, dflt int) int {
	if s := os.Getenv("KETCH_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("KETCH_SEEDS=%q: want a positive number", s)
		}
		return n
	}
	return dflt
}

func failure(name string, r sim.Result, bug string) string {
	return "seed " + strconv.FormatInt(r.Seed, 10) + " failed; reproduce with: " + Repro(name, r.Seed, bug) +
		"\n  knobs: " + strings.Join(r.Knobs, " ") +
		"\n  violations:\n    " + strings.Join(r.Violations, "\n    ") +
		"\n  check: " + r.Check.String()
}

// TestScenarios runs every scenario on a few seeds: each must pass its
// checks. Seed 1 of each is the default; KETCH_SEEDS widens the net.
func TestScenarios(t *testing.T) {
	n := seeds(t, 2)
	for _, sc := range All() {
		t.Run(sc.Name, func(t *testing.T) {
			for seed := int64(1); seed <= int64(n); seed++ {
				r := sim.Run(sc.Config(seed))
				t.Logf("%s seed %d: ok=%v events=%d sim=%v wall=%v check=%v ops=%d trace=%s", sc.Name, seed, r.OK, r.Events, r.SimTime, r.Wall, r.CheckWall, len(r.History), r.TraceHash)
				if !r.OK {
					t.Error(failure(sc.Name, r, ""))
				}
			}
		})
	}
}
