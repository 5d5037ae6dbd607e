package wal

import (
	"errors"
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
	img := fs.Crash(func(name string, unsynced int) int {
		calls = append(calls, name)
		if unsynced != 5 {
			t.Errorf("unsynced of %s = %d, want 5", name, unsynced)
		}
		return 2
	})
	if !reflect.DeepEqual(calls, []string{"d/a"}) {
		t.Fatalf("keep called for %v", calls)
	}
	if got := readAll(t, img, "d/a"); got != "synced-t" {
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
