package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
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
		{[]string{"-scenario", "election", "-seed", "1", "-seeds", "1", "-bug", "ack-before-commit", "-catch-table"}, 0, "| `ack-before-commit` | 1 | 1 | "},
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
