package wal

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// The recovery model: what each group's storage should hold, at the
// granularity of records (one entry, one hard state, one compaction...).
type mEntry struct {
	index, term uint64
	data        string
}

type mGroup struct {
	offset, offsetTerm uint64
	ents               []mEntry
	hs                 [3]uint64
	snapIdx            uint64
}

type model map[uint64]*mGroup

func (m model) clone() model {
	c := model{}
	for g, s := range m {
		cs := *s
		cs.ents = append([]mEntry(nil), s.ents...)
		c[g] = &cs
	}
	return c
}

func (m model) group(g uint64) *mGroup {
	if m[g] == nil {
		m[g] = &mGroup{}
	}
	return m[g]
}

func (m model) String() string {
	var gs []uint64
	for g := range m {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i] < gs[j] })
	var b strings.Builder
	for _, g := range gs {
		s := m[g]
		fmt.Fprintf(&b, "g%d off=%d/%d hs=%v snap=%d ents=", g, s.offset, s.offsetTerm, s.hs, s.snapIdx)
		for _, e := range s.ents {
			fmt.Fprintf(&b, "%d:%d:%q ", e.index, e.term, e.data)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// recovered is the state recovery rebuilds from m: a commit index below the
// snapshot or the compaction point is raised to it (clampCommit).
func (m model) recovered() model {
	c := m.clone()
	for _, s := range c {
		if s.hs != [3]uint64{} {
			s.hs[2] = max(s.hs[2], s.offset, s.snapIdx)
		}
	}
	return c
}

// observe reads a recovered log back into a model through the public API.
func observe(t *rapid.T, l *Log) model {
	m, err := observeErr(t, l)
	if err != nil {
		t.Fatalf("entries: %v", err)
	}
	return m
}

// observeErr is observe, returning the error of a read of entries.
func observeErr(t *rapid.T, l *Log) (model, error) {
	m := model{}
	for _, g := range l.Groups() {
		st := l.Storage(g)
		s := m.group(g)
		first, _ := st.FirstIndex()
		last, _ := st.LastIndex()
		s.offset = first - 1
		var err error
		if s.offsetTerm, err = st.Term(s.offset); err != nil {
			t.Fatalf("group %d: term(%d): %v", g, s.offset, err)
		}
		if last >= first {
			ents, err := st.Entries(first, last+1, 1<<40)
			if err != nil {
				return nil, fmt.Errorf("group %d: %w", g, err)
			}
			for k, e := range ents {
				if e.GetIndex() != first+uint64(k) {
					t.Fatalf("group %d: entry %d has index %d", g, first+uint64(k), e.GetIndex())
				}
				s.ents = append(s.ents, mEntry{e.GetIndex(), e.GetTerm(), string(e.Data)})
			}
		}
		hs := st.HardState()
		s.hs = [3]uint64{hs.GetTerm(), hs.GetVote(), hs.GetCommit()}
		snap, _ := st.Snapshot()
		s.snapIdx = snap.GetMetadata().GetIndex()
	}
	return m, nil
}

func TestRecoveryKeepsSyncedAndAPrefix(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		opts := Options{
			SegmentBytes: rapid.Int64Range(64, 48<<10).Draw(t, "segmentBytes"),
			BufferBytes:  rapid.IntRange(1, 1024).Draw(t, "bufferBytes"),
			CacheBytes:   rapid.IntRange(1, 512).Draw(t, "cacheBytes"),
		}
		fs := NewMemFS()
		l, err := Open(fs, "wal", opts)
		if err != nil {
			t.Fatal(err)
		}
		synced := model{}
		var pending []func(model) // record-level ops written since the last good Sync
		term := uint64(1)
		seq := 0
		// The last commit index saved per group: as in raft, no append
		// truncates at or below it.
		commit := map[uint64]uint64{}

		crash := func() {
			before := fs
			fs = fs.Crash(func(name string, sector int) bool {
				return rapid.Bool().Draw(t, "keep")
			})
			// Bit rot in synced data is refused, never cut off as a torn
			// tail: by Open, or, in a sealed segment Open took from its
			// index, by the read of the damaged entry (which stops the log),
			// and always by Open with Verify. Nothing damaged is served.
			var flipped model
			flippedAt := ""
			if rapid.IntRange(0, 3).Draw(t, "flip") == 0 {
				var files []string
				for _, name := range before.Files() {
					if _, _, ok := fs.Unsynced(name); ok && before.SyncedSize(name) > 0 && strings.HasSuffix(name, segmentSuffix) {
						files = append(files, name)
					}
				}
				if len(files) > 0 {
					name := files[rapid.IntRange(0, len(files)-1).Draw(t, "flipFile")]
					off := rapid.IntRange(0, before.SyncedSize(name)-1).Draw(t, "flipAt")
					img := fs.Crash(nil)
					if err := img.FlipBit(name, int64(off), 1<<rapid.IntRange(0, 7).Draw(t, "bit")); err != nil {
						t.Fatal(err)
					}
					verify := opts
					verify.Verify = true
					if _, err := Open(img.Crash(nil), "wal", verify); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) {
						t.Fatalf("a bit flipped at %d of %s (synced): Open with Verify gave %v, want ErrCorrupt naming the file", off, name, err)
					}
					lf, err := Open(img, "wal", opts)
					if err == nil {
						// Unless Open deleted the segment (all compacted).
						if !slices.Contains(lf.Unverified(), name) && slices.Contains(lf.Segments(), name) {
							t.Fatalf("a bit flipped at %d of %s (synced), which Open read: Open gave nil", off, name)
						}
						m, err := observeErr(t, lf)
						switch {
						case err == nil:
							flipped, flippedAt = m, fmt.Sprintf("%s at %d", name, off)
						case !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name):
							t.Fatalf("a bit flipped at %d of %s (synced): the read gave %v, want ErrCorrupt naming the file", off, name, err)
						case lf.Err() == nil:
							t.Fatalf("a bit flipped at %d of %s (synced): the read found it, but the log goes on", off, name)
						}
					} else if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) {
						t.Fatalf("a bit flipped at %d of %s (synced): Open gave %v, want ErrCorrupt naming the file", off, name, err)
					}
				}
			}
			l2, err := Open(fs, "wal", opts)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			got := observe(t, l2)
			if flipped != nil && flipped.String() != got.String() {
				// The flip hit a record the index does not need (superseded
				// by the next segment's head checkpoint, or compacted).
				t.Fatalf("a bit flipped (%s) went unnoticed but changed what is served:\n%s\nwant\n%s", flippedAt, flipped, got)
			}
			cand := synced.clone()
			var tried []string
			match := false
			for k := 0; ; k++ {
				want := cand.recovered().String()
				tried = append(tried, want)
				if want == got.String() {
					match = true
					break
				}
				if k == len(pending) {
					break
				}
				pending[k](cand)
			}
			if !match {
				t.Fatalf("recovered state\n%s\nis not the synced state plus a prefix of %d later records; candidates:\n%s", got, len(pending), strings.Join(tried, "--\n"))
			}
			l, synced, pending = l2, got, nil
			clear(commit)
			for g, s := range got {
				commit[g] = s.hs[2]
			}
		}

		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			g := rapid.Uint64Range(1, 3).Draw(t, "group")
			st := l.Storage(g)
			first, _ := st.FirstIndex()
			last, _ := st.LastIndex()
			snap, _ := st.Snapshot()
			switch rapid.IntRange(0, 8).Draw(t, "op") {
			case 0, 1, 2: // append (maybe over a suffix) and maybe a hard state
				if rapid.Bool().Draw(t, "newTerm") {
					term++
				}
				lo := rapid.Uint64Range(max(first, snap.GetMetadata().GetIndex()+1, commit[g]+1), last+1).Draw(t, "appendAt")
				var ents []*raftpb.Entry
				for k := range rapid.IntRange(0, 6).Draw(t, "n") {
					seq++
					data := fmt.Sprintf("%d-%s", seq, strings.Repeat("x", rapid.IntRange(0, 3000).Draw(t, "len")))
					ents = append(ents, &raftpb.Entry{Index: proto.Uint64(lo + uint64(k)), Term: proto.Uint64(term), Data: []byte(data)})
				}
				var hs *raftpb.HardState
				if rapid.Bool().Draw(t, "withHS") {
					hs = &raftpb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(g), Commit: proto.Uint64(lo - 1)}
					commit[g] = lo - 1
				}
				if err := st.Save(hs, ents, nil); err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					e := mEntry{e.GetIndex(), e.GetTerm(), string(e.Data)}
					pending = append(pending, func(m model) {
						s := m.group(g)
						s.ents = append(s.ents[:e.index-s.offset-1], e)
					})
				}
				if hs != nil {
					v := [3]uint64{hs.GetTerm(), hs.GetVote(), hs.GetCommit()}
					pending = append(pending, func(m model) { m.group(g).hs = v })
				}
			case 3: // snapshot and compact
				if last < first {
					break
				}
				i := rapid.Uint64Range(first, last).Draw(t, "compactAt")
				it, _ := st.Term(i)
				if i > snap.GetMetadata().GetIndex() {
					if _, err := st.CreateSnapshot(i, &raftpb.ConfState{Voters: []uint64{1}}, nil); err != nil {
						t.Fatal(err)
					}
					pending = append(pending, func(m model) { m.group(g).snapIdx = i })
				}
				if err := st.Compact(i); err != nil {
					t.Fatal(err)
				}
				pending = append(pending, func(m model) {
					s := m.group(g)
					s.ents = append([]mEntry(nil), s.ents[i-s.offset:]...)
					s.offset, s.offsetTerm = i, it
				})
			case 4, 5:
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
				for _, op := range pending {
					op(synced)
				}
				pending = nil
			case 6: // a Sync that fails somewhere, then the node stops
				ops := []string{"write", "sync", "create", "syncdir", "remove"}
				op := ops[rapid.IntRange(0, len(ops)-1).Draw(t, "faultOp")]
				errFault := errors.New("injected")
				fs.SetFault(func(o, name string) error {
					if o == op {
						return errFault
					}
					return nil
				})
				err := l.Sync()
				fs.SetFault(nil)
				if err == nil {
					for _, op := range pending {
						op(synced)
					}
					pending = nil
					break
				}
				if !errors.Is(err, errFault) {
					t.Fatalf("sync error %v does not wrap the injected one", err)
				}
				if err2 := st.Save(nil, nil, nil); err2 == nil || l.Sync() == nil {
					t.Fatal("a failed log accepted more work")
				}
				crash()
			case 7:
				crash()
			case 8: // power fails while the fsync is in flight
				fs.SetDeferSync(true)
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
				crash()
			}
		}
		crash()
	})
}
