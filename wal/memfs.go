package wal

import (
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
)

// ErrNotExist is returned by MemFS for a missing file.
var ErrNotExist = errors.New("wal: file does not exist")

// MemFS is a deterministic in-memory FS that remembers what a crash would keep.
//
// The model, kept deliberately simple:
//   - A file's bytes are split into a synced prefix and an unsynced tail. Write
//     appends to the tail; Sync makes the whole file synced.
//   - Truncate takes effect immediately, durably: the synced prefix shrinks with
//     the file (the log always syncs right after truncating anyway).
//   - Each directory has a live view (name → file) and a durable view. Create,
//     Rename and Remove change only the live view; SyncDir(dir) copies the live
//     view of dir to its durable view. A crash keeps the durable view, so a file
//     created but never dir-synced vanishes, a removed one comes back, and a rename
//     is undone.
//   - Directories themselves (MkdirAll) are durable at once.
//   - A failed write (see SetFault) writes nothing.
//
// MemFS is not safe for concurrent use: the simulator drives it from one goroutine.
type MemFS struct {
	dirs    map[string]bool
	live    map[string]*memInode // full path → file
	durable map[string]*memInode // full path → file, as of the last SyncDir of its dir
	fault   func(op, name string) error
}

type memInode struct {
	data   []byte
	synced int // data[:synced] survives a crash
}

// NewMemFS returns an empty MemFS whose root directory "." and "/" exist.
func NewMemFS() *MemFS {
	return &MemFS{
		dirs:    map[string]bool{".": true, "/": true},
		live:    map[string]*memInode{},
		durable: map[string]*memInode{},
	}
}

// SetFault installs a hook consulted before every mutating operation; op is one
// of "write", "sync", "truncate", "create", "remove", "rename", "syncdir" and name
// the file (or directory for "syncdir", old name for "rename"). A non-nil error
// fails the operation, which then changes nothing (a failed write writes no
// byte). nil removes the hook.
func (m *MemFS) SetFault(f func(op, name string) error) { m.fault = f }

func (m *MemFS) check(op, name string) error {
	if m.fault == nil {
		return nil
	}
	if err := m.fault(op, name); err != nil {
		return fmt.Errorf("memfs: %s %s: %w", op, name, err)
	}
	return nil
}

// Crash returns the disk image a crash would leave now: every durable directory
// entry, each file holding its synced bytes plus keep(name, unsynced) bytes of its
// unsynced tail (keep's result is clamped to 0..unsynced). keep is called once per
// surviving file with unsynced bytes, in sorted name order, so a seeded caller is
// deterministic. The receiver is left unchanged; the new MemFS has no fault hook.
func (m *MemFS) Crash(keep func(name string, unsynced int) int) *MemFS {
	n := NewMemFS()
	for d := range m.dirs {
		n.dirs[d] = true
	}
	names := make([]string, 0, len(m.durable))
	for name := range m.durable {
		names = append(names, name)
	}
	sort.Strings(names)
	// Two names may share an inode only through a hard link, which MemFS lacks,
	// so copying per name is exact.
	for _, name := range names {
		ino := m.durable[name]
		size := ino.synced
		if unsynced := len(ino.data) - ino.synced; unsynced > 0 && keep != nil {
			k := keep(name, unsynced)
			k = max(0, min(k, unsynced))
			size += k
		}
		c := &memInode{data: append([]byte(nil), ino.data[:size]...), synced: size}
		n.live[name] = c
		n.durable[name] = c
	}
	return n
}

func clean(name string) string { return path.Clean(name) }

func (m *MemFS) dirOf(name string) (string, error) {
	d := path.Dir(name)
	if !m.dirs[d] {
		return "", fmt.Errorf("memfs: %s: directory %s: %w", name, d, ErrNotExist)
	}
	return d, nil
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	name = clean(name)
	if _, err := m.dirOf(name); err != nil {
		return nil, err
	}
	if err := m.check("create", name); err != nil {
		return nil, err
	}
	// A fresh inode, as O_TRUNC on a real disk would not resurrect old bytes
	// in the new file; the old inode stays reachable from the durable view.
	ino := &memInode{}
	m.live[name] = ino
	return &memFile{fs: m, name: name, ino: ino}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) {
	name = clean(name)
	ino, ok := m.live[name]
	if !ok {
		return nil, fmt.Errorf("memfs: open %s: %w", name, ErrNotExist)
	}
	return &memFile{fs: m, name: name, ino: ino}, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	name = clean(name)
	if _, ok := m.live[name]; !ok {
		return fmt.Errorf("memfs: remove %s: %w", name, ErrNotExist)
	}
	if err := m.check("remove", name); err != nil {
		return err
	}
	delete(m.live, name)
	return nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	oldname, newname = clean(oldname), clean(newname)
	ino, ok := m.live[oldname]
	if !ok {
		return fmt.Errorf("memfs: rename %s: %w", oldname, ErrNotExist)
	}
	if _, err := m.dirOf(newname); err != nil {
		return err
	}
	if err := m.check("rename", oldname); err != nil {
		return err
	}
	delete(m.live, oldname)
	m.live[newname] = ino
	return nil
}

// List implements FS: the base names of the files directly in dir, sorted.
func (m *MemFS) List(dir string) ([]string, error) {
	dir = clean(dir)
	if !m.dirs[dir] {
		return nil, fmt.Errorf("memfs: list %s: %w", dir, ErrNotExist)
	}
	var out []string
	for name := range m.live {
		if path.Dir(name) == dir {
			out = append(out, path.Base(name))
		}
	}
	sort.Strings(out)
	return out, nil
}

// MkdirAll implements FS. Directories are durable at once.
func (m *MemFS) MkdirAll(dir string) error {
	dir = clean(dir)
	for d := dir; !m.dirs[d]; d = path.Dir(d) {
		if _, ok := m.live[d]; ok {
			return fmt.Errorf("memfs: mkdir %s: %s is a file", dir, d)
		}
		m.dirs[d] = true
	}
	return nil
}

// SyncDir implements FS: the live entries of dir become its durable entries.
func (m *MemFS) SyncDir(dir string) error {
	dir = clean(dir)
	if !m.dirs[dir] {
		return fmt.Errorf("memfs: syncdir %s: %w", dir, ErrNotExist)
	}
	if err := m.check("syncdir", dir); err != nil {
		return err
	}
	for name := range m.durable {
		if path.Dir(name) == dir {
			delete(m.durable, name)
		}
	}
	for name, ino := range m.live {
		if path.Dir(name) == dir {
			m.durable[name] = ino
		}
	}
	return nil
}

// Files returns the live file names (full paths), sorted; for tests and the
// simulator's trace.
func (m *MemFS) Files() []string {
	var out []string
	for name := range m.live {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Unsynced reports a live file's size and how many of its bytes are not yet synced.
func (m *MemFS) Unsynced(name string) (size, unsynced int, ok bool) {
	ino, ok := m.live[clean(name)]
	if !ok {
		return 0, 0, false
	}
	return len(ino.data), len(ino.data) - ino.synced, true
}

// Corrupt flips bits of the byte at off in a live file (synced or not), for tests
// and fault injection that model bit rot.
func (m *MemFS) Corrupt(name string, off int64, mask byte) error {
	ino, ok := m.live[clean(name)]
	if !ok {
		return fmt.Errorf("memfs: corrupt %s: %w", name, ErrNotExist)
	}
	if off < 0 || off >= int64(len(ino.data)) {
		return fmt.Errorf("memfs: corrupt %s: offset %d outside [0,%d)", name, off, len(ino.data))
	}
	ino.data[off] ^= mask
	return nil
}

type memFile struct {
	fs     *MemFS
	name   string
	ino    *memInode
	closed bool
}

var errClosed = errors.New("memfs: file already closed")

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, errClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("memfs: read %s: negative offset", f.name)
	}
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.closed {
		return 0, errClosed
	}
	if err := f.fs.check("write", f.name); err != nil {
		return 0, err
	}
	if need := len(f.ino.data) + len(p); need > cap(f.ino.data) {
		// Double explicitly: append's gentler growth for large slices makes
		// a big segment cost a copy of itself every few writes.
		grown := make([]byte, len(f.ino.data), max(need, 2*cap(f.ino.data)))
		copy(grown, f.ino.data)
		f.ino.data = grown
	}
	f.ino.data = append(f.ino.data, p...)
	return len(p), nil
}

func (f *memFile) Sync() error {
	if f.closed {
		return errClosed
	}
	if err := f.fs.check("sync", f.name); err != nil {
		return err
	}
	f.ino.synced = len(f.ino.data)
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if f.closed {
		return errClosed
	}
	if size < 0 || size > int64(len(f.ino.data)) {
		return fmt.Errorf("memfs: truncate %s to %d: only shrinking is supported (size %d)", f.name, size, len(f.ino.data))
	}
	if err := f.fs.check("truncate", f.name); err != nil {
		return err
	}
	// Clear the cut bytes so a later append cannot expose stale data through
	// a shared backing array.
	f.ino.data = append([]byte(nil), f.ino.data[:size]...)
	f.ino.synced = min(f.ino.synced, int(size))
	return nil
}

func (f *memFile) Size() (int64, error) {
	if f.closed {
		return 0, errClosed
	}
	return int64(len(f.ino.data)), nil
}

func (f *memFile) Close() error {
	if f.closed {
		return errClosed
	}
	f.closed = true
	return nil
}
