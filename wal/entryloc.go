package wal

import (
	"math"
	"sort"
)

// entryLoc is where one entry's record lives: 16 bytes an entry, which is
// most of what a log holding many small entries keeps in memory. The term
// is not here: terms change rarely, so each group keeps them as runs
// (termRun). Offsets are 32-bit because a segment is bounded
// (segmentOffsetMax); the segment is named by the low 32 bits of its
// sequence number, which are unique among live segments (segmentOf).
type entryLoc struct {
	seg  uint32 // low bits of the segment's seq
	off  uint32 // of the record in the segment
	n    uint32 // record bytes, header included
	size uint32 // proto.Size of the entry, for Entries' maxSize
}

// termRun: entries from index first on (to the next run) have this term.
type termRun struct {
	first, term uint64
}

// segmentOffsetMax bounds where a record may start or end in a segment, so
// an offset fits entryLoc's 32 bits. Sync rolls long before (SegmentBytes is
// at most segmentBytesMax); a single iteration writing past it makes the
// log sync and roll in the middle of a Save (appendRecord). A variable so
// that a test can reach it.
var segmentOffsetMax int64 = math.MaxUint32

// segmentBytesMax bounds Options.SegmentBytes, far below segmentOffsetMax.
const segmentBytesMax = 1 << 30

func (s *Storage) pushLoc(seg *segment, off, n int64, size int, index, term uint64) {
	s.locs = append(s.locs, entryLoc{seg: uint32(seg.seq), off: uint32(off), n: uint32(n), size: uint32(size)})
	if k := len(s.terms); k == 0 || s.terms[k-1].term != term {
		s.terms = append(s.terms, termRun{index, term})
	}
}

func (s *Storage) dropLocs() {
	s.locs, s.terms = nil, nil
}

// cutLocs drops the entries at or after index (in offset+1..last+1).
func (s *Storage) cutLocs(index uint64) {
	s.locs = s.locs[:index-s.offset-1]
	k := len(s.terms)
	for k > 0 && s.terms[k-1].first >= index {
		k--
	}
	s.terms = s.terms[:k]
}

// compactLocs drops the entries at or below index (in offset..last-1),
// copying what is left so the prefix's memory goes.
func (s *Storage) compactLocs(index uint64) {
	s.locs = append([]entryLoc(nil), s.locs[index-s.offset:]...)
	k := s.termRunOf(index + 1)
	s.terms = append([]termRun(nil), s.terms[k:]...)
	s.terms[0].first = index + 1
}

// termRunOf returns the run holding entry i (in offset+1..last).
func (s *Storage) termRunOf(i uint64) int {
	if k := len(s.terms) - 1; s.terms[k].first <= i {
		return k // the tail, where raft mostly asks
	}
	return sort.Search(len(s.terms), func(k int) bool { return s.terms[k].first > i }) - 1
}

// termAt is the term of entry i (in offset+1..last).
func (s *Storage) termAt(i uint64) uint64 { return s.terms[s.termRunOf(i)].term }

// segmentOf finds the live segment whose seq has these low bits (nil if none).
func (l *Log) segmentOf(seq uint32) *segment {
	if len(l.segs) == 0 {
		return nil
	}
	base := l.segs[0].seq
	want := base + uint64(seq-uint32(base))
	k := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].seq >= want })
	if k < len(l.segs) && l.segs[k].seq == want {
		return l.segs[k]
	}
	return nil
}
