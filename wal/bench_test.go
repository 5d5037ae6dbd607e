package wal

import (
	"runtime"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// benchSaveSync measures one event-loop iteration's worth of work: Save of
// 1000 × 1 KiB entries, then one Sync. wal/osfs has the same benchmark over the OS disk.
func benchSaveSync(b *testing.B, fs FS, dir string) {
	l, err := Open(fs, dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	st := l.Storage(1)
	data := make([]byte, 1024)
	ents := make([]*raftpb.Entry, 1000)
	next := uint64(1)
	b.SetBytes(int64(len(ents) * len(data)))
	b.ResetTimer()
	for b.Loop() {
		for k := range ents {
			ents[k] = &raftpb.Entry{Index: proto.Uint64(next), Term: proto.Uint64(1), Data: data}
			next++
		}
		if err := st.Save(nil, ents, nil); err != nil {
			b.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			b.Fatal(err)
		}
		if next > 20000 { // keep MemFS memory bounded
			if err := st.Compact(next - 1); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkSaveSyncMemFS(b *testing.B) { benchSaveSync(b, NewMemFS(), "wal") }

// BenchmarkIndexBytesPerEntry reports the heap an opened log holds per
// entry it indexes (its position index; the entries stay on disk): one
// group, entriesN small entries over many segments, in MemFS (whose own
// bytes are in the heap before and after Open, so they cancel out).
func BenchmarkIndexBytesPerEntry(b *testing.B) {
	const entriesN = 1 << 20
	fs := NewMemFS()
	opts := Options{SegmentBytes: 4 << 20}
	l, err := Open(fs, "wal", opts)
	if err != nil {
		b.Fatal(err)
	}
	st := l.Storage(1)
	data := make([]byte, 16)
	ents := make([]*raftpb.Entry, 1024)
	for next := uint64(1); next <= entriesN; {
		for k := range ents {
			ents[k] = &raftpb.Entry{Index: proto.Uint64(next), Term: proto.Uint64(1 + next/100000), Data: data}
			next++
		}
		if err := st.Save(nil, ents, nil); err != nil {
			b.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		before := heapAlloc()
		l, err := Open(fs, "wal", opts)
		if err != nil {
			b.Fatal(err)
		}
		after := heapAlloc()
		if last, _ := l.Storage(1).LastIndex(); last != entriesN {
			b.Fatalf("last %d", last)
		}
		b.ReportMetric(float64(after-before)/entriesN, "heapB/entry")
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func heapAlloc() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
