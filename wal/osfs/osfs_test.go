package osfs_test

import (
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ketch-dev/ketch/wal"
	"github.com/ketch-dev/ketch/wal/osfs"
)

func TestFileOps(t *testing.T) {
	fs := osfs.New()
	dir := filepath.ToSlash(t.TempDir()) + "/a/b"
	if err := fs.MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create(dir + "/x")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"hello ", "world"} {
		if _, err := f.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("!")); err != nil { // appends after the truncation point
		t.Fatal(err)
	}
	if n, _ := f.Size(); n != 6 {
		t.Fatalf("size %d", n)
	}
	buf := make([]byte, 6)
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if string(buf) != "hello!" {
		t.Fatalf("content %q", buf)
	}
	_ = f.Close()
	if err := fs.Rename(dir+"/x", dir+"/y"); err != nil {
		t.Fatal(err)
	}
	g, err := fs.Open(dir + "/y")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = g.Write([]byte("?"))
	if n, _ := g.Size(); n != 7 {
		t.Fatalf("Open does not append: size %d", n)
	}
	_ = g.Close()
	if err := fs.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	names, err := fs.List(dir)
	if err != nil || !reflect.DeepEqual(names, []string{"y"}) {
		t.Fatalf("list %v %v", names, err)
	}
	if err := fs.Remove(dir + "/y"); err != nil {
		t.Fatal(err)
	}
}

func TestLogOverOS(t *testing.T) {
	dir := filepath.ToSlash(t.TempDir()) + "/wal"
	l, err := wal.Open(osfs.New(), dir, wal.Options{SegmentBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	st := l.Storage(3)
	for i := uint64(1); i <= 50; i++ {
		e := &raftpb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(1), Data: []byte("payload")}
		if err := st.Save(&raftpb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(i)}, []*raftpb.Entry{e}, nil); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := wal.Open(osfs.New(), dir, wal.Options{SegmentBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	ents, err := l2.Storage(3).Entries(1, 51, 1<<30)
	if err != nil || len(ents) != 50 || string(ents[49].Data) != "payload" {
		t.Fatalf("entries after reopen: %d %v", len(ents), err)
	}
	if hs := l2.Storage(3).HardState(); hs.GetCommit() != 50 {
		t.Fatalf("hard state %v", hs)
	}
}

// BenchmarkSaveSyncOS is one event-loop iteration over the real disk: Save of
// 1000 × 1 KiB entries and one fsync.
func BenchmarkSaveSyncOS(b *testing.B) {
	l, err := wal.Open(osfs.New(), filepath.ToSlash(b.TempDir()), wal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	st := l.Storage(1)
	data := make([]byte, 1024)
	ents := make([]*raftpb.Entry, 1000)
	next := uint64(1)
	b.SetBytes(int64(len(ents) * len(data)))
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
		if err := st.Compact(next - 1); err != nil { // lets old segments go
			b.Fatal(err)
		}
	}
}
