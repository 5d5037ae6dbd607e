package wal

import (
	"bytes"
	"fmt"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestCheckpointSurvivesReopenAndRolls: a checkpoint comes back after a
// crash that kept what was synced, and after the segment it was written in
// was deleted (every segment's head repeats it); ResumeFromCheckpoint makes
// InitialState answer its ConfState. A checkpoint not yet synced is lost
// with the crash, and the one before it is what Open finds.
func TestCheckpointSurvivesReopenAndRolls(t *testing.T) {
	fs := NewMemFS()
	opts := Options{SegmentBytes: 4 << 10}
	l, err := Open(fs, "d", opts)
	if err != nil {
		t.Fatal(err)
	}
	st := l.Storage(7)
	cs := &raftpb.ConfState{Voters: []uint64{1, 2, 3}}
	var index uint64
	var want []byte
	for i := uint64(1); i <= 200; i++ {
		e := &raftpb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(1), Data: bytes.Repeat([]byte{byte(i)}, 100)}
		hs := &raftpb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(i)}
		if err := st.Save(hs, []*raftpb.Entry{e}, nil); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			index, want = i, []byte(fmt.Sprintf("state at %d", i))
			if err := st.SaveCheckpoint(index, cs, want); err != nil {
				t.Fatal(err)
			}
			if err := st.Compact(i - 10); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SaveCheckpoint(201, cs, []byte("never synced")); err != nil {
		t.Fatal(err)
	}
	if n := len(l.Segments()); n > 4 {
		t.Fatalf("%d segments left after compacting: old ones were not deleted", n)
	}
	fs = fs.Crash(nil)
	l, err = Open(fs, "d", opts)
	if err != nil {
		t.Fatal(err)
	}
	st = l.Storage(7)
	gi, got := st.Checkpoint()
	if gi != index || !bytes.Equal(got, want) {
		t.Fatalf("checkpoint after reopen: %d %q, want %d %q", gi, got, index, want)
	}
	if _, ics, _ := st.InitialState(); len(ics.GetVoters()) != 0 {
		t.Fatalf("InitialState before resuming answers the checkpoint's ConfState %v", ics)
	}
	if err := st.ResumeFromCheckpoint(); err != nil {
		t.Fatal(err)
	}
	if _, ics, _ := st.InitialState(); !proto.Equal(ics, cs) {
		t.Fatalf("InitialState after resuming: %v, want %v", ics, cs)
	}
}
