package wal

import (
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
