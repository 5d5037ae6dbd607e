package wal

import (
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// genEntry draws an entry whose optional fields are present or not, so the
// encoding must round-trip presence exactly (proto.Equal and proto.Size see it).
func genEntry(t *rapid.T, index, term uint64) *raftpb.Entry {
	e := &raftpb.Entry{Index: proto.Uint64(index), Term: proto.Uint64(term)}
	if rapid.Bool().Draw(t, "hasType") {
		e.Type = raftpb.EntryType(rapid.IntRange(0, 2).Draw(t, "type")).Enum()
	}
	switch rapid.IntRange(0, 3).Draw(t, "data") {
	case 0: // nil
	case 1:
		e.Data = []byte{}
	default:
		e.Data = rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "bytes")
	}
	return e
}

// storageHarness drives a Storage and a raft.MemoryStorage with the same
// operations and demands the same answers; it also reopens the log (after a
// Sync) to check that recovery rebuilds the same state.
type storageHarness struct {
	fs   *MemFS
	opts Options
	log  *Log
	st   *Storage
	ms   *raft.MemoryStorage
	term uint64
	// commit is the last saved hard state's commit index: as in raft, no
	// append truncates at or below it and no snapshot older than it is
	// installed (recovery refuses a log whose commit index is past its end).
	commit uint64
}

func (h *storageHarness) reopen(t *rapid.T) {
	if err := h.log.Sync(); err != nil {
		t.Fatal(err)
	}
	h.fs = h.fs.Crash(nil)
	l, err := Open(h.fs, "d", h.opts)
	if err != nil {
		t.Fatal(err)
	}
	h.log, h.st = l, l.Storage(1)
	// Recovery raises a commit index below the snapshot or the compaction
	// point to it (clampCommit); MemoryStorage, never recovered, does not.
	mhs, _, _ := h.ms.InitialState()
	if !raft.IsEmptyHardState(mhs) {
		mfi, _ := h.ms.FirstIndex()
		msnap, _ := h.ms.Snapshot()
		if lo := max(mfi-1, msnap.GetMetadata().GetIndex()); mhs.GetCommit() < lo {
			_ = h.ms.SetHardState(&raftpb.HardState{Term: proto.Uint64(mhs.GetTerm()), Vote: proto.Uint64(mhs.GetVote()), Commit: proto.Uint64(lo)})
			h.commit = lo
		}
	}
}

func sameErr(t *rapid.T, what string, got, want error) {
	if (got == nil) != (want == nil) || (want != nil && !errors.Is(got, want)) {
		t.Fatalf("%s: error %v, MemoryStorage %v", what, got, want)
	}
}

func (h *storageHarness) check(t *rapid.T) {
	fi, _ := h.st.FirstIndex()
	mfi, _ := h.ms.FirstIndex()
	li, _ := h.st.LastIndex()
	mli, _ := h.ms.LastIndex()
	if fi != mfi || li != mli {
		t.Fatalf("first/last %d/%d, MemoryStorage %d/%d", fi, li, mfi, mli)
	}
	hs, cs, _ := h.st.InitialState()
	mhs, mcs, _ := h.ms.InitialState()
	if hs.GetTerm() != mhs.GetTerm() || hs.GetVote() != mhs.GetVote() || hs.GetCommit() != mhs.GetCommit() {
		t.Fatalf("hard state %v, MemoryStorage %v", hs, mhs)
	}
	if !proto.Equal(cs, mcs) {
		t.Fatalf("conf state %v, MemoryStorage %v", cs, mcs)
	}
	snap, _ := h.st.Snapshot()
	msnap, _ := h.ms.Snapshot()
	if !proto.Equal(snap, msnap) {
		t.Fatalf("snapshot %v, MemoryStorage %v", snap, msnap)
	}
}

func TestStorageMatchesMemoryStorage(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := &storageHarness{
			fs: NewMemFS(),
			opts: Options{
				SegmentBytes: rapid.Int64Range(64, 4096).Draw(t, "segmentBytes"),
				BufferBytes:  rapid.IntRange(1, 4096).Draw(t, "bufferBytes"),
				CacheBytes:   rapid.IntRange(1, 2000).Draw(t, "cacheBytes"),
			},
			ms:   raft.NewMemoryStorage(),
			term: 1,
		}
		var err error
		if h.log, err = Open(h.fs, "d", h.opts); err != nil {
			t.Fatal(err)
		}
		h.st = h.log.Storage(1)
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for range steps {
			mfi, _ := h.ms.FirstIndex()
			mli, _ := h.ms.LastIndex()
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1, 2: // append, possibly overwriting a suffix or overlapping the compacted prefix
				if rapid.Bool().Draw(t, "newTerm") {
					h.term++
				}
				// Never below the snapshot: raft only truncates uncommitted entries.
				msnap, _ := h.ms.Snapshot()
				lo := rapid.Uint64Range(max(mfi-1, msnap.GetMetadata().GetIndex()+1, 1, h.commit+1), mli+1).Draw(t, "appendAt")
				n := rapid.IntRange(0, 8).Draw(t, "n")
				var ents []*raftpb.Entry
				for k := range n {
					ents = append(ents, genEntry(t, lo+uint64(k), h.term))
				}
				var hs *raftpb.HardState
				if rapid.Bool().Draw(t, "withHS") {
					hs = &raftpb.HardState{Term: proto.Uint64(h.term), Vote: proto.Uint64(rapid.Uint64Range(0, 3).Draw(t, "vote")), Commit: proto.Uint64(rapid.Uint64Range(0, lo-1).Draw(t, "commit"))}
					_ = h.ms.SetHardState(hs)
					h.commit = hs.GetCommit()
				}
				sameErr(t, "save", h.st.Save(hs, ents, nil), h.ms.Append(ents))
			case 3: // Entries
				lo := rapid.Uint64Range(mfi-1, mli+1).Draw(t, "lo")
				hi := rapid.Uint64Range(lo, mli+1).Draw(t, "hi")
				maxSize := rapid.Uint64Range(0, 2000).Draw(t, "maxSize")
				got, err := h.st.Entries(lo, hi, maxSize)
				want, merr := h.ms.Entries(lo, hi, maxSize)
				sameErr(t, fmt.Sprintf("entries(%d,%d,%d)", lo, hi, maxSize), err, merr)
				if len(got) != len(want) {
					t.Fatalf("entries(%d,%d,%d): %d entries, MemoryStorage %d", lo, hi, maxSize, len(got), len(want))
				}
				for k := range got {
					if !proto.Equal(got[k], want[k]) {
						t.Fatalf("entries(%d,%d,%d)[%d] = %v, MemoryStorage %v", lo, hi, maxSize, k, got[k], want[k])
					}
				}
				if lo < hi { // Entry is Entries of one
					e, eerr := h.st.Entry(lo)
					sameErr(t, fmt.Sprintf("entry(%d)", lo), eerr, merr)
					if eerr == nil && !proto.Equal(e, want[0]) {
						t.Fatalf("entry(%d) = %v, MemoryStorage %v", lo, e, want[0])
					}
				}
			case 4: // Term
				i := rapid.Uint64Range(0, mli+2).Draw(t, "i")
				got, err := h.st.Term(i)
				want, merr := h.ms.Term(i)
				sameErr(t, fmt.Sprintf("term(%d)", i), err, merr)
				if got != want {
					t.Fatalf("term(%d) = %d, MemoryStorage %d", i, got, want)
				}
			case 5: // CreateSnapshot
				msnap, _ := h.ms.Snapshot()
				if max(mfi-1, msnap.GetMetadata().GetIndex()) > mli {
					break // MemoryStorage panics on a snapshot past the last index
				}
				i := rapid.Uint64Range(max(mfi-1, msnap.GetMetadata().GetIndex()), mli).Draw(t, "snapAt")
				var cs *raftpb.ConfState
				if rapid.Bool().Draw(t, "withCS") {
					cs = &raftpb.ConfState{Voters: []uint64{1, rapid.Uint64Range(2, 5).Draw(t, "voter")}}
				}
				data := []byte(fmt.Sprintf("state@%d", i))
				got, err := h.st.CreateSnapshot(i, cs, data)
				want, merr := h.ms.CreateSnapshot(i, cs, data)
				sameErr(t, fmt.Sprintf("createSnapshot(%d)", i), err, merr)
				if err == nil && !proto.Equal(got, want) {
					t.Fatalf("createSnapshot(%d) = %v, MemoryStorage %v", i, got, want)
				}
			case 6: // Compact
				i := rapid.Uint64Range(0, mli).Draw(t, "compactAt")
				sameErr(t, fmt.Sprintf("compact(%d)", i), h.st.Compact(i), h.ms.Compact(i))
			case 7: // apply a snapshot from the leader, with entries after it
				msnap, _ := h.ms.Snapshot()
				i := rapid.Uint64Range(max(msnap.GetMetadata().GetIndex(), h.commit), mli+5).Draw(t, "applyAt")
				if i == 0 {
					break // an empty snapshot is no snapshot to Save, while MemoryStorage would apply it
				}
				h.term++
				snap := &raftpb.Snapshot{Data: []byte("leader"), Metadata: &raftpb.SnapshotMetadata{
					Index: proto.Uint64(i), Term: proto.Uint64(h.term),
					ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}},
				}}
				var ents []*raftpb.Entry
				for k := range rapid.IntRange(0, 3).Draw(t, "n") {
					ents = append(ents, genEntry(t, i+1+uint64(k), h.term))
				}
				err := h.st.Save(nil, ents, snap)
				merr := h.ms.ApplySnapshot(snap)
				sameErr(t, fmt.Sprintf("apply snapshot %d", i), err, merr)
				if merr == nil {
					_ = h.ms.Append(ents)
				}
			case 8:
				if err := h.log.Sync(); err != nil {
					t.Fatal(err)
				}
			case 9:
				h.reopen(t)
			}
			h.check(t)
		}
		h.reopen(t)
		h.check(t)
		if err := h.log.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
