package wal

import (
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// newRawNode starts raft on st as node.addGroup does (Applied at the
// snapshot), turning raft's panic into an error.
func newRawNode(st *Storage) (rn *raft.RawNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("raft.NewRawNode panicked: %v", r)
		}
	}()
	snap, _ := st.Snapshot()
	return raft.NewRawNode(&raft.Config{ID: 2, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
		Applied: snap.GetMetadata().GetIndex(), MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		Logger: &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}})
}

// snapshotCrashImages writes what a follower's Ready persists when the
// leader sends it a snapshot (the snapshot, then the hard state committing
// it), written but not yet synced, and returns the disk images a crash can
// leave: every prefix of the unsynced bytes, the one keeping the whole
// snapshot record and nothing of the hard state among them.
func snapshotCrashImages(t *testing.T) (images []*MemFS, snapOnly int) {
	t.Helper()
	fs := NewMemFS()
	l, err := Open(fs, "wal", Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := l.Storage(1)
	var ents []*raftpb.Entry
	for i := uint64(1); i <= 3; i++ {
		ents = append(ents, &raftpb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(1), Data: []byte("e")})
	}
	hs := &raftpb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(3)}
	if err := st.Save(hs, ents, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	snap := &raftpb.Snapshot{Data: []byte("state at 10"), Metadata: &raftpb.SnapshotMetadata{
		Index: proto.Uint64(10), Term: proto.Uint64(2), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}
	hs2 := &raftpb.HardState{Term: proto.Uint64(2), Vote: proto.Uint64(0), Commit: proto.Uint64(10)}
	if err := st.Save(hs2, nil, snap); err != nil {
		t.Fatal(err)
	}
	if err := l.flush(); err != nil { // written, not synced: the gap a crash can fall in
		t.Fatal(err)
	}
	b, _ := marshalSnapshot(snap)
	snapOnly = headerBytes + bodyPrefixBytes + len(b)
	unsynced, size, file := 0, 0, ""
	for _, name := range fs.Files() {
		if sz, u, ok := fs.Unsynced(name); ok && u > 0 {
			unsynced, size, file = u, sz, name
		}
	}
	if unsynced <= snapOnly {
		t.Fatalf("%d unsynced bytes, want the snapshot record (%d) and a hard state after it", unsynced, snapOnly)
	}
	// A crash keeps whole sectors; the file's length can still end anywhere
	// (the size update of an append is its own metadata write), so a cut
	// at every byte of the unsynced tail is a crash image too.
	for k := 0; k <= unsynced; k++ {
		img := fs.Crash(func(string, int) bool { return true })
		f, err := img.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(int64(size - unsynced + k)); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		images = append(images, img)
	}
	return images, snapOnly
}

// TestCrashBetweenSnapshotAndHardState: a crash that keeps the snapshot
// record and loses the hard state after it (or tears the log anywhere in
// that write) leaves a log raft accepts: recovery raises the commit index
// to the snapshot, so the node restarts instead of panicking on every start.
func TestCrashBetweenSnapshotAndHardState(t *testing.T) {
	images, snapOnly := snapshotCrashImages(t)
	for k, fs := range images {
		l, err := Open(fs, "wal", Options{})
		if err != nil {
			t.Fatalf("crash keeping %d unsynced bytes: open: %v", k, err)
		}
		st := l.Storage(1)
		if _, err := newRawNode(st); err != nil {
			t.Fatalf("crash keeping %d unsynced bytes (the snapshot record is %d): %v", k, snapOnly, err)
		}
		snap, _ := st.Snapshot()
		hs := st.HardState()
		first, _ := st.FirstIndex()
		last, _ := st.LastIndex()
		switch si := snap.GetMetadata().GetIndex(); {
		case si == 0: // the snapshot record did not survive: the old state
			if k >= snapOnly || hs.GetTerm() != 1 || hs.GetCommit() != 3 || last != 3 {
				t.Fatalf("crash keeping %d bytes: snapshot lost, hard state %v, last %d", k, hs, last)
			}
		case si == 10:
			if k < snapOnly || hs.GetCommit() != 10 || first != 11 || last != 10 {
				t.Fatalf("crash keeping %d bytes: snapshot 10, hard state %v, entries %d..%d; want commit 10, no entries", k, hs, first, last)
			}
			// Term and vote are the last hard state's that survived.
			if k < len(images)-1 && (hs.GetTerm() != 1 || hs.GetVote() != 1) {
				t.Fatalf("crash keeping %d bytes: hard state %v without its record", k, hs)
			}
		default:
			t.Fatalf("crash keeping %d bytes: snapshot at %d", k, si)
		}
	}
}

// TestCommitUnclampedPlantsThePanic: with Options.Bug = BugCommitUnclamped the
// same crash image makes raft.NewRawNode panic, as recovery did before the
// clamp: the simulator's -bug snapshot-commit-unclamped is that mechanism.
func TestCommitUnclampedPlantsThePanic(t *testing.T) {
	images, snapOnly := snapshotCrashImages(t)
	l, err := Open(images[snapOnly], "wal", Options{Bug: BugCommitUnclamped})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newRawNode(l.Storage(1)); err == nil {
		t.Fatal("raft accepted the unclamped commit index below the snapshot")
	}
}

// TestCommitPastTheLogIsRefused: a hard state committing entries the log
// does not hold cannot come from a crash (entries are written before the
// hard state that commits them): committed entries were lost, and recovery
// refuses to start with an error naming the record, rather than handing
// raft a state it panics on.
func TestCommitPastTheLogIsRefused(t *testing.T) {
	fs := NewMemFS()
	l, err := Open(fs, "wal", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ents := []*raftpb.Entry{{Index: proto.Uint64(1), Term: proto.Uint64(1)}, {Index: proto.Uint64(2), Term: proto.Uint64(1)}}
	if err := l.Storage(1).Save(&raftpb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(5)}, ents, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(fs.Crash(nil), "wal", Options{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "wal/") || !strings.Contains(err.Error(), "offset") {
		t.Fatalf("open: %v, want ErrCorrupt naming the file and offset", err)
	}
}
