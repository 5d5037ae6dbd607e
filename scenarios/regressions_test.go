package scenarios

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ketch-dev/ketch/sim"
)

// TestRegressions replays testdata/regressions.txt: seeds that once exposed
// a bug (in the node or in the checks), each with the verdict it must keep.
func TestRegressions(t *testing.T) {
	f, err := os.Open("../testdata/regressions.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 4 || (fields[3] != "pass" && fields[3] != "fail") {
			t.Fatalf("regressions.txt:%d: want `scenario seed bug pass|fail`, got %q", line, sc.Text())
		}
		scn, ok := Get(fields[0])
		seed, err := strconv.ParseInt(fields[1], 10, 64)
		if !ok || err != nil {
			t.Fatalf("regressions.txt:%d: bad scenario or seed in %q", line, sc.Text())
		}
		bug := fields[2]
		if bug == "-" {
			bug = ""
		}
		cfg := scn.Config(seed)
		cfg.Bug = bug
		r := sim.Run(cfg)
		n++
		if want := fields[3] == "pass"; r.OK != want {
			t.Errorf("regressions.txt:%d: %s: ok=%v, want %s\n%s", line, Repro(scn.Name, seed, bug), r.OK, fields[3], failure(scn.Name, r, bug))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no regression seeds")
	}
}
