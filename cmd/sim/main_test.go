package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExitCodes(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // failing runs write their page there
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-list"}, 0, "failover\n"},
		{[]string{"-list-bugs"}, 0, "stale-read\n"},
		{[]string{"-scenario", "nope"}, 2, "no scenario"},
		{[]string{"-bug", "nope"}, 2, "no bug"},
		{[]string{"-seeds", "0"}, 2, "at least 1"},
		{[]string{"-no-such-flag"}, 2, "not defined"},
		{[]string{"-scenario", "election", "-seed", "1"}, 0, "reproduce: go run ./cmd/sim -scenario election -seed 1"},
		{[]string{"-scenario", "election", "-seed", "1", "-bug", "ack-before-commit"}, 1, "FAIL"},
		{[]string{"-scenario", "election", "-seed", "1", "-seeds", "2"}, 0, "stats: "},
		// A search past its bound is a failure that says so, not a pass.
		{[]string{"-scenario", "election", "-seed", "1", "-lin-steps", "1"}, 1, "linearizability: gave up on partition sim/0 after 1 steps"},
		{[]string{"-scenario", "election", "-seed", "1", "-seeds", "1", "-bug", "ack-before-commit", "-catch-table"}, 0, "| `ack-before-commit` | planted at the start (acks=1 on a leader that fails over) | 1 | 1 | "},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(c.args, &out, &errOut)
		all := out.String() + errOut.String()
		if code != c.code || !strings.Contains(all, c.want) {
			t.Errorf("sim %v: exit %d, want %d; output lacks %q:\n%s", c.args, code, c.code, c.want, all)
		}
	}
}

// TestReport: a failing run writes its page where -report says and prints
// the path beside the reproduction; -report "" writes none; by default the
// page goes to the temp dir under the run's name.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	path := filepath.Join(dir, "run.html")
	args := []string{"-scenario", "election", "-seed", "1", "-bug", "ack-before-commit"}
	var out bytes.Buffer
	if code := run(append(args, "-report", path), &out, &out); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "reproduce: go run ./cmd/sim -scenario election -seed 1 -bug ack-before-commit\nreport: "+path+"\n") {
		t.Errorf("output does not name the page after the reproduction:\n%s", out.String())
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"header", "faults", "roles", "ops", "porcupine"} {
		if !bytes.Contains(page, []byte(`<section id="`+id+`">`)) {
			t.Errorf("page lacks section %s", id)
		}
	}
	out.Reset()
	if code := run(append(args, "-report", ""), &out, &out); code != 1 || strings.Contains(out.String(), "report:") {
		t.Errorf("-report '': exit %d, output:\n%s", code, out.String())
	}
	out.Reset()
	run(args, &out, &out)
	auto := filepath.Join(dir, "ketch-sim-election-1-ack-before-commit.html")
	if _, err := os.Stat(auto); err != nil || !strings.Contains(out.String(), "report: "+auto) {
		t.Errorf("default page %s: %v; output:\n%s", auto, err, out.String())
	}
}

// TestProgress: a line when progressEvery has passed and one at the end,
// with seeds done, failures, rate and time left.
func TestProgress(t *testing.T) {
	now := time.Unix(1000, 0)
	var out bytes.Buffer
	p := newProgress(&out, 10, func() time.Time { return now })
	for i := 0; i < 10; i++ {
		now = now.Add(2 * time.Second)
		p.seed(i != 3)
	}
	want := "progress: 3/10 seeds, 0 failed, 30.0 seeds/min, 6s elapsed, ETA 14s\n" +
		"progress: 6/10 seeds, 1 failed, 30.0 seeds/min, 12s elapsed, ETA 8s\n" +
		"progress: 9/10 seeds, 1 failed, 30.0 seeds/min, 18s elapsed, ETA 2s\n" +
		"progress: 10/10 seeds, 1 failed, 30.0 seeds/min, 20s elapsed, ETA 0s\n"
	if out.String() != want {
		t.Errorf("progress lines:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestMain lets the test binary stand in for cmd/sim when the parallel
// catch table runs it as a child process.
func TestMain(m *testing.M) {
	if os.Getenv("KETCH_SIM_CHILD") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestCatchTableParallel: the table measured in child processes has the
// same rows, in the same order, as the one measured in this process.
func TestCatchTableParallel(t *testing.T) {
	t.Setenv("KETCH_SIM_CHILD", "1")
	args := []string{"-scenario", "election", "-seed", "1", "-seeds", "1", "-catch-table", "-bug", "stale-read,ack-before-commit"}
	var par, seq, errOut bytes.Buffer
	if code := run(append(args, "-parallel", "2"), &par, &errOut); code != 0 {
		t.Fatalf("parallel: exit %d: %s", code, errOut.String())
	}
	if code := run(append(args, "-parallel", "1"), &seq, &errOut); code != 0 {
		t.Fatalf("sequential: exit %d: %s", code, errOut.String())
	}
	rows := func(s string) (r []string) {
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "| `") {
				r = append(r, l)
			}
		}
		return r
	}
	p, s := rows(par.String()), rows(seq.String())
	if len(p) != 2 || strings.Join(p, "\n") != strings.Join(s, "\n") || !strings.HasPrefix(p[0], "| `stale-read`") {
		t.Fatalf("parallel rows:\n%s\nsequential rows:\n%s", strings.Join(p, "\n"), strings.Join(s, "\n"))
	}
}

// shellWords splits a command line as a shell would, for the single-quoted
// form the simulator prints.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	in, any := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			in, any = !in, true
		case r == ' ' && !in:
			if any {
				out = append(out, cur.String())
			}
			cur.Reset()
			any = false
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if any {
		out = append(out, cur.String())
	}
	return out
}

// lineAfter returns the rest of the first output line starting with prefix.
func lineAfter(t *testing.T, out, prefix string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimPrefix(l, prefix)
		}
	}
	t.Fatalf("no %q line in:\n%s", prefix, out)
	return ""
}

// pasted runs a printed "go run ./cmd/sim ..." command line.
func pasted(t *testing.T, cmd string) (int, string) {
	t.Helper()
	w := shellWords(cmd)
	if len(w) < 3 || w[0] != "go" || w[2] != "./cmd/sim" {
		t.Fatalf("not a cmd/sim command: %q", cmd)
	}
	var out bytes.Buffer
	code := run(w[3:], &out, &out)
	return code, out.String()
}

// TestScheduleLineReproduces: the schedule line printed for a run, pasted,
// runs the same run (the same trace hash); a fault removed from it runs
// another.
func TestScheduleLineReproduces(t *testing.T) {
	for _, c := range []struct {
		scenario, seed string
	}{{"swarm", "7"}, {"crash", "2"}} {
		var out bytes.Buffer
		code := run([]string{"-scenario", c.scenario, "-seed", c.seed}, &out, &out)
		trace := lineAfter(t, out.String(), "seed ")
		trace = trace[strings.LastIndex(trace, "trace "):]
		sched := lineAfter(t, out.String(), "schedule: ")
		code2, out2 := pasted(t, sched)
		if code2 != code || !strings.Contains(out2, trace) {
			t.Fatalf("%s seed %s: %s (exit %d) but the schedule line %s ran exit %d:\n%s", c.scenario, c.seed, trace, code, sched, code2, out2)
		}
		// Drop the first fault: another run.
		f := faultsOf(sched)
		fewer := strings.Replace(sched, "-faults '"+f+"'", "-faults '"+f[strings.Index(f, ";")+1:]+"'", 1)
		if _, out3 := pasted(t, fewer); strings.Contains(out3, trace) {
			t.Fatalf("%s seed %s: removing a fault left the trace %s unchanged", c.scenario, c.seed, trace)
		}
	}
}

func faultsOf(cmd string) string {
	i := strings.Index(cmd, "-faults '") + len("-faults '")
	return cmd[i : i+strings.IndexByte(cmd[i:], '\'')]
}

// TestShrinkCommand: -shrink ends with a command that fails as the seed did.
func TestShrinkCommand(t *testing.T) {
	var out bytes.Buffer
	code := run([]string{"-scenario", "election", "-seed", "1", "-bug", "ack-before-commit", "-shrink", "-shrink-budget", "6"}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), "shrunk: 0 faults -> 0 (offset-conflict); ") ||
		!strings.Contains(out.String(), " candidates, 7 runs in ") /* the budget, and the final run without the bug */ || !strings.Contains(out.String(), "stopped early") {
		t.Fatalf("-shrink: exit %d:\n%s", code, out.String())
	}
	trace := lineAfter(t, out.String(), "shrunk: ")
	trace = trace[strings.LastIndex(trace, "trace "):]
	code, got := pasted(t, lineAfter(t, out.String(), "reproduce shrunk: "))
	if code != 1 || !strings.Contains(got, "FAIL") || !strings.Contains(got, "offset-conflict") || !strings.Contains(got, trace) {
		t.Fatalf("the shrunk command did not fail the same way (exit %d):\n%s", code, got)
	}
	for _, bad := range [][]string{{"-faults", "crash@x"}, {"-knobs", "nodes=12"}, {"-knobs", "bogus=1"}, {"-faults", "crash@1s node=9"}, {"-schedule", "/nonexistent"}} {
		if code := run(append([]string{"-scenario", "election"}, bad...), &out, &out); code != 2 {
			t.Errorf("sim %v: exit %d, want 2", bad, code)
		}
	}
	out.Reset()
	if code := run([]string{"-scenario", "failover", "-seed", "3", "-print-schedule"}, &out, &out); code != 0 || !strings.Contains(out.String(), "crash@") {
		t.Fatalf("-print-schedule: exit %d:\n%s", code, out.String())
	}
}
