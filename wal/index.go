package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A sealed segment's index (%016x.idx) lets Open skip reading the segment's
// data: it lists, in order, what replay would take from each record, so that
// applying it gives the state replaying the segment gives.
//
//   - an entry: group, record bytes, term, index, proto size (the data
//     stays on disk, checked by its CRC when read; records lie back to
//     back, so offsets need not be written);
//   - a hard state or compaction record: its payload, inline (a few bytes);
//   - a group removal: the group;
//   - any other record (snapshots, and kinds this file does not know): only
//     its place. Open reads such a record back from the segment, CRC-checked,
//     and applies it; a locally taken snapshot is read once, at the end of
//     Open, and only the newest one per group, since taking one changes
//     nothing but the group's snapshot.
//
// File layout (little endian): magic, segment seq, segment size, offset of
// the segment's last record and its 20 header bytes, body length, body,
// CRC-32C of everything before it. Open trusts an index only if all of it
// checks and it matches the segment (size, and the last record's header read
// back from the segment, so an index left from an older segment of the same
// number never passes): a missing or damaged index means "replay that
// segment", never a failure.
//
// An index is written and synced once its segment is sealed: by roll, after
// the next segment's head checkpoint is durable, and by Open for a sealed
// segment it had to replay.
const (
	indexSuffix      = ".idx"
	indexMagic       = "ketchidx"
	indexHeaderBytes = 8 + 8 + 8 + 8 + headerBytes + 8
	// idxMoved stands for an entry record with flagMoved (an index kind,
	// never a record's).
	idxMoved byte = 0x80 | kindEntry
)

func indexName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, indexSuffix) }

func parseIndexName(name string) (uint64, bool) {
	if len(name) != 16+len(indexSuffix) || name[16:] != indexSuffix {
		return 0, false
	}
	var seq uint64
	for _, c := range []byte(name[:16]) {
		switch {
		case c >= '0' && c <= '9':
			seq = seq<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			seq = seq<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return seq, true
}

func (seg *segment) indexPath() string {
	return path.Join(path.Dir(seg.name), indexName(seg.seq))
}

// note adds the record at off (its header and body) to the segment's index
// being built.
func (seg *segment) note(off int64, hdr, body []byte) {
	if seg.idx == nil {
		return
	}
	kind, group, payload := body[0], binary.LittleEndian.Uint64(body[1:9]), body[9:]
	var term, index uint64
	var size int
	ik := kind
	if kind == kindEntry {
		t, i, typ, flags, data, err := decodeEntryHead(payload)
		assert(err == nil, "wal: an entry the log encoded does not decode")
		term, index, size = t, i, entrySizeOf(flags, t, i, typ, data)
		if flags&flagMoved != 0 {
			ik = idxMoved
		}
	}
	b := append(seg.idx, ik)
	// The offset is not written: records are back to back from 0.
	b = appendUvarints(b, group, uint64(len(hdr)+len(body)))
	switch kind {
	case kindEntry:
		b = appendUvarints(b, term, index, uint64(size))
	case kindHardState, kindCompact:
		b = binary.AppendUvarint(b, uint64(len(payload)))
		b = append(b, payload...)
	}
	seg.idx = b
	seg.idxLast = off
	copy(seg.idxLastHdr[:], hdr)
}

// writeIndex writes and syncs seg's index (seg is sealed: synced, and never
// written again) and forgets the one built in memory. The directory entry is
// synced with dirSync (the planted BugNoDirSync leaves it, as it leaves the
// segment's).
func (l *Log) writeIndex(seg *segment, dirSync bool) error {
	if seg.idx == nil {
		return nil
	}
	out := make([]byte, 0, indexHeaderBytes+len(seg.idx)+4)
	out = append(out, indexMagic...)
	out = binary.LittleEndian.AppendUint64(out, seg.seq)
	out = binary.LittleEndian.AppendUint64(out, uint64(seg.size))
	out = binary.LittleEndian.AppendUint64(out, uint64(seg.idxLast))
	out = append(out, seg.idxLastHdr[:]...)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(seg.idx)))
	out = append(out, seg.idx...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
	name := seg.indexPath()
	f, err := l.fs.Create(name)
	if err != nil {
		return l.fail(fmt.Errorf("create %s: %w", name, err))
	}
	n, err := f.Write(out)
	if err == nil && n != len(out) {
		err = errors.New("short write")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return l.fail(fmt.Errorf("write %s: %w", name, err))
	}
	if dirSync {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.fail(fmt.Errorf("sync dir %s: %w", l.dir, err))
		}
	}
	seg.idx = nil
	return nil
}

// idxRec is one parsed index record.
type idxRec struct {
	kind              byte
	group, off, n     uint64
	term, index, size uint64
	payload           []byte
}

// readIndex reads and checks seg's index, returning its body; ok is false
// when there is none or it cannot be trusted.
func (l *Log) readIndex(seg *segment) ([]byte, bool) {
	f, err := l.fs.Open(seg.indexPath())
	if err != nil {
		return nil, false
	}
	defer func() { _ = f.Close() }() // read-only
	size, err := f.Size()
	// An index is at most a few times smaller than its segment; a size
	// past that bound is damage, and is not read into memory.
	if err != nil || size < indexHeaderBytes+4 || size > indexHeaderBytes+4+2*seg.size+64 {
		return nil, false
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return nil, false
	}
	body, crc := buf[:size-4], binary.LittleEndian.Uint32(buf[size-4:])
	if crc32.Checksum(body, castagnoli) != crc || string(body[:8]) != indexMagic {
		return nil, false
	}
	h := body[8:indexHeaderBytes]
	seq, segSize, lastOff := binary.LittleEndian.Uint64(h[0:]), binary.LittleEndian.Uint64(h[8:]), binary.LittleEndian.Uint64(h[16:])
	lastHdr := h[24 : 24+headerBytes]
	bodyBytes := binary.LittleEndian.Uint64(h[24+headerBytes:])
	if seq != seg.seq || segSize != uint64(seg.size) || bodyBytes != uint64(len(body)-indexHeaderBytes) {
		return nil, false
	}
	if segSize > 0 {
		// The segment's last record must be the one the index saw last.
		if lastOff+headerBytes > segSize {
			return nil, false
		}
		var hdr [headerBytes]byte
		if _, err := seg.f.ReadAt(hdr[:], int64(lastOff)); err != nil || !bytes.Equal(hdr[:], lastHdr) {
			return nil, false
		}
		if n, err := checkHeader(hdr[:]); err != nil || lastOff+headerBytes+uint64(n) != segSize {
			return nil, false
		}
	}
	if parseIndex(body[indexHeaderBytes:], segSize, nil) != nil {
		return nil, false
	}
	return body[indexHeaderBytes:], true
}

var errBadIndex = errors.New("wal: bad index")

// parseIndex walks an index body, calling fn (if not nil) for each record;
// it returns errBadIndex if the body is not a well-formed index of a
// segment of segSize bytes, or fn's error. Open walks a body twice: to
// check all of it, then to apply it, so that a bad index changes nothing.
func parseIndex(p []byte, segSize uint64, fn func(*idxRec) error) error {
	next := uint64(0)
	rd := uvarintReader{p: p}
	var r idxRec
	for len(rd.p) > 0 {
		r = idxRec{kind: rd.p[0]}
		rd.p = rd.p[1:]
		r.group, r.off, r.n = rd.next(), next, rd.next()
		// Records are back to back, inside the segment.
		if rd.bad || r.n < headerBytes+bodyPrefixBytes || r.n > headerBytes+recordBytesMax || r.off+r.n > segSize {
			return errBadIndex
		}
		next = r.off + r.n
		switch r.kind {
		case kindEntry, idxMoved:
			r.term, r.index, r.size = rd.next(), rd.next(), rd.next()
		case kindHardState, kindCompact:
			n := rd.next()
			if rd.bad || n > uint64(len(rd.p)) {
				return errBadIndex
			}
			r.payload, rd.p = rd.p[:n], rd.p[n:]
		}
		if rd.bad {
			return errBadIndex
		}
		if fn != nil {
			if err := fn(&r); err != nil {
				return err
			}
		}
	}
	if next != segSize {
		return errBadIndex
	}
	return nil
}

// uvarintReader reads uvarints until one is bad (then every later one is 0).
type uvarintReader struct {
	p   []byte
	bad bool
}

func (rd *uvarintReader) next() uint64 {
	if len(rd.p) > 0 && rd.p[0] < 0x80 { // most values are small
		v := uint64(rd.p[0])
		rd.p = rd.p[1:]
		return v
	}
	v, k := binary.Uvarint(rd.p)
	if k <= 0 {
		rd.bad, rd.p = true, nil
		return 0
	}
	rd.p = rd.p[k:]
	return v
}

// loadIndex applies seg's index instead of replaying the segment; false
// when the index is missing or not trusted (the caller replays). An error
// is damage found in the records the index points back at.
func (l *Log) loadIndex(seg *segment) (bool, error) {
	body, ok := l.readIndex(seg)
	if !ok {
		return false, nil
	}
	// Consecutive entries are mostly one group's: keep its Storage at hand
	// (until a record that may remove or recreate a group).
	var s *Storage
	err := parseIndex(body, uint64(seg.size), func(r *idxRec) error {
		if r.kind == kindEntry || r.kind == idxMoved {
			if s == nil || s.group != r.group {
				s = l.Storage(r.group)
				s.persisted = true
			}
			if r.kind == idxMoved {
				l.applyMoved(s, seg, int64(r.off), int64(r.n), r.index, r.term, int(r.size))
			} else {
				l.applyEntry(s, seg, int64(r.off), int64(r.n), r.index, r.term, int(r.size))
			}
			return nil
		}
		s = nil
		if err := l.applyIndexed(seg, r); err != nil {
			return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, seg.name, r.off, err)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	seg.indexed = true
	return true, nil
}

// applyIndexed applies an index record other than an entry.
func (l *Log) applyIndexed(seg *segment, r *idxRec) error {
	off, n := int64(r.off), int64(r.n)
	switch r.kind {
	case kindHardState, kindCompact, kindRemove:
		body := make([]byte, 0, bodyPrefixBytes+len(r.payload))
		body = append(body, r.kind)
		body = binary.LittleEndian.AppendUint64(body, r.group)
		body = append(body, r.payload...)
		return l.apply(seg, off, n, body)
	case kindSnapCreate:
		s := l.Storage(r.group)
		s.persisted = true
		s.snapRef = &recRef{seg: seg, off: off, n: n}
		return nil
	case kindCheckpoint:
		// Newest wins, and every segment's head repeats it: only the last
		// one is read, at the end of Open.
		s := l.Storage(r.group)
		s.persisted = true
		s.ckptRef = &recRef{seg: seg, off: off, n: n}
		return nil
	}
	rec, err := l.readRecord(seg, off, n, r.kind, r.group)
	if err != nil {
		return err
	}
	return l.apply(seg, off, n, rec[headerBytes:])
}

// readRecord reads the framed record at off of seg and checks it is the
// kind and group the index says.
func (l *Log) readRecord(seg *segment, off, n int64, kind byte, group uint64) ([]byte, error) {
	rec := make([]byte, n) // n <= headerBytes+recordBytesMax, inside the segment
	if _, err := seg.f.ReadAt(rec, off); err != nil {
		return nil, err
	}
	k, g, _, err := decodeRecord(rec, seg.seq, uint64(off))
	if err != nil {
		return nil, err
	}
	if k != kind || g != group {
		return nil, fmt.Errorf("record is kind %d group %d, the index says kind %d group %d", k, g, kind, group)
	}
	return rec, nil
}

// recRef is a record left on disk by an index, read when needed.
type recRef struct {
	seg    *segment
	off, n int64
}

// loadSnapRef reads the group's newest locally taken snapshot, which an
// index left on disk.
func (l *Log) loadSnapRef(s *Storage) error {
	ref := s.snapRef
	s.snapRef = nil
	rec, err := l.readRecord(ref.seg, ref.off, ref.n, kindSnapCreate, s.group)
	if err != nil {
		return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, ref.seg.name, ref.off, err)
	}
	snap := &raftpb.Snapshot{}
	if err := proto.Unmarshal(rec[headerBytes+bodyPrefixBytes:], snap); err != nil {
		return fmt.Errorf("%w: %s at offset %d: snapshot: %v", ErrCorrupt, ref.seg.name, ref.off, err)
	}
	s.snap = raftpb.EnsureSnapshot(snap)
	return nil
}

// loadCkptRef reads the group's newest checkpoint, which an index left on
// disk.
func (l *Log) loadCkptRef(s *Storage) error {
	ref := s.ckptRef
	s.ckptRef = nil
	rec, err := l.readRecord(ref.seg, ref.off, ref.n, kindCheckpoint, s.group)
	if err == nil {
		err = s.decodeCkpt(rec[headerBytes+bodyPrefixBytes:])
	}
	if err != nil {
		return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, ref.seg.name, ref.off, err)
	}
	return nil
}

// Unverified returns the segments Open took from their indexes without
// reading their data: damage there is found only when an entry is read.
func (l *Log) Unverified() []string {
	var out []string
	for _, s := range l.segs {
		if s.indexed {
			out = append(out, s.name)
		}
	}
	return out
}

// Err returns the error that poisoned the log (nil if none): a failed
// write or sync, or damage found when reading an entry back.
func (l *Log) Err() error { return l.err }
