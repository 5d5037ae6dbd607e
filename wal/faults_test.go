package wal

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// fillFrom writes entries lo..hi of group 1, syncing after each.
func fillFrom(t *testing.T, l *Log, lo, hi uint64) {
	t.Helper()
	st := l.Storage(1)
	for i := lo; i <= hi; i++ {
		if err := st.Save(&raftpb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(i - 1)}, []*raftpb.Entry{ent(i, 1, strings.Repeat("d", 50))}, nil); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

func wantCorrupt(t *testing.T, err error, name string) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "offset") {
		t.Fatalf("Open: %v, want ErrCorrupt naming %s and an offset", err, name)
	}
}

// A write the disk put elsewhere leaves a hole where it belonged, followed by
// later sync batches: the hole is damage to synced data, not a torn tail.
// Where the bytes landed, they fail their checksum (it covers the position).
func TestMisdirectedWriteRefused(t *testing.T) {
	for _, back := range []int{0, 300} {
		t.Run(fmt.Sprint(back), func(t *testing.T) {
			fs := NewMemFS()
			l := mustOpen(t, fs, Options{})
			fillFrom(t, l, 1, 10)
			if back == 0 {
				if _, err := fs.Create("wal/elsewhere"); err != nil {
					t.Fatal(err)
				}
				fs.Misdirect("wal/elsewhere", 0) // another file
			} else {
				fs.Misdirect("", back)
			}
			fillFrom(t, l, 11, 20)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			_, err := Open(fs.Crash(nil), "wal", Options{})
			wantCorrupt(t, err, l.Segments()[len(l.Segments())-1])
		})
	}
}

// fsyncgate: the failed fsync dropped the pages; the log must stop. With the
// planted retry it carries on and the restart finds a hole in synced data.
func TestFsyncEIODropsPages(t *testing.T) {
	for _, bug := range []string{"", BugFsyncRetry} {
		t.Run(bug, func(t *testing.T) {
			fs := NewMemFS()
			l := mustOpen(t, fs, Options{Bug: bug})
			fillFrom(t, l, 1, 5)
			fail := true
			fs.SetFault(func(op, _ string) error {
				if op == "sync" && fail {
					fail = false
					return fmt.Errorf("EIO: %w", ErrDropPages)
				}
				return nil
			})
			st := l.Storage(1)
			if err := st.Save(nil, []*raftpb.Entry{ent(6, 1, "lost")}, nil); err != nil {
				t.Fatal(err)
			}
			err := l.Sync()
			if bug == "" {
				if !errors.Is(err, ErrDropPages) {
					t.Fatalf("Sync after fsync EIO: %v", err)
				}
				l2 := mustOpen(t, fs.Crash(nil), Options{})
				if last, _ := l2.Storage(1).LastIndex(); last != 5 {
					t.Fatalf("last index %d after the lost tail, want 5", last)
				}
				return
			}
			if err != nil {
				t.Fatalf("planted retry: Sync: %v", err)
			}
			fillFrom(t, l, 7, 9)
			_, err = Open(fs.Crash(nil), "wal", Options{})
			wantCorrupt(t, err, l.Segments()[len(l.Segments())-1])
		})
	}
}

// A latent sector error in synced data makes Open refuse, naming the file.
func TestBadSectorRefused(t *testing.T) {
	fs := NewMemFS()
	l := mustOpen(t, fs, Options{})
	fillFrom(t, l, 1, 100)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	img := fs.Crash(nil)
	seg := l.Segments()[len(l.Segments())-1]
	if err := img.MarkBad(seg, 5000); err != nil {
		t.Fatal(err)
	}
	_, err := Open(img, "wal", Options{})
	if !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), seg) {
		t.Fatalf("Open over a bad sector: %v", err)
	}
}
