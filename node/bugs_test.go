package node

import "testing"

// TestBugTable: every plantable bug names its incident and its mechanism,
// once, so the catch table's source column is never blank.
func TestBugTable(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range BugTable() {
		if b.Name == "" || b.Source == "" || b.About == "" {
			t.Errorf("bug %+v: name, source and mechanism are all required", b)
		}
		if seen[b.Name] {
			t.Errorf("bug %s listed twice", b.Name)
		}
		seen[b.Name] = true
		if BugSource(b.Name) != b.Source {
			t.Errorf("BugSource(%s) = %q, want %q", b.Name, BugSource(b.Name), b.Source)
		}
	}
	if len(seen) != len(Bugs()) {
		t.Errorf("Bugs() has %d names, the table %d", len(Bugs()), len(seen))
	}
	if BugSource("no-such-bug") != "" {
		t.Error("an unknown bug has a source")
	}
}
