package wal

import "sort"

// The cleaner keeps a few small groups from pinning the disk.
//
// A segment is deleted only when every group's entries in it are compacted,
// and only the oldest segments go, so one idle group (entries from its first
// election only) or one small group would keep the oldest segment, and with
// it every later one, forever. At a roll, when every group pinning the
// oldest segment holds little live data, the new segment's head checkpoint
// carries those groups' whole live logs: after its compaction point, a copy
// of each live entry, flagged flagMoved. The head then describes each such
// group completely, so once it is durable (roll syncs it) no older segment
// is needed for them, and the oldest segments become deletable.
//
// A moved entry truncates nothing at replay (applyMoved): it moves the
// entry if the log holds it (same index and term), and otherwise appends
// it like an entry. A torn head thus only leaves some entries where they
// were: the originals stay until the head is durable, because the older
// segments are released only after roll's fsync.
//
// A group holding more than cleanGroupBytesMax of live entries pins its
// segments, which is correct: its data is retained (no retention, or a long
// one), and copying it forward would only rewrite it.
const (
	// cleanGroupBytesMax: a group whose live entries take more (records,
	// headers included) is never copied forward.
	cleanGroupBytesMax = 256 << 10
	// cleanRollBytesMax bounds what one roll copies, so one Sync never
	// writes much for the cleaner.
	cleanRollBytesMax = 4 << 20
	// cleanSegmentsMin: the cleaner runs once the log holds this many
	// segments. Below, the disk they take is small, and cleaning at every
	// roll would rewrite the small groups' logs as often as segments roll;
	// this way a copy frees several segments at once.
	cleanSegmentsMin = 4
)

// cleanCandidates picks the groups whose live logs the next head checkpoint
// carries: the groups pinning the oldest segment, if all of them are small,
// in group order within cleanRollBytesMax (the rest go at a later roll).
func (l *Log) cleanCandidates() []*Storage {
	if len(l.segs) < cleanSegmentsMin-1 || l.rolling {
		return nil // (l.segs lacks the segment being created)
	}
	// Within what a segment can hold, so that a copy never rolls in turn.
	budget := min(cleanRollBytesMax, int(segmentOffsetMax/4))
	oldest := l.segs[0]
	var pins []uint64
	for g, maxIndex := range oldest.maxIndex {
		if s, ok := l.groups[g]; ok && maxIndex > s.offset && len(s.locs) > 0 {
			pins = append(pins, g)
		}
	}
	sort.Slice(pins, func(i, j int) bool { return pins[i] < pins[j] })
	var out []*Storage
	total := 0
	for _, g := range pins {
		s := l.groups[g]
		n := s.liveBytes(cleanGroupBytesMax)
		if n > cleanGroupBytesMax || n > budget {
			return nil // a group retaining data pins the oldest segment: copying the others frees nothing
		}
		if total+n <= budget {
			out = append(out, s)
			total += n
		}
	}
	return out
}

// liveBytes sums the group's live records' bytes, stopping past limit.
func (s *Storage) liveBytes(limit int) int {
	n := 0
	for _, loc := range s.locs {
		n += int(loc.n)
		if n > limit {
			break
		}
	}
	return n
}

// writeLive appends a moved copy of every live entry of the group to the
// active segment and points the group's index at the copies.
func (s *Storage) writeLive() error {
	l := s.log
	for i, last := s.offset+1, s.lastIndex(); i <= last; {
		ents, err := s.Entries(i, last+1, readSpanBytesMax)
		if err != nil {
			return l.fail(err)
		}
		for _, e := range ents {
			seg, off, err := l.appendRecord(kindEntry, s.group, entryPayloadBytes(e), func(b []byte) []byte {
				start := len(b)
				b = appendEntryPayload(b, e)
				b[start] |= flagMoved
				return b
			})
			if err != nil {
				return err
			}
			loc := &s.locs[e.GetIndex()-s.offset-1]
			loc.seg, loc.off = uint32(seg.seq), uint32(off)
			seg.maxIndex[s.group] = max(seg.maxIndex[s.group], e.GetIndex())
		}
		i += uint64(len(ents))
	}
	return nil
}

// released forgets the groups' entries in every segment but the active one:
// the active segment's head, now durable, carries their live logs.
func (l *Log) released(moved []*Storage) {
	for _, s := range moved {
		for _, seg := range l.segs[:len(l.segs)-1] {
			delete(seg.maxIndex, s.group)
		}
	}
}

// applyMoved replays a moved entry: it moves the entry the log holds at
// index (same term), or, when the log does not hold it (its original was in
// a deleted segment), applies it as an entry.
func (l *Log) applyMoved(s *Storage, seg *segment, off, n int64, index, term uint64, size int) {
	if index > s.offset && index <= s.lastIndex() && s.termAt(index) == term {
		s.locs[index-s.offset-1] = entryLoc{seg: uint32(seg.seq), off: uint32(off), n: uint32(n), size: uint32(size)}
		seg.maxIndex[s.group] = max(seg.maxIndex[s.group], index)
		return
	}
	if s.gapTop != 0 && s.gapBase.set && index == s.gapBase.index+1 {
		// Replay found the group's originals after a hole (the segments
		// before were deleted once a head carried its live log), and this
		// is that head: the compaction point just before, which the hole
		// hid, and the run that starts here are the whole log.
		s.dropLocs()
		s.clearCache()
		s.offset, s.offsetTerm = s.gapBase.index, s.gapBase.term
		s.gapTop, s.gapBase = 0, gapBase{}
	}
	l.applyEntry(s, seg, off, n, index, term, size)
}

// gapBase is, while replay is inside a hole (Storage.gapTop), the last
// compaction point below the hole: the one a cleaned head records.
type gapBase struct {
	set         bool
	index, term uint64
}
