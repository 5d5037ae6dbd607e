package wal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3"
)

// Options tune a Log. The zero value is usable.
type Options struct {
	// SegmentBytes: Sync rolls to a new segment once the active one is at least
	// this big; default 64 MiB. A segment can exceed it by what one Sync writes.
	SegmentBytes int64
	// BufferBytes: once this many bytes of records are pending, Save writes them to
	// the active segment (without fsync) so memory stays bounded; default 8 MiB.
	// Normally a whole event-loop iteration fits and Sync issues a single Write.
	BufferBytes int
	// CacheBytes bounds each group's cache of recent entries (raft re-reads the tail
	// constantly to replicate); default 1 MiB. At most cacheEntriesMax entries are kept.
	CacheBytes int
	// Verify makes Open replay and check every segment, ignoring the sealed
	// segments' indexes: the full check to run after a node stopped on
	// damage found when reading an entry (which Open alone, trusting the
	// indexes, would not see again).
	Verify bool

	// Bug plants one of the log's known bugs (Bugs) for the simulator to
	// catch; "" in production.
	Bug string
}

// Planted bugs of the log (see BUGZOO.md, "Persistence and ordering").
const (
	// BugFsyncRetry: on fsync EIO the log retries and treats the next success
	// as durable (PostgreSQL's fsyncgate; KAFKA-10778), though the kernel
	// dropped the dirty pages the failed fsync was to write.
	BugFsyncRetry = "fsync-retry"
	// BugTruncateOnCorruption: any checksum failure is taken for a torn tail:
	// the log is cut there and the node rejoins as a voter (NATS #7549).
	BugTruncateOnCorruption = "truncate-on-corruption"
	// BugCommitUnclamped (node.BugSnapshotCommitUnclamped): recovery keeps
	// the commit index of the last hard state as found, even below the
	// snapshot a later record installed, so raft.NewRawNode panics on that
	// log (etcd-io/etcd#7477).
	BugCommitUnclamped = "snapshot-commit-unclamped"
	// BugTruncateToHW (node.BugTruncateToHW). Source: Kafka KIP-101. On
	// restart every group's log is cut to the commit index of its last hard
	// state (Kafka's high watermark checkpoint), dropping entries the replica
	// had made durable and acknowledged to its leader, which may count them in
	// the quorum that committed them.
	BugTruncateToHW = "truncate-to-hw"
	// BugNoDirSync (node.BugNoDirSync). Source: KAFKA-3968. A segment
	// created by a roll is not made durable in its directory (no fsync of the
	// directory after the create), so a power loss after the roll loses the
	// whole new segment, synced records and all, though every fsync of the
	// file succeeded. The segment Open creates keeps its directory sync.
	BugNoDirSync = "no-dir-sync"
)

// PlantsBug reports whether bug is one of the log's, so a host passes a
// node's planted bug on to the log it opens.
func PlantsBug(bug string) bool {
	return bug == BugFsyncRetry || bug == BugTruncateOnCorruption || bug == BugCommitUnclamped ||
		bug == BugTruncateToHW || bug == BugNoDirSync
}

const (
	segmentBytesDefault = 64 << 20
	bufferBytesDefault  = 8 << 20
	cacheBytesDefault   = 1 << 20
	cacheEntriesMax     = 4096
	readSpanBytesMax    = 4 << 20 // one ReadAt of consecutive entries in Entries
	segmentSuffix       = ".wal"
	sectorBytes         = SectorBytes // the unit a crash keeps or loses
)

// ErrClosed is returned by every call on a closed Log.
var ErrClosed = errors.New("wal: log closed")

// Log is one node's write-ahead log shared by all raft groups.
//
// Records of every group are appended to one sequence of segment files named
// %016x.wal. Saves only encode into a buffer; Sync writes the buffer and fsyncs
// once, which is what makes one fsync per event-loop iteration cover every group.
// Each segment created by a roll starts with a checkpoint of every group
// (snapshot, compaction point, hard state), so an old segment can be deleted as
// soon as every entry in it is compacted: nothing else lives only there.
//
// A Log is not safe for concurrent use.
type Log struct {
	fs     FS
	dir    string
	opts   Options
	segs   []*segment // oldest first; the last one is active
	buf    []byte     // records not yet written to the active segment
	dirty  bool       // bytes written to the active segment since its last fsync
	groups map[uint64]*Storage
	err    error // sticky: set by the first failed write/sync
	closed bool
	// batchStart is where, in the active segment, the bytes written since
	// the last completed fsync begin: every record carries it (see doc.go).
	batchStart int64
	// rolling: a roll is writing its head checkpoint (a roll nested in it
	// moves nothing: cleaner.go).
	rolling bool
}

type segment struct {
	seq  uint64
	name string // full path
	f    File
	size int64 // bytes in f (written, not necessarily synced)
	// maxIndex is, per group, the highest entry index ever written here (truncated
	// entries included: over-estimating only delays deletion).
	maxIndex map[uint64]uint64
	// idx is the segment's index being built (index.go), nil when the
	// segment has one on disk or was loaded from it; idxLast and idxLastHdr
	// are the offset and header of the last record noted.
	idx        []byte
	idxLast    int64
	idxLastHdr [headerBytes]byte
	// indexed: Open took this segment from its index, without reading its data.
	indexed bool
}

func segName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segmentSuffix) }

func parseSegName(name string) (uint64, bool) {
	if len(name) != 16+len(segmentSuffix) || !strings.HasSuffix(name, segmentSuffix) {
		return 0, false
	}
	seq, err := strconv.ParseUint(name[:16], 16, 64)
	return seq, err == nil
}

// Open recovers the log in dir (creating dir if missing). It takes each sealed
// segment from its index when that is good (index.go; with opts.Verify never)
// and replays the others in order, truncating a torn tail of the last segment
// (an incomplete record, a record failing its checksum with only zeroes or
// nothing after it, or trailing zeroes), and refuses damage anywhere else it
// reads with an error wrapping ErrCorrupt that names the file and offset. It
// then starts a fresh segment headed by a checkpoint of every group, so a
// half-written segment left by a crash never becomes the head of the log.
func Open(fs FS, dir string, opts Options) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = segmentBytesDefault
	}
	opts.SegmentBytes = min(opts.SegmentBytes, segmentBytesMax)
	if opts.BufferBytes <= 0 {
		opts.BufferBytes = bufferBytesDefault
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = cacheBytesDefault
	}
	if err := fs.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	l := &Log{fs: fs, dir: dir, opts: opts, groups: map[uint64]*Storage{}}
	var segNames []string
	var seqs []uint64
	live := map[uint64]bool{}
	for _, name := range names {
		if seq, ok := parseSegName(name); ok {
			segNames = append(segNames, name)
			seqs = append(seqs, seq)
			live[seq] = true
		}
	}
	for _, name := range names {
		// An index whose segment is gone is garbage (left by a crash
		// between the two removes).
		if seq, ok := parseIndexName(name); ok && !live[seq] {
			if err := fs.Remove(path.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("wal: open %s: %w", dir, err)
			}
		}
	}
	for i, name := range segNames {
		full := path.Join(dir, name)
		f, err := fs.Open(full)
		if err != nil {
			l.closeFiles()
			return nil, fmt.Errorf("wal: open %s: %w", full, err)
		}
		seg := &segment{seq: seqs[i], name: full, f: f, maxIndex: map[uint64]uint64{}}
		l.segs = append(l.segs, seg)
		last := i == len(segNames)-1
		// A sealed segment is taken from its index when it has a good one;
		// the last one is always replayed (its tail may be torn).
		if !last && !opts.Verify {
			if seg.size, err = f.Size(); err != nil {
				l.closeFiles()
				return nil, fmt.Errorf("wal: size of %s: %w", full, err)
			}
			ok, err := l.loadIndex(seg)
			if err != nil {
				l.closeFiles()
				return nil, err
			}
			if ok {
				continue
			}
		}
		seg.idx = []byte{}
		cut, err := l.replay(seg, last)
		if err != nil {
			l.closeFiles()
			return nil, err
		}
		if !last && !cut && !opts.Verify {
			// Replayed for want of a good index: write one, so the next
			// Open need not read this segment again.
			if err := l.writeIndex(seg, true); err != nil {
				l.closeFiles()
				return nil, err
			}
		}
		if !last && opts.Verify {
			seg.idx = nil // Verify leaves the indexes on disk as they are
		}
		if cut && i < len(segNames)-1 {
			// Planted (BugTruncateOnCorruption): the log ends where the
			// damage was; later segments go.
			for k, later := range segNames[i+1:] {
				if err := fs.Remove(path.Join(dir, later)); err != nil {
					l.closeFiles()
					return nil, fmt.Errorf("wal: open %s: %w", dir, err)
				}
				_ = fs.Remove(path.Join(dir, indexName(seqs[i+1+k]))) // may not exist
			}
			break
		}
	}
	for _, g := range l.sortedGroups() {
		s := l.groups[g]
		if s.snapRef != nil {
			if err := l.loadSnapRef(s); err != nil {
				l.closeFiles()
				return nil, err
			}
		}
		if s.ckptRef != nil {
			if err := l.loadCkptRef(s); err != nil {
				l.closeFiles()
				return nil, err
			}
		}
		if s.gapTop != 0 {
			l.closeFiles()
			return nil, fmt.Errorf("%w: group %d: entries up to %d are missing (a segment was lost)", ErrCorrupt, g, s.gapTop)
		}
		if opts.Bug != BugCommitUnclamped {
			if err := s.clampCommit(); err != nil {
				l.closeFiles()
				return nil, err
			}
		}
		if opts.Bug == BugTruncateToHW && !raft.IsEmptyHardState(&s.hs) {
			// Planted (KIP-101): the log is cut to the last known commit,
			// though the entries after it were synced and acknowledged.
			if c := s.hs.GetCommit(); c >= s.offset {
				s.truncateFrom(c + 1)
			}
		}
	}
	if err := l.roll(true); err != nil {
		l.closeFiles()
		return nil, err
	}
	if err := l.deleteOld(); err != nil {
		l.closeFiles()
		return nil, err
	}
	return l, nil
}

func (l *Log) closeFiles() {
	for _, s := range l.segs {
		_ = s.f.Close() // best effort: the caller already has the real error
	}
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// usable returns the error that must stop any further write.
func (l *Log) usable() error {
	if l.closed {
		return ErrClosed
	}
	return l.err
}

func (l *Log) fail(err error) error {
	if l.err == nil {
		l.err = fmt.Errorf("wal: log failed, the node must stop: %w", err)
	}
	return l.err
}

// Groups returns the groups with any persisted state, sorted.
func (l *Log) Groups() []uint64 {
	var out []uint64
	for _, g := range l.sortedGroups() {
		if l.groups[g].persisted {
			out = append(out, g)
		}
	}
	return out
}

func (l *Log) sortedGroups() []uint64 {
	out := make([]uint64, 0, len(l.groups))
	for g := range l.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Storage returns the group's storage, creating an empty one if absent.
func (l *Log) Storage(group uint64) *Storage {
	s, ok := l.groups[group]
	if !ok {
		s = newStorage(l, group)
		l.groups[group] = s
	}
	return s
}

// RemoveGroup forgets a group: a tombstone record makes its entries garbage,
// and its Storage fails every later Save. Storage(group) afterwards starts afresh.
func (l *Log) RemoveGroup(group uint64) error {
	if err := l.usable(); err != nil {
		return err
	}
	s, ok := l.groups[group]
	if !ok {
		return nil
	}
	s.removed = true
	delete(l.groups, group)
	for _, seg := range l.segs {
		delete(seg.maxIndex, group)
	}
	if !s.persisted {
		return nil
	}
	_, _, err := l.appendRecord(kindRemove, group, 0, func(b []byte) []byte { return b })
	return err
}

// appendRecord buffers one record for the active segment and returns where it
// will live. It writes the buffer out (without fsync) once it passes BufferBytes.
func (l *Log) appendRecord(kind byte, group uint64, payloadBytes int, fill func([]byte) []byte) (*segment, int64, error) {
	seg := l.active()
	off := seg.size + int64(len(l.buf))
	if off+headerBytes+bodyPrefixBytes+int64(payloadBytes) > segmentOffsetMax {
		// One iteration wrote a whole segment's worth past SegmentBytes:
		// make what is buffered durable now and roll, so every offset fits
		// an entryLoc. (A sync earlier than asked for is always allowed.)
		if err := l.sync(true); err != nil {
			return nil, 0, err
		}
		seg = l.active()
		off = seg.size + int64(len(l.buf))
	}
	start := len(l.buf)
	l.buf = appendRecord(l.buf, recordPos{seg.seq, uint64(off), uint64(l.batchStart)}, kind, group, payloadBytes, fill)
	seg.note(off, l.buf[start:start+headerBytes], l.buf[start+headerBytes:])
	if len(l.buf) >= l.opts.BufferBytes {
		if err := l.flush(); err != nil {
			return nil, 0, err
		}
	}
	return seg, off, nil
}

// flush writes the buffer to the active segment without fsync.
func (l *Log) flush() error {
	if len(l.buf) == 0 {
		return nil
	}
	seg := l.active()
	n, err := seg.f.Write(l.buf)
	if err != nil || n != len(l.buf) {
		if err == nil {
			err = io.ErrShortWrite
		}
		return l.fail(fmt.Errorf("write %s: %w", seg.name, err))
	}
	seg.size += int64(n)
	l.dirty = true
	// Keep the capacity for the next iteration, but not a huge one-off buffer.
	if cap(l.buf) > 2*l.opts.BufferBytes {
		l.buf = nil
	} else {
		l.buf = l.buf[:0]
	}
	return nil
}

// Sync writes every buffered record to the active segment and fsyncs once
// (plus a directory sync when a segment was created or removed). Until Sync
// returns nil nothing appended since the last Sync is durable. After a write or
// sync error the Log is poisoned: every later write returns the error, because
// after a failed fsync the kernel may have dropped the dirty pages and carrying
// on would leave a hole.
func (l *Log) Sync() error { return l.sync(false) }

// sync is Sync, rolling to a new segment when the active one is full or
// roll says so.
func (l *Log) sync(roll bool) error {
	if err := l.usable(); err != nil {
		return err
	}
	if err := l.flush(); err != nil {
		return err
	}
	seg := l.active()
	if l.dirty {
		if err := seg.f.Sync(); err != nil {
			if l.opts.Bug != BugFsyncRetry || seg.f.Sync() != nil {
				return l.fail(fmt.Errorf("sync %s: %w", seg.name, err))
			}
			// Planted (BugFsyncRetry): the retry "succeeds", so the batch
			// is taken for durable, though its pages were dropped.
		}
		l.dirty = false
	}
	l.batchStart = seg.size
	if roll || seg.size >= l.opts.SegmentBytes {
		// Planted (BugNoDirSync): a roll's create is not synced in the directory.
		if err := l.roll(l.opts.Bug != BugNoDirSync); err != nil {
			return err
		}
	}
	return l.deleteOld()
}

// roll starts a new segment headed by a checkpoint of every group and makes it
// durable (its directory entry too, with dirSync: only the planted
// BugNoDirSync passes false). The previous active segment must already be
// synced.
func (l *Log) roll(dirSync bool) error {
	seq := uint64(1)
	var prev *segment
	if len(l.segs) > 0 {
		prev = l.active()
		seq = prev.seq + 1
	}
	name := path.Join(l.dir, segName(seq))
	f, err := l.fs.Create(name)
	if err != nil {
		return l.fail(fmt.Errorf("create %s: %w", name, err))
	}
	// Without the directory sync (planted BugNoDirSync) the file's own
	// fsyncs succeed, but a crash before some later directory sync forgets
	// the file.
	if dirSync {
		if err := l.fs.SyncDir(l.dir); err != nil {
			_ = f.Close()
			return l.fail(fmt.Errorf("sync dir %s: %w", l.dir, err))
		}
	}
	moved := l.cleanCandidates()
	l.rolling = true
	defer func() { l.rolling = false }()
	l.segs = append(l.segs, &segment{seq: seq, name: name, f: f, maxIndex: map[uint64]uint64{}, idx: []byte{}})
	l.batchStart = 0
	for _, g := range l.sortedGroups() {
		if s := l.groups[g]; s.persisted {
			if err := s.writeCheckpoint(); err != nil {
				return err
			}
		}
	}
	// After the checkpoint, so that each moved run follows its group's
	// compaction point (cleaner.go).
	for _, s := range moved {
		if err := s.writeLive(); err != nil {
			return err
		}
	}
	if err := l.flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return l.fail(fmt.Errorf("sync %s: %w", name, err))
	}
	l.dirty = false
	l.batchStart = l.active().size
	l.released(moved)
	// The previous segment is sealed, and the head checkpoint that follows
	// it is durable: its index may now stand in for it at Open.
	if prev != nil {
		if err := l.writeIndex(prev, dirSync); err != nil {
			return err
		}
	}
	return nil
}

// deleteOld removes the oldest segments whose entries are all compacted (or
// belong to removed groups). Only a prefix is removed, so the oldest remaining
// segment always starts with a checkpoint that summarises everything deleted.
func (l *Log) deleteOld() error {
	k := 0
	for k < len(l.segs)-1 && l.deletable(l.segs[k]) {
		k++
	}
	if k == 0 {
		return nil
	}
	for _, seg := range l.segs[:k] {
		_ = seg.f.Close() // read-only from here on; nothing to lose
		if err := l.fs.Remove(seg.name); err != nil {
			return l.fail(fmt.Errorf("remove %s: %w", seg.name, err))
		}
		// The index goes after its segment: a crash between the two leaves
		// an orphan index, which Open removes.
		if seg.idx == nil {
			if err := l.fs.Remove(seg.indexPath()); err != nil && !errors.Is(err, ErrNotExist) && !errors.Is(err, iofs.ErrNotExist) {
				return l.fail(fmt.Errorf("remove %s: %w", seg.indexPath(), err))
			}
		}
	}
	l.segs = append([]*segment(nil), l.segs[k:]...)
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail(fmt.Errorf("sync dir %s: %w", l.dir, err))
	}
	return nil
}

func (l *Log) deletable(seg *segment) bool {
	// Map order does not matter: the answer is a conjunction.
	for g, maxIndex := range seg.maxIndex {
		if s, ok := l.groups[g]; ok && maxIndex > s.offset {
			return false
		}
	}
	return true
}

// Segments returns the names of the live segment files, oldest first.
func (l *Log) Segments() []string {
	out := make([]string, len(l.segs))
	for i, s := range l.segs {
		out[i] = s.name
	}
	return out
}

// Close syncs what is buffered (unless the log is poisoned) and closes the files.
// The Log and its Storages must not be used afterwards.
func (l *Log) Close() error {
	if l.closed {
		return ErrClosed
	}
	err := l.Sync()
	l.closed = true
	for _, s := range l.segs {
		if cerr := s.f.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// readAt reads len(p) bytes at off of seg, from the file and, for the active
// segment, from the not yet written buffer.
func (l *Log) readAt(seg *segment, off int64, p []byte) error {
	if off < seg.size {
		n := min(int64(len(p)), seg.size-off)
		if _, err := seg.f.ReadAt(p[:n], off); err != nil {
			return fmt.Errorf("wal: read %s at %d: %w", seg.name, off, err)
		}
		p, off = p[n:], off+n
	}
	if len(p) == 0 {
		return nil
	}
	if seg != l.active() || off-seg.size+int64(len(p)) > int64(len(l.buf)) {
		return fmt.Errorf("%w: %s: read at %d past the end", ErrCorrupt, seg.name, off)
	}
	copy(p, l.buf[off-seg.size:])
	return nil
}

// replay applies every record of seg. Damage in the last segment that is a torn
// write is truncated (and reported as cut); any other damage is an error. See
// doc.go for the rule.
func (l *Log) replay(seg *segment, last bool) (bool, error) {
	size, err := seg.f.Size()
	if err != nil {
		return false, fmt.Errorf("wal: size of %s: %w", seg.name, err)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(seg.f, 0, size), 1<<20)
	var hdr [headerBytes]byte
	var body []byte
	off := int64(0)
	for off < size {
		rem := size - off
		if rem < headerBytes {
			return l.damaged(seg, last, off, size, "incomplete record header", true)
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return false, fmt.Errorf("wal: read %s at %d: %w", seg.name, off, err)
		}
		n, err := checkHeader(hdr[:])
		if err != nil {
			return l.damaged(seg, last, off, size, err.Error(), false)
		}
		end := off + headerBytes + int64(n)
		if end > size {
			return l.damaged(seg, last, off, size, fmt.Sprintf("record of %d bytes runs past the end of the file (%d)", n, size), true)
		}
		if cap(body) < n {
			body = make([]byte, n) // n <= recordBytesMax and fits in the file
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return false, fmt.Errorf("wal: read %s at %d: %w", seg.name, off, err)
		}
		if _, err := checkBody(hdr[:], body, seg.seq, uint64(off)); err != nil {
			return l.damaged(seg, last, off, size, err.Error(), false)
		}
		if err := l.apply(seg, off, int64(headerBytes+n), body); err != nil {
			return false, fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, seg.name, off, err)
		}
		seg.note(off, hdr[:], body)
		off = end
	}
	seg.size = size
	if last {
		// Bytes a crashed process wrote may still sit only in the page cache.
		if err := seg.f.Sync(); err != nil {
			return false, fmt.Errorf("wal: sync %s: %w", seg.name, err)
		}
	}
	return false, nil
}

// damaged decides about the damaged record at off of seg: a torn write is cut
// off (true), anything else is refused with an error naming the file and the
// offset. short says the record runs past the end of the file.
//
// Only the bytes written since the last completed fsync can be torn, because
// the log has one fsync in flight at a time and writes nothing more until it
// returns. So a valid record after the damage whose batch began after the
// damaged offset proves the damaged bytes were synced: corruption. Without such
// proof, a tear must also look like one: the record is cut short by the end
// of the file, or a sector of it (from off, or a whole 4 KiB sector) reads as
// zeroes, which is what an unwritten sector is; bit rot and misdirected writes
// over synced data do not zero a sector.
func (l *Log) damaged(seg *segment, last bool, off, size int64, reason string, short bool) (bool, error) {
	if l.opts.Bug == BugTruncateOnCorruption {
		// Planted: every checksum failure is taken for a torn tail.
		return true, l.truncateTail(seg, off)
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, seg.name, off, why)
	}
	if !last {
		return false, bad(reason + " (not the last segment, so no torn write)")
	}
	rest := make([]byte, size-off) // bounded by the segment's size
	if _, err := seg.f.ReadAt(rest, off); err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("wal: read %s at %d: %w", seg.name, off, err)
	}
	next, proof := scanValid(rest, seg.seq, off)
	if proof >= 0 {
		return false, bad(fmt.Sprintf("%s; the valid record at offset %d was written by a later sync batch, so the damaged bytes had been synced", reason, proof))
	}
	if !short && !zeroSector(rest[:next-off], off) {
		return false, bad(reason + " (not a torn write: no sector of it was lost)")
	}
	return true, l.truncateTail(seg, off)
}

// scanValid looks for valid records in rest, which starts at offset base of
// segment seq. It returns the offset of the first (or base+len(rest)) and that
// of the first whose sync batch began after base (or -1).
func scanValid(rest []byte, seq uint64, base int64) (next, proof int64) {
	next, proof = base+int64(len(rest)), -1
	for o := 1; o+headerBytes <= len(rest); o++ {
		n, err := checkHeader(rest[o : o+headerBytes])
		if err != nil || o+headerBytes+n > len(rest) {
			continue
		}
		batch, err := checkBody(rest[o:o+headerBytes], rest[o+headerBytes:o+headerBytes+n], seq, uint64(base)+uint64(o))
		if err != nil {
			continue
		}
		if next == base+int64(len(rest)) {
			next = base + int64(o)
		}
		if batch > uint64(base) {
			return next, base + int64(o)
		}
		o += headerBytes + n - 1
	}
	return next, proof
}

// zeroSector reports whether region (the damaged bytes, at offset base) holds
// a lost sector: zeroes from base to the end of its sector, or a whole zero
// 4 KiB sector.
func zeroSector(region []byte, base int64) bool {
	first := int(min(int64(len(region)), (base/sectorBytes+1)*sectorBytes-base))
	if allZero(region[:first]) {
		return true
	}
	for s := first; s+sectorBytes <= len(region); s += sectorBytes {
		if allZero(region[s : s+sectorBytes]) {
			return true
		}
	}
	return false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (l *Log) truncateTail(seg *segment, off int64) error {
	if err := seg.f.Truncate(off); err != nil {
		return fmt.Errorf("wal: truncate torn tail of %s at %d: %w", seg.name, off, err)
	}
	if err := seg.f.Sync(); err != nil {
		return fmt.Errorf("wal: sync %s: %w", seg.name, err)
	}
	seg.size = off
	return nil
}
