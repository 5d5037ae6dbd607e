package node

import "testing"

// A node's leadership reports of one Process travel in one metadata entry
// (maybeReport): every report in it applies, in order, under the same
// term rule as one alone; a truncated entry applies none of them.
func TestLeaderReportsInOneEntry(t *testing.T) {
	m := newMetaState()
	m.nextGroup = 10
	var eff metaEffects
	body := appendLeader(nil, 3, 2, 5)
	body = appendLeader(body, 4, 2, 7)
	body = appendLeader(body, 3, 1, 4)  // an older term: ignored
	body = appendLeader(body, 12, 2, 1) // no such group yet: ignored
	if r := m.apply(1, entryHeader{cmd: cmdLeader}, body, []uint64{1, 2, 3}, &eff); r.code != 0 {
		t.Fatalf("apply: code %d", r.code)
	}
	if got := m.leaders[3]; got != (leaderInfo{leader: 2, term: 5}) {
		t.Errorf("group 3: %+v, want leader 2 term 5", got)
	}
	if got := m.leaders[4]; got != (leaderInfo{leader: 2, term: 7}) {
		t.Errorf("group 4: %+v, want leader 2 term 7", got)
	}
	if _, ok := m.leaders[12]; ok {
		t.Errorf("group 12 (not created) got a leader")
	}
	if len(eff.leaders) != 2 || eff.leaders[0] != 3 || eff.leaders[1] != 4 {
		t.Errorf("effects: %v, want [3 4]", eff.leaders)
	}

	// Cut in the middle of its second report: nothing applies.
	bad := appendLeader(appendLeader(nil, 5, 3, 9), 6, 3, 9)
	bad = bad[:len(bad)-2]
	if r := m.apply(2, entryHeader{cmd: cmdLeader}, bad, []uint64{1, 2, 3}, &eff); r.code == 0 {
		t.Fatalf("a truncated entry applied")
	}
	if _, ok := m.leaders[5]; ok {
		t.Errorf("group 5 took a report from a truncated entry")
	}
}
