package sim

import (
	"testing"
	"time"
)

// TestRoles: the roles a run records tile each node's time in each group
// (no gaps, no overlaps, from the node's first sighting of the group to the
// end), one leader per group per term, and the faults show: the crashed
// node down for the crash's length, the paused one paused, the one whose
// fsync failed stopped, a new leader elected after the crash of the old one.
func TestRoles(t *testing.T) {
	r := Run(Config{Seed: 2, Scenario: "roles", Duration: 10 * time.Second, Quiet: 5 * time.Second,
		// The crash lasts three seconds: two election timeouts, so a split
		// vote between the two left (seen once a change moved the trace)
		// still ends in a leader while node 1 is down.
		Faults: []Fault{{At: 3 * time.Second, For: 3 * time.Second, Kind: Crash, Node: 1},
			{At: 6 * time.Second, For: time.Second, Kind: Pause, Node: 2},
			{At: 8 * time.Second, For: time.Second, Kind: FailSync, Node: 3}}})
	report(t, r)
	if len(r.Roles) == 0 {
		t.Fatal("no roles recorded")
	}
	end := int64(r.SimTime)
	type key struct{ node, group uint64 }
	last := map[key]RoleSpan{}
	leaders := map[[2]uint64]uint64{} // (group, term) -> node
	roleAt := func(node, group uint64, at int64) Role {
		for _, s := range r.Roles {
			if s.Node == node && s.Group == group && s.Start <= at && at < s.End {
				return s.Role
			}
		}
		return ""
	}
	for _, s := range r.Roles {
		k := key{s.Node, s.Group}
		if s.End < s.Start {
			t.Errorf("span ends before it starts: %+v", s)
		}
		if p, ok := last[k]; ok && p.End != s.Start {
			t.Errorf("node %d group %d: span %+v does not start where %+v ends", s.Node, s.Group, s, p)
		}
		last[k] = s
		if s.Role == RoleLeader || s.Role == RoleNewLeader {
			lk := [2]uint64{s.Group, s.Term}
			if o, ok := leaders[lk]; ok && o != s.Node {
				t.Errorf("group %d term %d: leader spans of nodes %d and %d", s.Group, s.Term, o, s.Node)
			}
			leaders[lk] = s.Node
		}
	}
	for k, s := range last {
		if s.End != end {
			t.Errorf("node %d group %d: last span ends at %v, the run at %v", k.node, k.group, time.Duration(s.End), time.Duration(end))
		}
	}
	// Group 0 (metadata) is on every node.
	in := func(d time.Duration) int64 { return int64(d) }
	if got := roleAt(1, 0, in(4*time.Second)); got != RoleDown {
		t.Errorf("node 1 at 4s: %q, want down", got)
	}
	if got := roleAt(1, 0, in(8*time.Second)); got == RoleDown || got == "" {
		t.Errorf("node 1 at 8s, after its restart: %q", got)
	}
	if got := roleAt(2, 0, in(6500*time.Millisecond)); got != RolePaused {
		t.Errorf("node 2 at 6.5s: %q, want paused", got)
	}
	for g := range leaders {
		if got := roleAt(2, g[0], in(12*time.Second)); got == RolePaused {
			t.Errorf("node 2 group %d at 12s, after it resumed: still paused", g[0])
		}
	}
	if got := roleAt(3, 0, in(8500*time.Millisecond)); got != RoleStopped {
		t.Errorf("node 3 at 8.5s, after its fsync failed: %q, want stopped", got)
	}
	var leaderAfter bool
	for _, s := range r.Roles {
		if s.Role == RoleLeader && s.Node != 1 && s.Start > in(3*time.Second) && s.Start < in(6*time.Second) {
			leaderAfter = true
		}
	}
	if !leaderAfter {
		t.Errorf("no node other than 1 began leading a group while node 1 was down")
	}
	if len(r.FaultNodes) != len(r.Faults) || r.FaultNodes[0] != 1 || r.FaultNodes[1] != 2 || r.FaultNodes[2] != 3 {
		t.Errorf("fault nodes %v for faults %v", r.FaultNodes, r.Faults)
	}
}
