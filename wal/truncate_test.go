package wal

import (
	"testing"
)

// Entries synced after the last commit index the log knows were
// acknowledged to a leader, which may count them in the quorum that
// committed them: a restart keeps them. The planted truncate-to-hw (Kafka
// KIP-101) cuts the log to that commit index.
func TestRestartKeepsEntriesPastTheCommitIndex(t *testing.T) {
	for _, bug := range []string{"", BugTruncateToHW} {
		t.Run(bug, func(t *testing.T) {
			fs := NewMemFS()
			l := mustOpen(t, fs, Options{Bug: bug})
			fillFrom(t, l, 1, 10) // entry i saved with commit i-1
			l2, err := Open(fs.Crash(nil), "wal", Options{Bug: bug})
			if err != nil {
				t.Fatal(err)
			}
			last, _ := l2.Storage(1).LastIndex()
			want := uint64(10)
			if bug != "" {
				want = 9 // planted: cut to the commit index
			}
			if last != want {
				t.Fatalf("after restart the log ends at %d, want %d", last, want)
			}
		})
	}
}
