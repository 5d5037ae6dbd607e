package wal

import (
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// A segment a roll created is durable in its directory before anything in
// it is taken for durable: a power loss right after the roll keeps every
// synced entry. With the planted no-dir-sync (KAFKA-3968) the new segment's
// directory entry is never synced, and the crash forgets the segment.
func TestRolledSegmentSurvivesPowerLoss(t *testing.T) {
	for _, bug := range []string{"", BugNoDirSync} {
		t.Run(bug, func(t *testing.T) {
			fs := NewMemFS()
			l := mustOpen(t, fs, Options{Bug: bug, SegmentBytes: 1 << 10})
			// Group 2 retains more than the cleaner moves, so it pins
			// the oldest segment and every roll's segment stays.
			if err := l.Storage(2).Save(nil, []*raftpb.Entry{ent(1, 1, strings.Repeat("r", cleanGroupBytesMax))}, nil); err != nil {
				t.Fatal(err)
			}
			fillFrom(t, l, 1, 40) // 50-byte entries: several rolls
			if n := len(l.Segments()); n < 3 {
				t.Fatalf("only %d segments: no roll to test", n)
			}
			l2, err := Open(fs.Crash(nil), "wal", Options{Bug: bug})
			if bug == "" {
				if err != nil {
					t.Fatal(err)
				}
				if last, _ := l2.Storage(1).LastIndex(); last != 40 {
					t.Fatalf("after the power loss the log ends at %d, want 40", last)
				}
				return
			}
			if err == nil {
				if last, _ := l2.Storage(1).LastIndex(); last == 40 {
					t.Fatal("planted no-dir-sync: every synced entry survived the power loss")
				}
			}
		})
	}
}
