package wal

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// readCountFS counts the bytes read from each file.
type readCountFS struct {
	FS
	read map[string]int64
}

type readCountFile struct {
	File
	fs   *readCountFS
	name string
}

func (c *readCountFS) Open(name string) (File, error) {
	f, err := c.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return &readCountFile{f, c, name}, nil
}

func (f *readCountFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.fs.read[f.name] += int64(n)
	return n, err
}

// writeSegments fills a log with three groups' entries over many segments,
// with snapshots, compactions, a truncation, a removed group and a group
// that received a snapshot from its leader, and returns what each group holds.
func writeSegments(t *testing.T, fs FS, opts Options) map[uint64]string {
	t.Helper()
	l, err := Open(fs, "wal", opts)
	if err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("d", 1800) // every group retains more than the cleaner moves
	next := map[uint64]uint64{1: 1, 2: 1, 3: 1, 4: 1}
	for round := 0; round < 60; round++ {
		for g := uint64(1); g <= 4; g++ {
			st := l.Storage(g)
			var ents []*raftpb.Entry
			for k := 0; k < 5; k++ {
				ents = append(ents, &raftpb.Entry{Index: proto.Uint64(next[g]), Term: proto.Uint64(uint64(1 + round/20)), Data: []byte(fmt.Sprintf("%d-%d-%s", g, next[g], data))})
				next[g]++
			}
			hs := &raftpb.HardState{Term: proto.Uint64(uint64(1 + round/20)), Vote: proto.Uint64(1), Commit: proto.Uint64(next[g] - 3)}
			if err := st.Save(hs, ents, nil); err != nil {
				t.Fatal(err)
			}
		}
		switch round {
		case 10: // a truncation: group 2 rewrites its last two entries
			next[2] -= 2
		case 20: // group 1 snapshots and compacts
			st := l.Storage(1)
			if _, err := st.CreateSnapshot(next[1]-10, &raftpb.ConfState{Voters: []uint64{1}}, []byte("snap")); err != nil {
				t.Fatal(err)
			}
			if err := st.Compact(next[1] - 10); err != nil {
				t.Fatal(err)
			}
		case 30: // group 3 installs its leader's snapshot
			idx := next[3] + 50
			snap := &raftpb.Snapshot{Data: []byte("leader"), Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(idx), Term: proto.Uint64(2), ConfState: &raftpb.ConfState{Voters: []uint64{1}}}}
			if err := l.Storage(3).Save(nil, nil, snap); err != nil {
				t.Fatal(err)
			}
			next[3] = idx + 1
		case 40: // group 4 goes
			if err := l.RemoveGroup(4); err != nil {
				t.Fatal(err)
			}
			delete(next, 4)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dump(t, fs, opts)
}

// dump opens the log and describes every group's state and entries.
func dump(t *testing.T, fs FS, opts Options) map[uint64]string {
	t.Helper()
	l, err := Open(fs, "wal", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return describe(t, l)
}

func describe(t *testing.T, l *Log) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	for _, g := range l.Groups() {
		st := l.Storage(g)
		first, _ := st.FirstIndex()
		last, _ := st.LastIndex()
		var b strings.Builder
		hs := st.HardState()
		snap, _ := st.Snapshot()
		fmt.Fprintf(&b, "first %d last %d hs %d/%d/%d snap %d %q\n", first, last, hs.GetTerm(), hs.GetVote(), hs.GetCommit(), snap.GetMetadata().GetIndex(), snap.Data)
		if last >= first {
			ents, err := st.Entries(first, last+1, 1<<40)
			if err != nil {
				t.Fatalf("group %d: %v", g, err)
			}
			for _, e := range ents {
				term, _ := st.Term(e.GetIndex())
				fmt.Fprintf(&b, "%d:%d:%d %s\n", e.GetIndex(), e.GetTerm(), term, e.Data)
			}
		}
		out[g] = b.String()
	}
	return out
}

func sameState(t *testing.T, got, want map[uint64]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("groups %d, want %d", len(got), len(want))
	}
	for g, w := range want {
		if got[g] != w {
			t.Fatalf("group %d:\n%s\nwant\n%s", g, got[g], w)
		}
	}
}

// Open takes every sealed segment from its index: it reads no sealed
// segment's data, beyond one record header each and the records the index
// leaves on disk (snapshots), and rebuilds the state a full replay gives.
func TestOpenReadsIndexesNotSealedSegments(t *testing.T) {
	opts := Options{SegmentBytes: 32 << 10}
	mem := NewMemFS()
	want := writeSegments(t, mem, opts)

	full := opts
	full.Verify = true
	sameState(t, dump(t, mem, full), want)

	cfs := &readCountFS{FS: mem, read: map[string]int64{}}
	l, err := Open(cfs, "wal", opts)
	if err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if len(segs) < 10 {
		t.Fatalf("only %d segments: the test needs many", len(segs))
	}
	// Every segment but the one Open replayed (the last before Open's own)
	// and Open's new one.
	sealed := segs[:len(segs)-2]
	if got := l.Unverified(); !slices.Equal(got, sealed) {
		t.Fatalf("Unverified() = %v, want %v", got, sealed)
	}
	for _, name := range sealed {
		size := int64(mem.SyncedSize(name))
		// A head checkpoint holds at most one snapshot record per group.
		if got := cfs.read[name]; got > 4*(headerBytes+200) {
			t.Errorf("Open read %d of the %d bytes of sealed %s", got, size, name)
		}
	}
	if got := cfs.read[segs[len(segs)-2]]; got < int64(mem.SyncedSize(segs[len(segs)-2])) {
		t.Errorf("Open read %d bytes of the last segment %s, want all of it", got, segs[len(segs)-2])
	}
	sameState(t, describe(t, l), want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// A damaged, missing or stale index is not trusted: Open replays that
// segment, gets the same state, and writes the index again.
func TestOpenReplaysWithoutAGoodIndex(t *testing.T) {
	opts := Options{SegmentBytes: 32 << 10}
	for _, damage := range []string{"flip", "remove", "truncate", "stale"} {
		t.Run(damage, func(t *testing.T) {
			mem := NewMemFS()
			want := writeSegments(t, mem, opts)
			names, _ := mem.List("wal")
			var idxs []string
			for _, n := range names {
				if strings.HasSuffix(n, indexSuffix) {
					idxs = append(idxs, path.Join("wal", n))
				}
			}
			victim := idxs[len(idxs)/2]
			switch damage {
			case "flip":
				if err := mem.FlipBit(victim, int64(mem.SyncedSize(victim)/2), 4); err != nil {
					t.Fatal(err)
				}
			case "remove":
				if err := mem.Remove(victim); err != nil {
					t.Fatal(err)
				}
			case "truncate":
				f, _ := mem.Open(victim)
				if err := f.Truncate(int64(mem.SyncedSize(victim) - 1)); err != nil {
					t.Fatal(err)
				}
			case "stale": // another segment's index under this one's name
				other := idxs[len(idxs)/2-1]
				f, _ := mem.Open(other)
				buf := make([]byte, mem.SyncedSize(other))
				if _, err := f.ReadAt(buf, 0); err != nil {
					t.Fatal(err)
				}
				if err := mem.Remove(victim); err != nil {
					t.Fatal(err)
				}
				g, _ := mem.Create(victim)
				if _, err := g.Write(buf); err != nil {
					t.Fatal(err)
				}
			}
			seg := strings.TrimSuffix(victim, indexSuffix) + segmentSuffix
			l, err := Open(mem, "wal", opts)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(l.Unverified(), seg) {
				t.Fatalf("%s taken from a %s index", seg, damage)
			}
			sameState(t, describe(t, l), want)
			_ = l.Close()
			l, err = Open(mem, "wal", opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(l.Unverified(), seg) {
				t.Fatalf("%s: no index written again after the replay", seg)
			}
			_ = l.Close()
		})
	}
}

// A sealed segment's damaged entry is found when it is read: the read
// fails naming the file and offset, the log stops, and Open with Verify
// refuses the log.
func TestSealedDamageFoundAtRead(t *testing.T) {
	opts := Options{SegmentBytes: 32 << 10}
	mem := NewMemFS()
	writeSegments(t, mem, opts)
	// Group 2's oldest live entry, in the oldest segment (sealed).
	l, err := Open(mem, "wal", opts)
	if err != nil {
		t.Fatal(err)
	}
	loc := l.Storage(2).locs[0]
	seg, off := l.segmentOf(loc.seg).name, int64(loc.off)+int64(loc.n)/2
	if seg != l.Segments()[0] {
		t.Fatalf("group 2's first entry is in %s, not in the oldest segment", seg)
	}
	_ = l.Close()
	if err := mem.FlipBit(seg, off, 1); err != nil {
		t.Fatal(err)
	}
	l, err = Open(mem, "wal", opts)
	if err != nil {
		t.Fatalf("Open read the sealed segment: %v", err)
	}
	var readErr error
	for _, g := range l.Groups() {
		st := l.Storage(g)
		first, _ := st.FirstIndex()
		last, _ := st.LastIndex()
		for i := first; i <= last && readErr == nil; i++ {
			_, readErr = st.Entry(i)
		}
	}
	if !errors.Is(readErr, ErrCorrupt) || !strings.Contains(readErr.Error(), seg) || !strings.Contains(readErr.Error(), "offset") {
		t.Fatalf("reading every entry gave %v, want ErrCorrupt naming %s and the offset", readErr, seg)
	}
	if l.Err() == nil || l.Sync() == nil {
		t.Fatal("the log goes on after damage found at read")
	}
	verify := opts
	verify.Verify = true
	if _, err := Open(mem, "wal", verify); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), seg) {
		t.Fatalf("Open with Verify gave %v, want ErrCorrupt naming %s", err, seg)
	}
}
