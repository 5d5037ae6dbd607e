package wal

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Many idle groups (a few entries from their first election) and one busy
// group that compacts often: the cleaner moves the idle groups' logs
// forward, so the number of segments stays bounded as the busy group
// writes, and crashes, including ones that tear a roll's head checkpoint
// with its moved entries, give every idle group's entries back.
func TestCleanerBoundsSegments(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { cleanerRun(t, seed) })
	}
}

func cleanerRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0))
	opts := Options{SegmentBytes: 16 << 10}
	fs := NewMemFS()
	l := mustOpen(t, fs, opts)
	const idleN, busy = 20, 100
	idle := map[uint64]string{}
	for g := uint64(1); g <= idleN; g++ {
		st := l.Storage(g)
		var ents []*raftpb.Entry
		for i := uint64(1); i <= 3; i++ {
			// Big enough that a head's moved entries span sectors (a
			// crash keeps or loses each sector).
			ents = append(ents, ent(i, 1, fmt.Sprintf("idle %d %d %s", g, i, strings.Repeat("i", 150))))
		}
		if err := st.Save(&raftpb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(3)}, ents, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	for g := uint64(1); g <= idleN; g++ {
		idle[g] = describe(t, l)[g]
	}
	next, synced := uint64(1), uint64(0)
	maxSegs, crashes := 0, 0
	for iter := 0; iter < 400; iter++ {
		st := l.Storage(busy)
		var ents []*raftpb.Entry
		for k := 0; k < 24; k++ {
			ents = append(ents, ent(next, 1, strings.Repeat("b", 200)))
			next++
		}
		if err := st.Save(&raftpb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(next - 1)}, ents, nil); err != nil {
			t.Fatal(err)
		}
		if first, _ := st.FirstIndex(); next-1 > first+10 {
			if err := st.Compact(next - 10); err != nil {
				t.Fatal(err)
			}
		}
		crash := rng.IntN(4) == 0
		if crash {
			fs.SetDeferSync(true) // the crash lands inside this Sync's fsyncs
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if !crash {
			synced = next - 1
			if iter > 50 {
				maxSegs = max(maxSegs, len(l.Segments()))
			}
			continue
		}
		crashes++
		// Some of the fsyncs complete (the segment's, the roll's new head
		// with its moved entries, its index...), then power fails.
		for k := rng.IntN(fs.InFlight() + 1); k > 0; k-- {
			fs.CompleteSync()
		}
		fs = fs.Crash(func(string, int) bool { return rng.IntN(2) == 0 })
		var err error
		if l, err = Open(fs, "wal", opts); err != nil {
			t.Fatalf("iteration %d: reopen: %v", iter, err)
		}
		got := describe(t, l)
		for g, want := range idle {
			if got[g] != want {
				t.Fatalf("iteration %d: idle group %d after the crash:\n%s\nwant\n%s", iter, g, got[g], want)
			}
		}
		last, _ := l.Storage(busy).LastIndex()
		if last < synced {
			t.Fatalf("iteration %d: the busy group ends at %d, synced %d", iter, last, synced)
		}
		next = last + 1
	}
	// Without the cleaner the idle groups pin the first segment and the
	// log grows to hundreds of segments.
	if maxSegs > 12 {
		t.Fatalf("up to %d segments of %d bytes, for 20 idle groups and a busy one keeping 10 entries", maxSegs, opts.SegmentBytes)
	}
	t.Logf("seed %d: at most %d segments, %d crashes", seed, maxSegs, crashes)
}
