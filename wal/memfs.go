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

// ErrIO is a latent sector error: a read of a damaged sector answers it.
var ErrIO = errors.New("memfs: input/output error (EIO)")

// ErrDropPages, wrapped by an error a fault hook returns for "sync", makes the
// failing fsync also drop the file's dirty pages, as Linux does after writeback
// fails: the bytes stay readable until a crash, a later fsync of the same
// file "succeeds" without writing them, and a crash loses them (PostgreSQL's
// fsyncgate).
var ErrDropPages = errors.New("memfs: fsync EIO, dirty pages dropped")

// SectorBytes is the unit a crash keeps or loses.
const SectorBytes = 4096

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
//   - A crash keeps any subset of the unsynced 4 KiB sectors (Crash's keep
//     decides); a lost sector below a kept one reads as zeroes, as an unwritten
//     extent does.
//   - With SetDeferSync(true), Sync and SyncDir return at once but only take
//     effect when the host calls CompleteSync, oldest first: the simulated
//     time an fsync takes. A crash while syncs are in flight also undoes every
//     write issued after the oldest of them, since the real process was still
//     blocked in that fsync and never issued them.
//   - Faults of the platter, for the simulator: FlipBit (bit rot), MarkBad (a
//     latent sector error: reads answer ErrIO), Misdirect (the next write lands
//     on the disk at another offset or file; the page cache hides it until a
//     crash), and sync faults wrapping ErrDropPages.
//
// MemFS is not safe for concurrent use: the simulator drives it from one goroutine.
type MemFS struct {
	dirs    map[string]bool
	live    map[string]*memInode // full path → file
	durable map[string]*memInode // full path → file, as of the last SyncDir of its dir
	fault   func(op, name string) error

	deferSync bool
	inflight  []pendingSync // issued, not completed, oldest first
	undo      []undoWrite   // writes issued while a sync was in flight
	misdirect *misdirectPlan
}

type memInode struct {
	data   []byte
	synced int // data[:synced] survives a crash (but see dropped)
	// dropped are byte ranges below synced whose pages a failed fsync
	// dropped: readable now, zeroes after a crash.
	dropped [][2]int
	// bad holds sectors that answer ErrIO when read.
	bad map[int]bool
	// astray are misdirected writes: on the platter they are missing here
	// and land elsewhere; applied by Crash.
	astray []strayWrite
}

type pendingSync struct {
	ino     *memInode // file sync; nil for a directory sync
	size    int
	dir     string
	entries map[string]*memInode // dir sync: the live entries at issue time
	undoAt  int                  // len(undo) when issued
}

type undoWrite struct {
	ino     *memInode
	prevLen int
}

type strayWrite struct {
	from, to  int       // where the bytes should have gone
	target    *memInode // where they went instead
	targetOff int
	data      []byte
}

type misdirectPlan struct {
	target string // "" : the same file
	back   int    // bytes before the intended offset (same file)
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
// entry, each file holding its synced bytes plus the unsynced sectors keep
// chooses. keep is called for every sector holding unsynced bytes, in sorted
// name order then ascending sector, so a seeded caller is deterministic; nil
// keeps none. Writes issued after the oldest in-flight sync are undone first,
// dropped pages read as zeroes and misdirected writes land where they went.
// The receiver is left unchanged; the new MemFS has no fault hook.
func (m *MemFS) Crash(keep func(name string, sector int) bool) *MemFS {
	n := NewMemFS()
	for d := range m.dirs {
		n.dirs[d] = true
	}
	names := make([]string, 0, len(m.durable))
	for name := range m.durable {
		names = append(names, name)
	}
	sort.Strings(names)
	// The length each file had when the oldest in-flight sync was issued.
	cut := map[*memInode]int{}
	if len(m.inflight) > 0 {
		for _, u := range m.undo[m.inflight[0].undoAt:] {
			if c, ok := cut[u.ino]; !ok || u.prevLen < c {
				cut[u.ino] = u.prevLen
			}
		}
	}
	// Two names may share an inode only through a hard link, which MemFS lacks,
	// so copying per name is exact.
	images := map[*memInode]*memInode{}
	sizes := map[*memInode]int{}
	for _, name := range names {
		ino := m.durable[name]
		size := len(ino.data)
		if c, ok := cut[ino]; ok {
			size = c
		}
		sizes[ino] = size
		synced := min(ino.synced, size)
		data := append([]byte(nil), ino.data[:size]...)
		end := synced
		for sec := synced / SectorBytes; sec*SectorBytes < size; sec++ {
			lo, hi := max(sec*SectorBytes, synced), min((sec+1)*SectorBytes, size)
			if lo >= hi {
				continue
			}
			if keep != nil && keep(name, sec) {
				end = hi
			} else {
				clear(data[lo:hi])
			}
		}
		data = data[:end]
		for _, d := range ino.dropped {
			if d[0] < len(data) {
				clear(data[d[0]:min(d[1], len(data))])
			}
		}
		c := &memInode{data: data, synced: len(data)}
		if len(ino.bad) > 0 {
			c.bad = map[int]bool{}
			for k := range ino.bad {
				c.bad[k] = true
			}
		}
		images[ino] = c
		n.live[name] = c
		n.durable[name] = c
	}
	// Misdirected writes, in name order: the intended bytes are missing, the
	// target's bytes are overwritten (within what the image holds).
	for _, name := range names {
		ino := m.durable[name]
		for _, sw := range ino.astray {
			if sw.from >= sizes[ino] {
				continue // the write was undone: it never happened
			}
			c := images[ino]
			if sw.from < len(c.data) {
				clear(c.data[sw.from:min(sw.to, len(c.data))])
			}
			if t := images[sw.target]; t != nil && sw.targetOff < len(t.data) {
				copy(t.data[sw.targetOff:], sw.data)
			}
		}
	}
	return n
}

// SetDeferSync makes Sync and SyncDir take effect only at CompleteSync (true),
// or at once (false, the default; switching to false completes what is in flight).
func (m *MemFS) SetDeferSync(on bool) {
	if !on {
		for len(m.inflight) > 0 {
			m.CompleteSync()
		}
	}
	m.deferSync = on
}

// InFlight reports how many syncs were issued and not yet completed.
func (m *MemFS) InFlight() int { return len(m.inflight) }

// CompleteSync completes the oldest in-flight sync; false if none was in flight.
func (m *MemFS) CompleteSync() bool {
	if len(m.inflight) == 0 {
		return false
	}
	p := m.inflight[0]
	m.inflight = m.inflight[1:]
	if p.ino != nil {
		p.ino.synced = max(p.ino.synced, min(p.size, len(p.ino.data)))
	} else {
		m.applySyncDir(p.dir, p.entries)
	}
	if len(m.inflight) == 0 {
		m.inflight, m.undo = nil, m.undo[:0]
	}
	return true
}

// FlipBit flips bits of the byte at off of a file, on the platter and in the
// page cache alike (bit rot found when the node restarts).
func (m *MemFS) FlipBit(name string, off int64, mask byte) error { return m.Corrupt(name, off, mask) }

// MarkBad makes the sector holding off of a file answer ErrIO on every read.
func (m *MemFS) MarkBad(name string, off int64) error {
	ino, ok := m.live[clean(name)]
	if !ok {
		return fmt.Errorf("memfs: mark bad %s: %w", name, ErrNotExist)
	}
	if ino.bad == nil {
		ino.bad = map[int]bool{}
	}
	ino.bad[int(off/SectorBytes)] = true
	return nil
}

// Misdirect makes the next write of any file land on the platter somewhere
// else: back bytes before its intended offset in the same file (target ""),
// or at the same offset of target. The page cache still serves the intended
// bytes until a crash.
func (m *MemFS) Misdirect(target string, back int) {
	m.misdirect = &misdirectPlan{target: clean(target), back: back}
	if target == "" {
		m.misdirect.target = ""
	}
}

// SyncedSize reports how many of a live file's leading bytes a crash keeps for
// sure (dropped pages aside): for a fault injector aiming at synced data.
func (m *MemFS) SyncedSize(name string) int {
	ino, ok := m.live[clean(name)]
	if !ok {
		return 0
	}
	return ino.synced
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
	entries := map[string]*memInode{}
	for name, ino := range m.live {
		if path.Dir(name) == dir {
			entries[name] = ino
		}
	}
	if m.deferSync {
		m.inflight = append(m.inflight, pendingSync{dir: dir, entries: entries, undoAt: len(m.undo)})
		return nil
	}
	m.applySyncDir(dir, entries)
	return nil
}

func (m *MemFS) applySyncDir(dir string, entries map[string]*memInode) {
	for name := range m.durable {
		if path.Dir(name) == dir {
			delete(m.durable, name)
		}
	}
	for name, ino := range entries {
		m.durable[name] = ino
	}
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
	if len(f.ino.bad) > 0 && len(p) > 0 {
		last := min(off+int64(len(p)), int64(len(f.ino.data))) - 1
		for sec := off / SectorBytes; sec <= last/SectorBytes; sec++ {
			if f.ino.bad[int(sec)] {
				return 0, fmt.Errorf("memfs: read %s at %d: sector %d: %w", f.name, off, sec, ErrIO)
			}
		}
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
	if len(f.fs.inflight) > 0 {
		f.fs.undo = append(f.fs.undo, undoWrite{ino: f.ino, prevLen: len(f.ino.data)})
	}
	if md := f.fs.misdirect; md != nil && len(p) > 0 {
		f.fs.misdirect = nil
		sw := strayWrite{from: len(f.ino.data), to: len(f.ino.data) + len(p), target: f.ino,
			targetOff: max(0, len(f.ino.data)-md.back), data: append([]byte(nil), p...)}
		if md.target != "" {
			if t, ok := f.fs.live[md.target]; ok {
				sw.target, sw.targetOff = t, len(f.ino.data)
			}
		}
		f.ino.astray = append(f.ino.astray, sw)
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
		if errors.Is(err, ErrDropPages) && f.ino.synced < len(f.ino.data) {
			// Writeback failed; the kernel marks the pages clean anyway.
			f.ino.dropped = append(f.ino.dropped, [2]int{f.ino.synced, len(f.ino.data)})
			f.ino.synced = len(f.ino.data)
		}
		return err
	}
	if f.fs.deferSync {
		f.fs.inflight = append(f.fs.inflight, pendingSync{ino: f.ino, size: len(f.ino.data), undoAt: len(f.fs.undo)})
		return nil
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
	var dropped [][2]int
	for _, d := range f.ino.dropped {
		if d[0] < int(size) {
			dropped = append(dropped, [2]int{d[0], min(d[1], int(size))})
		}
	}
	f.ino.dropped = dropped
	var astray []strayWrite
	for _, sw := range f.ino.astray {
		if sw.from < int(size) {
			astray = append(astray, sw)
		}
	}
	f.ino.astray = astray
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
