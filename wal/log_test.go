package wal

import (
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func ent(index, term uint64, data string) *raftpb.Entry {
	return &raftpb.Entry{Index: proto.Uint64(index), Term: proto.Uint64(term), Data: []byte(data)}
}

func mustOpen(t *testing.T, fs FS, opts Options) *Log {
	t.Helper()
	l, err := Open(fs, "wal", opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fill writes entries 1..n of group 1, syncing after each.
func fill(t *testing.T, l *Log, n uint64) {
	t.Helper()
	st := l.Storage(1)
	for i := uint64(1); i <= n; i++ {
		if err := st.Save(&raftpb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(i - 1)}, []*raftpb.Entry{ent(i, 1, strings.Repeat("d", 50))}, nil); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

func keepNone(string, int) bool { return false }

// keepPrefix is the image of a crash that kept keep bytes of name's unsynced
// tail (a torn write that reached the disk in order).
func keepPrefix(t *testing.T, fs *MemFS, name string, keep int) *MemFS {
	t.Helper()
	size, unsynced, _ := fs.Unsynced(name)
	img := fs.Crash(func(string, int) bool { return true })
	f, err := img.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(size - unsynced + keep)); err != nil {
		t.Fatal(err)
	}
	return img
}

func TestCorruptMiddleFailsOpen(t *testing.T) {
	fs := NewMemFS()
	l := mustOpen(t, fs, Options{})
	fill(t, l, 20)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := l.Segments()[len(l.Segments())-1]
	size, _, _ := fs.Unsynced(seg)
	for _, off := range []int64{1, 5, 9, 40, int64(size / 2)} { // length, its checksum, body checksum, body
		img := fs.Crash(keepNone)
		if err := img.Corrupt(seg, off, 0x10); err != nil {
			t.Fatal(err)
		}
		_, err := Open(img, "wal", Options{})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), seg) || !strings.Contains(err.Error(), "offset") {
			t.Fatalf("flipped byte at %d: Open error %v, want ErrCorrupt naming %s and the offset", off, err, seg)
		}
	}
}

func TestTornTailTruncatedAndAppendable(t *testing.T) {
	fs := NewMemFS()
	l := mustOpen(t, fs, Options{BufferBytes: 1}) // every record reaches the file at once
	fill(t, l, 5)
	st := l.Storage(1)
	if err := st.Save(nil, []*raftpb.Entry{ent(6, 1, strings.Repeat("t", 100))}, nil); err != nil {
		t.Fatal(err)
	}
	seg := l.Segments()[len(l.Segments())-1]
	_, unsynced, _ := fs.Unsynced(seg)
	if unsynced == 0 {
		t.Fatal("expected an unsynced record")
	}
	for _, keep := range []int{1, headerBytes, unsynced - 1} {
		img := keepPrefix(t, fs, seg, keep)
		l2 := mustOpen(t, img, Options{})
		st2 := l2.Storage(1)
		if last, _ := st2.LastIndex(); last != 5 {
			t.Fatalf("keep %d: last index %d after torn tail, want 5", keep, last)
		}
		if err := st2.Save(nil, []*raftpb.Entry{ent(6, 2, "new")}, nil); err != nil {
			t.Fatal(err)
		}
		if err := l2.Close(); err != nil {
			t.Fatal(err)
		}
		l3 := mustOpen(t, img.Crash(keepNone), Options{})
		ents, err := l3.Storage(1).Entries(1, 7, 1<<30)
		if err != nil || len(ents) != 6 || string(ents[5].Data) != "new" {
			t.Fatalf("keep %d: after append and reopen: %v %v", keep, ents, err)
		}
	}
	// Trailing zeroes (a preallocated or zero-filled tail) are a torn tail too.
	img := fs.Crash(keepNone)
	f, _ := img.Open(seg)
	_, _ = f.Write(make([]byte, 100))
	_ = f.Sync()
	l4 := mustOpen(t, img, Options{})
	if last, _ := l4.Storage(1).LastIndex(); last != 5 {
		t.Fatalf("last index %d after zero tail, want 5", last)
	}
}

func TestCompactionDeletesSegmentsAndKeepsState(t *testing.T) {
	fs := NewMemFS()
	opts := Options{SegmentBytes: 300}
	l := mustOpen(t, fs, opts)
	other := l.Storage(2)
	if err := other.Save(&raftpb.HardState{Term: proto.Uint64(3), Vote: proto.Uint64(2), Commit: proto.Uint64(0)}, nil, nil); err != nil {
		t.Fatal(err)
	}
	fill(t, l, 40)
	before := len(l.Segments())
	st := l.Storage(1)
	if _, err := st.CreateSnapshot(35, &raftpb.ConfState{Voters: []uint64{1}}, []byte("app")); err != nil {
		t.Fatal(err)
	}
	if err := st.Compact(35); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	// The cleaner keeps group 1 from pinning old segments while it
	// fills, so count what the compaction left instead: every segment
	// but the active one holds a live entry.
	for _, seg := range l.segs[:len(l.segs)-1] {
		if seg.maxIndex[1] <= 35 {
			t.Fatalf("%s holds only compacted entries but stays (%d segments before, %d after)", seg.name, before, len(l.segs))
		}
	}
	l2 := mustOpen(t, fs.Crash(keepNone), opts)
	st2 := l2.Storage(1)
	first, _ := st2.FirstIndex()
	last, _ := st2.LastIndex()
	snap, _ := st2.Snapshot()
	if first != 36 || last != 40 || snap.GetMetadata().GetIndex() != 35 || string(snap.Data) != "app" {
		t.Fatalf("after reopen first %d last %d snapshot %v", first, last, snap)
	}
	if hs := l2.Storage(2).HardState(); hs.GetTerm() != 3 || hs.GetVote() != 2 {
		t.Fatalf("group 2 hard state lost with the old segments: %v", hs)
	}
	if got := l2.Groups(); len(got) != 2 {
		t.Fatalf("groups %v", got)
	}
}

func TestRemoveGroup(t *testing.T) {
	fs := NewMemFS()
	l := mustOpen(t, fs, Options{})
	fill(t, l, 3)
	st := l.Storage(1)
	if err := l.RemoveGroup(1); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(nil, []*raftpb.Entry{ent(4, 1, "")}, nil); !errors.Is(err, ErrRemoved) {
		t.Fatalf("save to removed group: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, fs.Crash(keepNone), Options{})
	if g := l2.Groups(); len(g) != 0 {
		t.Fatalf("groups after removal %v", g)
	}
}

func TestFailedSyncPoisons(t *testing.T) {
	fs := NewMemFS()
	l := mustOpen(t, fs, Options{})
	fill(t, l, 2)
	boom := errors.New("disk on fire")
	fs.SetFault(func(op, _ string) error {
		if op == "sync" {
			return boom
		}
		return nil
	})
	if err := l.Storage(1).Save(nil, []*raftpb.Entry{ent(3, 1, "x")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); !errors.Is(err, boom) {
		t.Fatalf("sync: %v", err)
	}
	fs.SetFault(nil)
	if err := l.Sync(); !errors.Is(err, boom) {
		t.Fatalf("sync after failure: %v, want the first error again", err)
	}
	if err := l.Storage(1).Save(nil, []*raftpb.Entry{ent(4, 1, "x")}, nil); !errors.Is(err, boom) {
		t.Fatalf("save after failure: %v", err)
	}
}

func TestEntriesDoNotAlias(t *testing.T) {
	fs := NewMemFS()
	l := mustOpen(t, fs, Options{CacheBytes: 1})
	fill(t, l, 5)
	st := l.Storage(1)
	a, err := st.Entries(1, 6, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	a[0].Data[0] = 'Z'
	a = append(a[:1], ent(99, 9, "x"))
	b, _ := st.Entries(1, 6, 1<<30)
	if b[0].Data[0] != 'd' || b[1].GetIndex() != 2 {
		t.Fatalf("a caller's changes reached the storage: %v", b[:2])
	}
}

func TestEntrySizeMatchesProto(t *testing.T) {
	for _, e := range []*raftpb.Entry{
		{}, ent(1, 1, ""), ent(300, 1<<40, strings.Repeat("a", 200)),
		{Type: raftpb.EntryType_EntryConfChangeV2.Enum(), Data: []byte{}},
		{Type: raftpb.EntryType(-1).Enum()},
	} {
		if got, want := entrySize(e), proto.Size(e); got != want {
			t.Errorf("entrySize(%v) = %d, proto.Size %d", e, got, want)
		}
		b := appendEntryPayload(nil, e)
		d, err := decodeEntry(b)
		if err != nil || !proto.Equal(d, e) {
			t.Errorf("round trip of %v: %v %v", e, d, err)
		}
	}
}

// FuzzDecodeRecord: the record decoder must reject garbage with an error, never panic.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, recordPos{1, 0, 0}, kindEntry, 1, -1, func(b []byte) []byte { return appendEntryPayload(b, ent(1, 1, "x")) }))
	f.Add(make([]byte, headerBytes))
	f.Fuzz(func(t *testing.T, rec []byte) {
		_, _, payload, err := decodeRecord(rec, 1, 0)
		if err == nil {
			_, _ = decodeEntry(payload)
			var a, b, c uint64
			_ = decodeUvarints(payload, &a, &b, &c)
		}
	})
}

// TestDeterminismRules keeps the package free of ambient nondeterminism: only
// wal/osfs may touch the OS.
func TestDeterminismRules(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := regexp.MustCompile(`"os"|"net"|"math/rand"|"math/rand/v2"|time\.Now|time\.Sleep|time\.After|time\.NewTimer|time\.NewTicker|\bgo func|\bgo [a-zA-Z_.]+\(`)
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			code, _, _ := strings.Cut(line, "//")
			if m := forbidden.FindString(code); m != "" {
				t.Errorf("%s:%d uses %s", name, i+1, m)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}

// TestCRCSmall: the byte-by-byte position CRC is crc32's.
func TestCRCSmall(t *testing.T) {
	var p [24]byte
	for i := range 1000 {
		for k := range p {
			p[k] = byte(i*31 + k*7 + i*k)
		}
		if got, want := crcSmall(p), crc32.Checksum(p[:], castagnoli); got != want {
			t.Fatalf("input %d: crcSmall %#x, crc32 %#x", i, got, want)
		}
	}
}

// TestDecodeEntryAllocs: a decoded entry is one allocation and its data
// another, not one per field (entries read back for fetches are many).
func TestDecodeEntryAllocs(t *testing.T) {
	b := appendEntryPayload(nil, ent(7, 1<<20, "batch"))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := decodeEntry(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Errorf("decodeEntry: %v allocations, want at most 2 (the entry with its fields, its data)", allocs)
	}
}
