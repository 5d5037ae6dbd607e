package wal

import (
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// One Save writing far past segmentOffsetMax rolls in the middle, so that
// every record's offset fits an entryLoc, and the log reads back the same
// after a reopen.
func TestSaveRollsBeforeOffsetsOverflow(t *testing.T) {
	defer func(old int64) { segmentOffsetMax = old }(segmentOffsetMax)
	segmentOffsetMax = 64 << 10
	opts := Options{SegmentBytes: 1 << 20}
	fs := NewMemFS()
	l, err := Open(fs, "wal", opts)
	if err != nil {
		t.Fatal(err)
	}
	var ents []*raftpb.Entry
	for i := uint64(1); i <= 40; i++ {
		ents = append(ents, &raftpb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(1 + i/7), Data: []byte(fmt.Sprintf("%d%s", i, strings.Repeat("x", 10<<10)))})
	}
	hs := &raftpb.HardState{Term: proto.Uint64(6), Vote: proto.Uint64(1), Commit: proto.Uint64(30)}
	if err := l.Storage(1).Save(hs, ents, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := len(l.Segments()); n < 6 {
		t.Fatalf("%d segments: one Save of 400 KiB did not roll at %d bytes", n, segmentOffsetMax)
	}
	for _, name := range l.Segments() {
		if size := fs.SyncedSize(name); int64(size) > segmentOffsetMax {
			t.Fatalf("%s holds %d bytes, past %d", name, size, segmentOffsetMax)
		}
	}
	want := describe(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	sameState(t, dump(t, fs, opts), want)
	for i, e := range ents {
		if !strings.Contains(want[1], fmt.Sprintf("%d:%d:%d %d", e.GetIndex(), e.GetTerm(), e.GetTerm(), i+1)) {
			t.Fatalf("entry %d is not read back with its term:\n%s", i+1, want[1])
		}
	}
}
