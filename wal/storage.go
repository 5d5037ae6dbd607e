package wal

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ErrRemoved is returned by writes to the Storage of a removed group.
var ErrRemoved = errors.New("wal: group removed")

// Storage implements raft.Storage for one group, and the persistence half of
// the RawNode contract (Save). Entries live on disk; memory holds, per entry,
// where it is and its term, plus a bounded cache of the most recent entries.
//
// Entries passed to Save are kept by reference in the cache and handed back by
// Entries: like raft itself, nobody may mutate an entry after it was saved.
type Storage struct {
	log       *Log
	group     uint64
	removed   bool
	persisted bool // some record of this group was written

	hs   raftpb.HardState
	snap *raftpb.Snapshot // never nil

	// offset is the index of the last compacted entry (or of the snapshot
	// applied); entries offset+1 .. offset+len(locs) are available.
	offset     uint64
	offsetTerm uint64
	locs       []entryLoc
	terms      []termRun // the terms of offset+1..offset+len(locs), as runs

	// cache holds the newest entries: the last len(cache) of the log.
	cache      []*raftpb.Entry
	cacheBytes int

	// ckptIndex and ckpt are the node's last checkpoint of its applied
	// state (SaveCheckpoint), 0 and nil if none.
	ckptIndex uint64
	ckptCS    []byte // marshalled raftpb.ConfState at ckptIndex
	ckpt      []byte
	// resumeCS, once ResumeFromCheckpoint was called, is the ConfState
	// InitialState answers: the checkpoint's, not the snapshot's.
	resumeCS *raftpb.ConfState

	// gapTop is only used while replaying: entries up to it were in a deleted
	// segment, and a later compaction record must cover them.
	gapTop  uint64
	gapBase gapBase // see applyMoved
	// hsSeg and hsOff are only used while replaying: where the last hard
	// state record was found, for recovery's errors.
	hsSeg *segment
	hsOff int64
	// snapRef is only used while opening: the newest locally taken
	// snapshot, left on disk by a segment's index (index.go).
	snapRef *recRef
	// ckptRef is the same for the newest checkpoint.
	ckptRef *recRef
}

var _ raft.Storage = (*Storage)(nil)

func newStorage(l *Log, group uint64) *Storage {
	return &Storage{log: l, group: group, snap: raftpb.EnsureSnapshot(nil)}
}

func (s *Storage) lastIndex() uint64 { return s.offset + uint64(len(s.locs)) }

// InitialState implements raft.Storage.
func (s *Storage) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	if s.resumeCS != nil {
		return s.HardState(), proto.Clone(s.resumeCS).(*raftpb.ConfState), nil
	}
	cs := proto.Clone(raftpb.EnsureConfState(s.snap.GetMetadata().GetConfState())).(*raftpb.ConfState)
	return s.HardState(), cs, nil
}

// HardState returns a copy of the last saved hard state.
func (s *Storage) HardState() *raftpb.HardState {
	return &raftpb.HardState{Term: proto.Uint64(s.hs.GetTerm()), Vote: proto.Uint64(s.hs.GetVote()), Commit: proto.Uint64(s.hs.GetCommit())}
}

// FirstIndex implements raft.Storage.
func (s *Storage) FirstIndex() (uint64, error) { return s.offset + 1, nil }

// LastIndex implements raft.Storage.
func (s *Storage) LastIndex() (uint64, error) { return s.lastIndex(), nil }

// Snapshot implements raft.Storage.
func (s *Storage) Snapshot() (*raftpb.Snapshot, error) {
	return proto.Clone(s.snap).(*raftpb.Snapshot), nil
}

// Term implements raft.Storage.
func (s *Storage) Term(i uint64) (uint64, error) {
	switch {
	case i < s.offset:
		return 0, raft.ErrCompacted
	case i == s.offset:
		return s.offsetTerm, nil
	case i > s.lastIndex():
		return 0, raft.ErrUnavailable
	}
	return s.termAt(i), nil
}

// Entries implements raft.Storage: entries [lo, hi), at least one, at most
// maxSize bytes (as proto.Size counts them). Entries older than the cache are
// read from disk, one read per run of consecutive records, and are fresh copies.
func (s *Storage) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	if lo <= s.offset {
		return nil, raft.ErrCompacted
	}
	last := s.lastIndex()
	if hi > last+1 || lo > hi {
		return nil, fmt.Errorf("wal: group %d: entries [%d,%d) outside the log (last %d): %w", s.group, lo, hi, last, raft.ErrUnavailable)
	}
	if len(s.locs) == 0 {
		return nil, raft.ErrUnavailable
	}
	if lo == hi {
		return []*raftpb.Entry{}, nil
	}
	// Same rule as raft's limitSize: the first entry always, then while the
	// running total stays within maxSize.
	n := uint64(1)
	size := uint64(s.locs[lo-s.offset-1].size)
	for ; lo+n < hi; n++ {
		size += uint64(s.locs[lo+n-s.offset-1].size)
		if size > maxSize {
			break
		}
	}
	out := make([]*raftpb.Entry, 0, n)
	end := lo + n
	cacheFirst := last + 1 - uint64(len(s.cache))
	for i := lo; i < end; {
		if i >= cacheFirst {
			out = append(out, s.cache[i-cacheFirst])
			i++
			continue
		}
		j, err := s.readRun(i, min(end, cacheFirst), &out)
		if err != nil {
			return nil, err
		}
		i = j
	}
	return out, nil
}

// Entry returns entry i, as Entries(i, i+1, max) would, without building a
// slice: a fetch reads the batches it serves one by one. A cached entry is
// the one saved (nobody may mutate it); an older one is a fresh copy.
func (s *Storage) Entry(i uint64) (*raftpb.Entry, error) {
	if i <= s.offset {
		return nil, raft.ErrCompacted
	}
	last := s.lastIndex()
	if i > last {
		return nil, fmt.Errorf("wal: group %d: entry %d outside the log (last %d): %w", s.group, i, last, raft.ErrUnavailable)
	}
	if cacheFirst := last + 1 - uint64(len(s.cache)); i >= cacheFirst {
		return s.cache[i-cacheFirst], nil
	}
	out := make([]*raftpb.Entry, 0, 1)
	if _, err := s.readRun(i, i+1, &out); err != nil {
		return nil, err
	}
	return out[0], nil
}

// readRun reads entries from i on while they are consecutive in one segment
// (up to readSpanBytesMax, but at least one), appends them to out and returns
// the next index.
func (s *Storage) readRun(i, end uint64, out *[]*raftpb.Entry) (uint64, error) {
	first := s.locs[i-s.offset-1]
	span := int64(first.n)
	j := i + 1
	for ; j < end; j++ {
		loc, prev := s.locs[j-s.offset-1], s.locs[j-s.offset-2]
		if loc.seg != first.seg || loc.off != prev.off+prev.n || span+int64(loc.n) > readSpanBytesMax {
			break
		}
		span += int64(loc.n)
	}
	seg := s.log.segmentOf(first.seg)
	if seg == nil {
		return 0, s.log.fail(fmt.Errorf("%w: group %d entry %d: its segment (%d) is gone", ErrCorrupt, s.group, i, first.seg))
	}
	buf := make([]byte, span)
	if err := s.log.readAt(seg, int64(first.off), buf); err != nil {
		// Damage found at read (a sealed segment's data is checked only
		// here): the node must stop, and the entry is never served.
		return 0, s.log.fail(err)
	}
	for k := i; k < j; k++ {
		loc := s.locs[k-s.offset-1]
		rec := buf[loc.off-first.off : loc.off-first.off+loc.n]
		e, err := s.decodeAt(rec, k, seg, loc)
		if err != nil {
			return 0, s.log.fail(fmt.Errorf("%w: %s at offset %d: group %d entry %d: %v", ErrCorrupt, seg.name, loc.off, s.group, k, err))
		}
		*out = append(*out, e)
	}
	return j, nil
}

// decodeAt checks a record read back against what the index says it holds.
func (s *Storage) decodeAt(rec []byte, index uint64, seg *segment, loc entryLoc) (*raftpb.Entry, error) {
	kind, group, payload, err := decodeRecord(rec, seg.seq, uint64(loc.off))
	if err != nil {
		return nil, err
	}
	if kind != kindEntry || group != s.group {
		return nil, fmt.Errorf("record is kind %d group %d", kind, group)
	}
	e, err := decodeEntry(payload)
	if err != nil {
		return nil, err
	}
	if term := s.termAt(index); e.GetIndex() != index || e.GetTerm() != term {
		return nil, fmt.Errorf("record holds index %d term %d, want term %d", e.GetIndex(), e.GetTerm(), term)
	}
	return e, nil
}

// Save persists a Ready's parts, buffered until the next Log.Sync: the snapshot
// (if non-empty) first, then the entries (dropping any saved entries at or after
// the first new index), then the hard state (if non-empty), so that no crash
// keeps a hard state without the entries or snapshot its commit index refers
// to (recovery raises a commit index left behind by a lost hard state to the
// snapshot: see clampCommit). The in-memory view changes at once, since raft
// reads it before the sync. Nothing is changed when Save rejects its input.
func (s *Storage) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	l := s.log
	if err := l.usable(); err != nil {
		return err
	}
	if s.removed {
		return ErrRemoved
	}
	// Validate everything before buffering anything.
	hasSnap := !raft.IsEmptySnap(snap)
	offset, last := s.offset, s.lastIndex()
	var snapBytes []byte
	if hasSnap {
		if si := s.snap.GetMetadata().GetIndex(); si != 0 && si >= snap.GetMetadata().GetIndex() {
			return raft.ErrSnapOutOfDate
		}
		var err error
		if snapBytes, err = marshalSnapshot(snap); err != nil {
			return err
		}
		offset = snap.GetMetadata().GetIndex()
		last = offset
	}
	for k, e := range ents {
		if k > 0 && e.GetIndex() != ents[0].GetIndex()+uint64(k) {
			return fmt.Errorf("wal: group %d: entries not consecutive at %d", s.group, e.GetIndex())
		}
		if bodyPrefixBytes+entryPayloadBytes(e) > recordBytesMax {
			return fmt.Errorf("wal: group %d: entry %d of %d bytes is too large", s.group, e.GetIndex(), len(e.Data))
		}
	}
	if len(ents) > 0 && ents[0].GetIndex() > last+1 {
		return fmt.Errorf("wal: group %d: missing log entry [last: %d, append at: %d]", s.group, last, ents[0].GetIndex())
	}

	if hasSnap {
		if _, _, err := l.appendRecord(kindSnapApply, s.group, len(snapBytes), func(b []byte) []byte { return append(b, snapBytes...) }); err != nil {
			return err
		}
		s.persisted = true
		s.applySnapshot(proto.Clone(snap).(*raftpb.Snapshot))
		// Every older entry of this group is garbage now.
		for _, seg := range l.segs {
			delete(seg.maxIndex, s.group)
		}
	}
	if len(ents) > 0 {
		if err := s.appendEntries(ents); err != nil {
			return err
		}
	}
	if !raft.IsEmptyHardState(hs) {
		v := []uint64{hs.GetTerm(), hs.GetVote(), hs.GetCommit()}
		if _, _, err := l.appendRecord(kindHardState, s.group, uvarintsLen(v...), func(b []byte) []byte { return appendUvarints(b, v...) }); err != nil {
			return err
		}
		s.persisted = true
		s.setHardState(v[0], v[1], v[2])
	}
	return nil
}

func marshalSnapshot(snap *raftpb.Snapshot) ([]byte, error) {
	b, err := proto.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("wal: marshal snapshot: %w", err)
	}
	if bodyPrefixBytes+len(b) > recordBytesMax {
		return nil, fmt.Errorf("wal: snapshot of %d bytes is too large", len(b))
	}
	return b, nil
}

func (s *Storage) setHardState(term, vote, commit uint64) {
	if s.hs.Term == nil || s.hs.Vote == nil || s.hs.Commit == nil {
		s.hs = raftpb.HardState{Term: new(uint64), Vote: new(uint64), Commit: new(uint64)}
	}
	// In place: s.hs is never handed out (HardState returns a copy), and
	// a Ready with a hard state is saved on every commit.
	*s.hs.Term, *s.hs.Vote, *s.hs.Commit = term, vote, commit
}

func (s *Storage) applySnapshot(snap *raftpb.Snapshot) {
	s.snap = raftpb.EnsureSnapshot(snap)
	s.offset = snap.GetMetadata().GetIndex()
	s.offsetTerm = snap.GetMetadata().GetTerm()
	s.dropLocs()
	s.clearCache()
	s.gapTop = 0
}

func (s *Storage) appendEntries(ents []*raftpb.Entry) error {
	l := s.log
	first := s.offset + 1
	if ents[len(ents)-1].GetIndex() < first {
		return nil // all compacted already
	}
	if ents[0].GetIndex() < first {
		ents = ents[first-ents[0].GetIndex():]
	}
	s.truncateFrom(ents[0].GetIndex())
	for _, e := range ents {
		seg, off, err := l.appendRecord(kindEntry, s.group, entryPayloadBytes(e), func(b []byte) []byte { return appendEntryPayload(b, e) })
		if err != nil {
			return err
		}
		s.persisted = true
		n := headerBytes + bodyPrefixBytes + entryPayloadBytes(e)
		s.pushLoc(seg, off, int64(n), entrySize(e), e.GetIndex(), e.GetTerm())
		seg.maxIndex[s.group] = max(seg.maxIndex[s.group], e.GetIndex())
		s.pushCache(e)
	}
	return nil
}

// truncateFrom drops entries at or after index (which is in offset+1..last+1).
func (s *Storage) truncateFrom(index uint64) {
	last := s.lastIndex()
	if index > last {
		return
	}
	s.cutLocs(index)
	drop := min(uint64(len(s.cache)), last+1-index)
	for k := uint64(len(s.cache)) - drop; k < uint64(len(s.cache)); k++ {
		s.cacheBytes -= len(s.cache[k].Data)
		s.cache[k] = nil
	}
	s.cache = s.cache[:uint64(len(s.cache))-drop]
}

func (s *Storage) pushCache(e *raftpb.Entry) {
	s.cache = append(s.cache, e)
	s.cacheBytes += len(e.Data)
	for len(s.cache) > 0 && (len(s.cache) > cacheEntriesMax || s.cacheBytes > s.log.opts.CacheBytes) {
		s.cacheBytes -= len(s.cache[0].Data)
		s.cache[0] = nil // let the entry go even before the array is reallocated
		s.cache = s.cache[1:]
	}
}

func (s *Storage) clearCache() {
	clear(s.cache)
	s.cache = nil
	s.cacheBytes = 0
}

// CreateSnapshot records a snapshot at index with the caller's state-machine
// data. index must be at most the applied index (raft's rule); a nil cs keeps
// the previous ConfState. The log is not compacted: call Compact for that.
func (s *Storage) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	l := s.log
	if err := l.usable(); err != nil {
		return nil, err
	}
	if s.removed {
		return nil, ErrRemoved
	}
	if index <= s.snap.GetMetadata().GetIndex() {
		return nil, raft.ErrSnapOutOfDate
	}
	if index > s.lastIndex() {
		return nil, fmt.Errorf("wal: group %d: snapshot %d is out of bound lastindex(%d)", s.group, index, s.lastIndex())
	}
	term, err := s.Term(index)
	if err != nil {
		return nil, err
	}
	snap := proto.Clone(s.snap).(*raftpb.Snapshot)
	snap.Metadata.Index = proto.Uint64(index)
	snap.Metadata.Term = proto.Uint64(term)
	if cs != nil {
		snap.Metadata.ConfState = proto.Clone(cs).(*raftpb.ConfState)
	}
	snap.Data = append([]byte(nil), data...)
	b, err := marshalSnapshot(snap)
	if err != nil {
		return nil, err
	}
	if _, _, err := l.appendRecord(kindSnapCreate, s.group, len(b), func(p []byte) []byte { return append(p, b...) }); err != nil {
		return nil, err
	}
	s.persisted = true
	s.snap = snap
	return proto.Clone(snap).(*raftpb.Snapshot), nil
}

// Compact drops the entries up to and including index, keeping its term.
// Segments whose entries are all compacted are deleted by the next Log.Sync,
// once this record is durable.
func (s *Storage) Compact(index uint64) error {
	l := s.log
	if err := l.usable(); err != nil {
		return err
	}
	if s.removed {
		return ErrRemoved
	}
	if index <= s.offset {
		return raft.ErrCompacted
	}
	if index > s.lastIndex() {
		return fmt.Errorf("wal: group %d: compact %d is out of bound lastindex(%d)", s.group, index, s.lastIndex())
	}
	term := s.termAt(index)
	if _, _, err := l.appendRecord(kindCompact, s.group, uvarintsLen(index, term), func(b []byte) []byte { return appendUvarints(b, index, term) }); err != nil {
		return err
	}
	s.persisted = true
	s.compact(index, term)
	return nil
}

// compact drops entries <= index; index may be past the last entry (replay).
func (s *Storage) compact(index, term uint64) {
	if index == s.offset {
		// Every head checkpoint repeats the compaction point: no copy.
		s.offsetTerm = term
		return
	}
	last := s.lastIndex()
	if index >= last {
		s.dropLocs()
	} else {
		s.compactLocs(index)
	}
	s.offset, s.offsetTerm = index, term
	if cacheFirst := last + 1 - uint64(len(s.cache)); index >= cacheFirst {
		drop := min(uint64(len(s.cache)), index+1-cacheFirst)
		for _, e := range s.cache[:drop] {
			s.cacheBytes -= len(e.Data)
		}
		clear(s.cache[:drop])
		s.cache = s.cache[drop:]
	}
}

// SaveCheckpoint records the caller's applied state at index, with raft's
// ConfState there (it must have applied every entry through index, and index
// must be committed by a hard state already saved). It is the node's own,
// never handed to raft: a restart resumes from it (ResumeFromCheckpoint and
// raft's Config.Applied) instead of replaying from the snapshot. It is
// durable with the next Sync, and repeated at the head of every segment, so
// deleting old segments never loses it.
func (s *Storage) SaveCheckpoint(index uint64, cs *raftpb.ConfState, data []byte) error {
	l := s.log
	if err := l.usable(); err != nil {
		return err
	}
	if s.removed {
		return ErrRemoved
	}
	csb, err := proto.Marshal(raftpb.EnsureConfState(cs))
	if err != nil {
		return fmt.Errorf("wal: marshal conf state: %w", err)
	}
	if bodyPrefixBytes+uvarintsLen(index, uint64(len(csb)))+len(csb)+len(data) > recordBytesMax {
		return fmt.Errorf("wal: group %d: checkpoint of %d bytes is too large", s.group, len(data))
	}
	if err := s.writeCkpt(index, csb, data); err != nil {
		return err
	}
	s.persisted = true
	// A new slice, never the old one reused: what a node restored from the
	// last checkpoint may still refer to its bytes.
	s.ckptIndex, s.ckptCS, s.ckpt = index, csb, append([]byte(nil), data...)
	return nil
}

func (s *Storage) writeCkpt(index uint64, csb, data []byte) error {
	_, _, err := s.log.appendRecord(kindCheckpoint, s.group, uvarintsLen(index, uint64(len(csb)))+len(csb)+len(data), func(b []byte) []byte {
		b = appendUvarints(b, index, uint64(len(csb)))
		return append(append(b, csb...), data...)
	})
	return err
}

func (s *Storage) decodeCkpt(payload []byte) error {
	index, k := binary.Uvarint(payload)
	if k <= 0 {
		return fmt.Errorf("checkpoint: bad index")
	}
	payload = payload[k:]
	n, k := binary.Uvarint(payload)
	if k <= 0 || n > uint64(len(payload)-k) {
		return fmt.Errorf("checkpoint: bad conf state length")
	}
	payload = payload[k:]
	if err := proto.Unmarshal(payload[:n], &raftpb.ConfState{}); err != nil {
		return fmt.Errorf("checkpoint: conf state: %v", err)
	}
	s.ckptIndex = index
	s.ckptCS = append([]byte(nil), payload[:n]...)
	s.ckpt = append([]byte(nil), payload[n:]...)
	return nil
}

// Checkpoint returns the last checkpoint saved (index 0 if none). The data
// must not be modified.
func (s *Storage) Checkpoint() (index uint64, data []byte) { return s.ckptIndex, s.ckpt }

// ResumeFromCheckpoint makes InitialState answer the checkpoint's ConfState,
// for a node that restores its state from the checkpoint and starts raft at
// its index (Config.Applied): the conf changes before it are not applied
// again. Call it before raft.NewRawNode.
func (s *Storage) ResumeFromCheckpoint() error {
	cs := &raftpb.ConfState{}
	if err := proto.Unmarshal(s.ckptCS, cs); err != nil {
		return fmt.Errorf("wal: group %d: checkpoint conf state: %w", s.group, err)
	}
	s.resumeCS = cs
	return nil
}

// writeCheckpoint writes what a new segment needs to stand alone for this
// group: snapshot, compaction point (always, so the group is known) and hard state.
func (s *Storage) writeCheckpoint() error {
	l := s.log
	if !raft.IsEmptySnap(s.snap) {
		b, err := marshalSnapshot(s.snap)
		if err != nil {
			return l.fail(err)
		}
		if _, _, err := l.appendRecord(kindSnapCreate, s.group, len(b), func(p []byte) []byte { return append(p, b...) }); err != nil {
			return err
		}
	}
	if _, _, err := l.appendRecord(kindCompact, s.group, uvarintsLen(s.offset, s.offsetTerm), func(b []byte) []byte { return appendUvarints(b, s.offset, s.offsetTerm) }); err != nil {
		return err
	}
	if s.ckpt != nil {
		if err := s.writeCkpt(s.ckptIndex, s.ckptCS, s.ckpt); err != nil {
			return err
		}
	}
	if !raft.IsEmptyHardState(&s.hs) {
		v := []uint64{s.hs.GetTerm(), s.hs.GetVote(), s.hs.GetCommit()}
		if _, _, err := l.appendRecord(kindHardState, s.group, uvarintsLen(v...), func(b []byte) []byte { return appendUvarints(b, v...) }); err != nil {
			return err
		}
	}
	return nil
}

// clampCommit makes the recovered commit index one raft accepts, after
// replay. Save writes a snapshot before the hard state that commits it (a
// record is never durable before what it refers to), so a crash between the
// two leaves a snapshot newer than the last hard state's commit index; raft
// would refuse that state on every restart ("state.commit ... is out of
// range"). A snapshot only ever holds committed entries, so the commit index
// is raised to it. A commit index past the last entry cannot come from a
// crash (entries are written before the hard state that commits them): that
// log lost committed entries and recovery refuses it.
func (s *Storage) clampCommit() error {
	if raft.IsEmptyHardState(&s.hs) {
		return nil // raft starts such a group from its snapshot
	}
	commit := s.hs.GetCommit()
	if lo := max(s.offset, s.snap.GetMetadata().GetIndex()); commit < lo {
		commit = lo
		s.setHardState(s.hs.GetTerm(), s.hs.GetVote(), commit)
	}
	if last := s.lastIndex(); commit > last {
		at := "checkpoint"
		if s.hsSeg != nil {
			at = fmt.Sprintf("%s at offset %d", s.hsSeg.name, s.hsOff)
		}
		return fmt.Errorf("%w: group %d: the hard state (%s) commits index %d but the log ends at %d", ErrCorrupt, s.group, at, commit, last)
	}
	return nil
}

// apply replays one checked record found at off in seg.
func (l *Log) apply(seg *segment, off, n int64, body []byte) error {
	kind, group, payload := body[0], binary.LittleEndian.Uint64(body[1:9]), body[9:]
	if kind == kindRemove {
		if s, ok := l.groups[group]; ok {
			s.removed = true
			delete(l.groups, group)
			for _, sg := range l.segs {
				delete(sg.maxIndex, group)
			}
		}
		return nil
	}
	s := l.Storage(group)
	s.persisted = true
	switch kind {
	case kindEntry:
		term, index, typ, flags, data, err := decodeEntryHead(payload)
		if err != nil {
			return err
		}
		if flags&flagMoved != 0 {
			l.applyMoved(s, seg, off, n, index, term, entrySizeOf(flags, term, index, typ, data))
		} else {
			l.applyEntry(s, seg, off, n, index, term, entrySizeOf(flags, term, index, typ, data))
		}
	case kindHardState:
		var term, vote, commit uint64
		if err := decodeUvarints(payload, &term, &vote, &commit); err != nil {
			return fmt.Errorf("hard state: %v", err)
		}
		s.setHardState(term, vote, commit)
		s.hsSeg, s.hsOff = seg, off
	case kindSnapApply, kindSnapCreate:
		snap := &raftpb.Snapshot{}
		if err := proto.Unmarshal(payload, snap); err != nil {
			return fmt.Errorf("snapshot: %v", err)
		}
		s.snapRef = nil // superseded
		if kind == kindSnapApply {
			s.applySnapshot(snap)
			for _, sg := range l.segs {
				delete(sg.maxIndex, group)
			}
		} else {
			s.snap = raftpb.EnsureSnapshot(snap)
		}
	case kindCompact:
		var index, term uint64
		if err := decodeUvarints(payload, &index, &term); err != nil {
			return fmt.Errorf("compaction: %v", err)
		}
		if index < s.offset {
			if s.gapTop != 0 {
				s.gapBase = gapBase{true, index, term}
			}
			return nil
		}
		if index >= s.gapTop {
			s.gapTop, s.gapBase = 0, gapBase{}
		}
		s.compact(index, term)
	case kindCheckpoint:
		s.ckptRef = nil // superseded
		if err := s.decodeCkpt(payload); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown record kind %d", kind)
	}
	return nil
}

// applyEntry replays the entry record of n bytes at off in seg (from the
// record itself or from the segment's index).
func (l *Log) applyEntry(s *Storage, seg *segment, off, n int64, index, term uint64, size int) {
	if index <= s.offset {
		if s.gapTop == 0 {
			return // compacted
		}
		// Inside a gap left by deleted segments: the entry still
		// truncates everything after it; what precedes it is missing too.
		s.dropLocs()
		s.offset, s.offsetTerm = index-1, 0
		s.gapTop = index - 1
	} else if last := s.lastIndex(); index > last+1 {
		// The entries before index were in segments deleted after they were
		// compacted; a later compaction record must say so (checked by Open).
		s.dropLocs()
		s.offset, s.offsetTerm = index-1, 0
		s.gapTop = index - 1
	} else {
		s.truncateFrom(index)
	}
	s.pushLoc(seg, off, n, size, index, term)
	seg.maxIndex[s.group] = max(seg.maxIndex[s.group], index)
}

func entrySizeOf(flags byte, term, index uint64, typ uint32, data []byte) int {
	n := 0
	if flags&flagTerm != 0 {
		n += 1 + varintLen(term)
	}
	if flags&flagIndex != 0 {
		n += 1 + varintLen(index)
	}
	if flags&flagType != 0 {
		n += 1 + varintLen(uint64(int64(int32(typ))))
	}
	if flags&flagData != 0 {
		n += 1 + varintLen(uint64(len(data))) + len(data)
	}
	return n
}
