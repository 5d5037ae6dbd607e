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
