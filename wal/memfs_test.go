package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
)

func readAll(t *testing.T, fs FS, name string) string {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := f.Size()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return string(b)
}

func TestMemFSCrash(t *testing.T) {
	fs := NewMemFS()
	if err := fs.MkdirAll("d"); err != nil {
		t.Fatal(err)
	}
	a, _ := fs.Create("d/a")
	_, _ = a.Write([]byte("synced"))
	_ = a.Sync()
	_ = fs.SyncDir("d")
	_, _ = a.Write([]byte("-tail"))

	b, _ := fs.Create("d/b") // never dir-synced
	_, _ = b.Write([]byte("lost"))
	_ = b.Sync()

	var calls []string
	img := fs.Crash(func(name string, sector int) bool {
		calls = append(calls, fmt.Sprintf("%s:%d", name, sector))
		return true
	})
	if !reflect.DeepEqual(calls, []string{"d/a:0"}) {
		t.Fatalf("keep called for %v", calls)
	}
	if got := readAll(t, img, "d/a"); got != "synced-tail" {
		t.Fatalf("d/a after crash = %q", got)
	}
	if _, err := img.Open("d/b"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("d/b survived without SyncDir: %v", err)
	}
	if got := readAll(t, fs.Crash(nil), "d/a"); got != "synced" {
		t.Fatalf("nil keep: %q", got)
	}

	// Remove and rename are undone by a crash unless the directory is synced.
	_ = fs.Remove("d/a")
	_ = fs.Rename("d/b", "d/c")
	img = fs.Crash(nil)
	if names, _ := img.List("d"); !reflect.DeepEqual(names, []string{"a"}) {
		t.Fatalf("after unsynced remove+rename: %v", names)
	}
	_ = fs.SyncDir("d")
	img = fs.Crash(nil)
	if names, _ := img.List("d"); !reflect.DeepEqual(names, []string{"c"}) {
		t.Fatalf("after synced remove+rename: %v", names)
	}
	if got := readAll(t, img, "d/c"); got != "lost" {
		t.Fatalf("renamed file: %q", got)
	}
}

func TestMemFSFault(t *testing.T) {
	fs := NewMemFS()
	f, _ := fs.Create("x")
	boom := errors.New("boom")
	fs.SetFault(func(op, name string) error {
		if op == "write" && name == "x" {
			return boom
		}
		return nil
	})
	if _, err := f.Write([]byte("abc")); !errors.Is(err, boom) {
		t.Fatalf("write: %v", err)
	}
	if n, _ := f.Size(); n != 0 {
		t.Fatalf("a failed write wrote %d bytes", n)
	}
	fs.SetFault(nil)
	if _, err := f.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, fs, "x"); got != "a" {
		t.Fatalf("after truncate %q", got)
	}
}

// A crash keeps any subset of the unsynced sectors: a lost one below a kept
// one reads as zeroes, lost ones at the end shorten the file.
func TestMemFSCrashSectorSubset(t *testing.T) {
	fs := NewMemFS()
	f, _ := fs.Create("a")
	_ = fs.SyncDir(".")
	_, _ = f.Write(bytes.Repeat([]byte{1}, 100))
	_ = f.Sync()
	_, _ = f.Write(bytes.Repeat([]byte{2}, 3*SectorBytes))
	var seen []int
	img := fs.Crash(func(_ string, sector int) bool {
		seen = append(seen, sector)
		return sector == 2 // sector 0 (partly synced) and 1 lost, 2 kept, 3 lost
	})
	if !reflect.DeepEqual(seen, []int{0, 1, 2, 3}) {
		t.Fatalf("keep asked about sectors %v", seen)
	}
	got := []byte(readAll(t, img, "a"))
	want := append(bytes.Repeat([]byte{1}, 100), make([]byte, 2*SectorBytes-100)...)
	want = append(want, bytes.Repeat([]byte{2}, SectorBytes)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("image of %d bytes, want %d: synced prefix, zeroed lost sectors, kept sector 2", len(got), len(want))
	}
}

// With deferred syncs, a crash before CompleteSync finds the bytes unsynced,
// and writes issued after the in-flight sync never happened.
func TestMemFSDeferredSync(t *testing.T) {
	fs := NewMemFS()
	f, _ := fs.Create("a")
	_ = fs.SyncDir(".")
	fs.SetDeferSync(true)
	_, _ = f.Write([]byte("one"))
	_ = f.Sync()
	_, _ = f.Write([]byte("two")) // issued while the sync is in flight
	if fs.InFlight() != 1 {
		t.Fatalf("in flight %d", fs.InFlight())
	}
	all := func(string, int) bool { return true }
	if got := readAll(t, fs.Crash(all), "a"); got != "one" {
		t.Fatalf("crash during the sync kept %q, want only what was written before it", got)
	}
	if got := readAll(t, fs.Crash(nil), "a"); got != "" {
		t.Fatalf("crash during the sync, nothing kept: %q", got)
	}
	fs.CompleteSync()
	if got := readAll(t, fs.Crash(nil), "a"); got != "one" {
		t.Fatalf("after CompleteSync: %q", got)
	}
	// A directory sync in flight does not make a create durable yet.
	g, _ := fs.Create("b")
	_ = fs.SyncDir(".")
	_, _ = g.Write([]byte("x"))
	if _, err := fs.Crash(all).Open("b"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("create survived a crash during its directory sync: %v", err)
	}
	fs.CompleteSync()
	if _, err := fs.Crash(all).Open("b"); err != nil {
		t.Fatal(err)
	}
}

// fsyncgate: a failed fsync drops the dirty pages; the next fsync succeeds,
// the bytes read back fine until a crash, which loses them.
func TestMemFSSyncDropsPages(t *testing.T) {
	fs := NewMemFS()
	f, _ := fs.Create("a")
	_ = fs.SyncDir(".")
	_, _ = f.Write([]byte("aaaa"))
	fs.SetFault(func(op, _ string) error {
		if op == "sync" {
			return fmt.Errorf("eio: %w", ErrDropPages)
		}
		return nil
	})
	if err := f.Sync(); !errors.Is(err, ErrDropPages) {
		t.Fatalf("sync: %v", err)
	}
	fs.SetFault(nil)
	_, _ = f.Write([]byte("bbbb"))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, fs, "a"); got != "aaaabbbb" {
		t.Fatalf("page cache: %q", got)
	}
	if got := readAll(t, fs.Crash(nil), "a"); got != "\x00\x00\x00\x00bbbb" {
		t.Fatalf("after crash: %q", got)
	}
}

func TestMemFSMisdirectAndBadSector(t *testing.T) {
	fs := NewMemFS()
	f, _ := fs.Create("a")
	_ = fs.SyncDir(".")
	_, _ = f.Write([]byte("0123456789"))
	fs.Misdirect("", 10)
	_, _ = f.Write([]byte("ab"))
	_ = f.Sync()
	if got := readAll(t, fs, "a"); got != "0123456789ab" {
		t.Fatalf("page cache: %q", got)
	}
	img := fs.Crash(nil)
	if got := readAll(t, img, "a"); got != "ab23456789\x00\x00" {
		t.Fatalf("after crash: %q", got)
	}
	if err := img.MarkBad("a", 5); err != nil {
		t.Fatal(err)
	}
	g, _ := img.Open("a")
	if _, err := g.ReadAt(make([]byte, 2), 0); !errors.Is(err, ErrIO) {
		t.Fatalf("read of a bad sector: %v", err)
	}
}
