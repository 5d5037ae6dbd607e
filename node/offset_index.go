package node

// A partition's offset index: which raft entries hold which offsets, sparse
// for the bulk of the log as Kafka's .index and .timeindex are (one entry per
// log.index.interval.bytes), exact for a short recent tail.
//
// The newest Config.IndexTailBatches batches are kept exactly (batchLoc): produce's
// LogAppendTime answer, a caught-up consumer's fetch and the parked fetches
// evaluated on every append read only those. Older batches are described
// by points, one per Config.IndexIntervalBytes of log: a point is the first batch
// of its span (offset, raft index, the log's bytes before it) and the
// largest max timestamp in the span, which is the time index. A batch of a
// span is found by reading the raft entries forward from its point: every
// produce or group-write entry of the span is a batch, in order, its offsets
// following the point's, except the entries recorded in skips (those whose
// apply appended nothing: a retry answered from producer state, a sequence
// or epoch error, a failed group guard). Those are rare, and kept as runs of
// raft indexes. epochs is the leader-epoch history (one entry per term
// change, as Kafka's leader-epoch-checkpoint); endBytes the running byte
// total retention.bytes reads. So memory, checkpoints and snapshots grow with
// log bytes / IndexIntervalBytes, not with batches.
//
// A compacted log (compaction.go) is not in raft index order: its cleaned
// run, the batches below the cleaner point P, lives in one cmdCompact entry
// (above the dirty batches' entries), each batch at a byte position (pos) of
// that entry's data; the dirty batches from P on follow in their produce
// entries. So a point starts at every discontinuity: the run's first batch
// (and one per IndexIntervalBytes of it), the first dirty batch, the first
// produce batch retired after a run batch. A run point (pos > 0) is read by
// walking its compaction entry's batches (parseCompact) from pos; a produce
// point by reading produce entries forward, which never counts a cmdCompact
// entry as a batch. replaceBelow puts a compaction's run in place.

import (
	"encoding/binary"
	"sort"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/ketch-dev/ketch/wire"
)

const (
	// indexTailBatchesDefault is how many of the newest batches are
	// indexed exactly (Config.IndexTailBatches). At 56 bytes each, 7 KiB a
	// partition when full.
	indexTailBatchesDefault = 128
	// indexIntervalBytesDefault is the log bytes a point covers (Kafka's
	// log.index.interval.bytes; Config.IndexIntervalBytes): a lookup below
	// the tail reads at most about this much of the log beyond what it
	// serves.
	indexIntervalBytesDefault = 4096
	// indexReadBytes bounds one storage read while reading forward.
	indexReadBytes = 256 << 10
)

// entrySource is where the index reads entries forward: the group's raft
// storage.
type entrySource interface {
	Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error)
}

// batchLoc says where the records [base, base+count) live: at byte pos of
// the batch payload of raft entry raftIndex, of term term (the leader epoch
// stamped on them when served). Fields ordered so it stays 56 bytes.
type batchLoc struct {
	base      int64
	raftIndex uint64
	term      uint64
	maxTS     int64
	endBytes  int64 // bytes of every batch up to and including this one, so a range's size is one subtraction
	count     int32
	bytes     int32
	pos       int32
}

func (b batchLoc) end() int64        { return b.base + int64(b.count) }
func (b batchLoc) startBytes() int64 { return b.endBytes - int64(b.bytes) }

// indexPoint is the first batch of a span of about indexIntervalBytes.
type indexPoint struct {
	base       int64
	raftIndex  uint64
	startBytes int64 // the log's bytes before the span
	maxTS      int64 // the largest max timestamp of the span's batches (at most: see replaceBelow)
	pos        int32 // a run point's byte position in its compaction entry's data; 0 for a produce point
}

// skipRun is a run of raft indexes whose entries appended no batch.
type skipRun struct{ lo, hi uint64 }

// epochStart is the first offset of a leader epoch in the log.
type epochStart struct {
	term uint64
	base int64
}

type offsetIndex struct {
	src entrySource
	// dense: a planted bug makes what apply appends not re-derivable from
	// the entries (offsets from the leader's stamp, an epoch from the
	// batch header, a replica's own append time), so every batch is kept
	// exact. Never set otherwise.
	dense bool
	// tailMax and intervalBytes are the node's IndexTailBatches and
	// IndexIntervalBytes (0, as in a speculative copy: the defaults).
	tailMax, intervalBytes int32
	points                 []indexPoint
	tail                   []batchLoc
	skips                  []skipRun
	epochs                 []epochStart
	lastRaft               uint64 // the raft index of the newest batch's entry
	endBytes               int64  // bytes of every batch ever appended
	// start is the log start offset: the first span may begin below it
	// (truncate), and its batches wholly below are not in the log.
	start int64
}

// empty says no batch is indexed. While one is, the tail holds at least the
// newest (batches leave it only while more than indexTailBatches remain).
func (x *offsetIndex) empty() bool { return len(x.tail) == 0 }

// last is the newest batch (empty() must be false).
func (x *offsetIndex) last() *batchLoc { return &x.tail[len(x.tail)-1] }

// firstRaft is the lowest raft index a batch of the index lives in (0 if
// empty): not the first batch's in a compacted log, whose run lives in its
// compaction's entry, above the dirty batches' entries.
func (x *offsetIndex) firstRaft() uint64 {
	var first uint64
	low := func(r uint64) {
		if first == 0 || r < first {
			first = r
		}
	}
	// Run points come first and share an entry; the first produce point,
	// or else the tail, holds the lowest raft index of the rest.
	for _, pt := range x.points {
		low(pt.raftIndex)
		if pt.pos == 0 {
			break
		}
	}
	if x.dense {
		for _, b := range x.tail {
			low(b.raftIndex)
		}
	} else if len(x.tail) > 0 {
		low(x.tail[0].raftIndex)
	}
	return first
}

// firstStartBytes is the running byte total before the first span or batch.
func (x *offsetIndex) firstStartBytes() int64 {
	if len(x.points) > 0 {
		return x.points[0].startBytes
	}
	if len(x.tail) > 0 {
		return x.tail[0].startBytes()
	}
	return x.endBytes
}

// firstBase is the oldest batch's first offset (empty() must be false).
func (x *offsetIndex) firstBase() int64 {
	if len(x.points) > 0 {
		return x.points[0].base
	}
	return x.tail[0].base
}

// denseIndexBug says a planted bug makes apply append what reading the
// entries forward would not re-derive, so the index keeps every batch.
func denseIndexBug(bug string) bool {
	return bug == BugOffsetBeforePropose || bug == BugEpochNotTerm || bug == BugAppendTimeAtApply
}

// append records a batch just applied.
func (x *offsetIndex) append(base int64, count int32, raftIndex, term uint64, maxTS int64, bytes int32) {
	x.endBytes += int64(bytes)
	if n := len(x.epochs); n == 0 || x.epochs[n-1].term != term {
		x.epochs = append(x.epochs, epochStart{term: term, base: base})
	}
	x.tail = append(x.tail, batchLoc{base: base, count: count, raftIndex: raftIndex, term: term, maxTS: maxTS, bytes: bytes, endBytes: x.endBytes})
	x.lastRaft = raftIndex
	if x.dense {
		return
	}
	tailMax := int(x.tailMax)
	if tailMax <= 0 {
		tailMax = indexTailBatchesDefault
	}
	for len(x.tail) > tailMax {
		x.retire(x.tail[0])
		x.tail = x.tail[1:]
	}
}

// retire moves the oldest tail batch into the spans.
func (x *offsetIndex) retire(b batchLoc) {
	n := len(x.points)
	interval := int64(x.intervalBytes)
	if interval <= 0 {
		interval = indexIntervalBytesDefault
	}
	// A produce batch after a run point, or a run batch of another entry,
	// is a discontinuity: it starts a point.
	if n == 0 || (x.points[n-1].pos > 0) != (b.pos > 0) || b.pos > 0 && x.points[n-1].raftIndex != b.raftIndex ||
		b.startBytes()-x.points[n-1].startBytes >= interval {
		x.points = append(x.points, indexPoint{base: b.base, raftIndex: b.raftIndex, startBytes: b.startBytes(), maxTS: b.maxTS, pos: b.pos})
		return
	}
	x.points[n-1].maxTS = max(x.points[n-1].maxTS, b.maxTS)
}

// noteApplied is told of every produce or group-write entry applied: one
// that appended no batch is recorded as skipped, for reading forward.
func (x *offsetIndex) noteApplied(raftIndex uint64) {
	if x.lastRaft == raftIndex {
		return
	}
	if n := len(x.skips); n > 0 && x.skips[n-1].hi+1 == raftIndex {
		x.skips[n-1].hi = raftIndex
		return
	}
	x.skips = append(x.skips, skipRun{lo: raftIndex, hi: raftIndex})
}

func (x *offsetIndex) skipped(raftIndex uint64) bool {
	k := sort.Search(len(x.skips), func(i int) bool { return x.skips[i].hi >= raftIndex })
	return k < len(x.skips) && x.skips[k].lo <= raftIndex
}

// spanEndRaft is the raft index of span s's last entry (its compaction
// entry for a run point).
func (x *offsetIndex) spanEndRaft(s int) uint64 {
	switch {
	case x.points[s].pos > 0:
		return x.points[s].raftIndex
	case s+1 < len(x.points):
		return x.points[s+1].raftIndex - 1
	case len(x.tail) > 0:
		return x.tail[0].raftIndex - 1
	}
	return x.lastRaft
}

// spanEnd is the offset past span s's last batch.
func (x *offsetIndex) spanEnd(s int) int64 {
	if s+1 < len(x.points) {
		return x.points[s+1].base
	}
	return x.tail[0].base
}

// spanEndBytes is the log's bytes through span s.
func (x *offsetIndex) spanEndBytes(s int) int64 {
	if s+1 < len(x.points) {
		return x.points[s+1].startBytes
	}
	return x.tail[0].startBytes()
}

// readSpan reads span s forward, calling fn with each of its batches and
// the batch's bytes in the entry, until fn returns false; it reports
// whether fn did.
func (x *offsetIndex) readSpan(s int, fn func(batchLoc, []byte) bool) (bool, error) {
	pt := x.points[s]
	if pt.pos > 0 {
		return x.readRun(s, s, fn)
	}
	base, bytes := pt.base, pt.startBytes
	for lo, hi := pt.raftIndex, x.spanEndRaft(s)+1; lo < hi; {
		ents, err := x.src.Entries(lo, hi, indexReadBytes)
		if err != nil {
			return false, err
		}
		if len(ents) == 0 {
			return false, errShortEntry
		}
		// Entries are consecutive from lo: counting the index, not reading
		// each entry's (a pointer apart), saves a cache miss an entry.
		first := lo
		lo += uint64(len(ents))
		for k, e := range ents {
			index := first + uint64(k)
			if e.GetType() != raftpb.EntryNormal || len(e.GetData()) == 0 || x.skipped(index) {
				continue
			}
			if c := cmd(e.GetData()[0]); c != cmdProduce && c != cmdGroupWrite {
				continue
			}
			body, err := entryBatch(e.GetData())
			if err != nil {
				return false, err
			}
			for pos := 0; pos < len(body); {
				h, err := wire.ParseBatchHeader(body[pos:])
				if err != nil || h.TotalBytes() > len(body)-pos {
					return false, errShortEntry
				}
				size := h.TotalBytes()
				bytes += int64(size)
				loc := batchLoc{base: base, count: h.LastOffsetDelta + 1, raftIndex: index, term: e.GetTerm(),
					maxTS: h.MaxTimestamp, bytes: int32(size), endBytes: bytes, pos: int32(pos)}
				if !fn(loc, body[pos:pos+size]) {
					return true, nil
				}
				base += int64(loc.count)
				pos += size
			}
		}
	}
	return false, nil
}

// readRun is readSpan of run points s..e (of one compaction entry): the
// batches of the entry from s's position to the offset past span e, the
// entry's table parsed once.
func (x *offsetIndex) readRun(s, e int, fn func(batchLoc, []byte) bool) (bool, error) {
	pt := x.points[s]
	ents, err := x.src.Entries(pt.raftIndex, pt.raftIndex+1, indexReadBytes)
	if err != nil {
		return false, err
	}
	if len(ents) != 1 {
		return false, errShortEntry
	}
	data := ents[0].GetData()
	h, body, err := parseEntryHeader(data)
	if err != nil || h.cmd != cmdCompact {
		return false, errShortEntry
	}
	c, pos, err := parseCompact(body)
	if err != nil {
		return false, err
	}
	hdr := len(data) - len(body)
	end, bytes := x.spanEnd(e), pt.startBytes
	for i, cb := range c.batches {
		at := int32(hdr + pos[i])
		if at < pt.pos {
			continue
		}
		if cb.base >= end {
			break
		}
		bytes += int64(len(cb.data))
		loc := batchLoc{base: cb.base, count: cb.count, raftIndex: pt.raftIndex, term: cb.term, maxTS: cb.maxTS,
			bytes: int32(len(cb.data)), endBytes: bytes, pos: at}
		if !fn(loc, cb.data) {
			return true, nil
		}
	}
	return false, nil
}

// scanFrom calls fn with every batch from span s on (s == len(points): from
// the tail's first), oldest first, until it returns false. body is the
// batch's bytes when a span was read, nil for a tail batch (the caller reads
// it if it needs it).
func (x *offsetIndex) scanFrom(s int, fn func(loc batchLoc, body []byte) bool) error {
	live := func(loc batchLoc, body []byte) bool {
		// The first span may still hold batches below the log start.
		return loc.end() <= x.start || fn(loc, body)
	}
	for ; s < len(x.points); s++ {
		if pt := x.points[s]; pt.pos > 0 {
			// The run points of one entry are read in one walk of it.
			e := s
			for e+1 < len(x.points) && x.points[e+1].pos > 0 && x.points[e+1].raftIndex == pt.raftIndex {
				e++
			}
			if stopped, err := x.readRun(s, e, live); stopped || err != nil {
				return err
			}
			s = e
			continue
		}
		if stopped, err := x.readSpan(s, live); stopped || err != nil {
			return err
		}
	}
	for _, b := range x.tail {
		if !fn(b, nil) {
			return nil
		}
	}
	return nil
}

// scan calls fn with every batch from the one holding offset on, until it
// returns false.
func (x *offsetIndex) scan(offset int64, fn func(loc batchLoc, body []byte) bool) error {
	if len(x.tail) > 0 && offset >= x.tail[0].base {
		k := sort.Search(len(x.tail), func(i int) bool { return x.tail[i].end() > offset })
		for _, b := range x.tail[k:] {
			if !fn(b, nil) {
				return nil
			}
		}
		return nil
	}
	s := sort.Search(len(x.points), func(i int) bool { return x.spanEnd(i) > offset })
	return x.scanFrom(s, func(b batchLoc, body []byte) bool {
		if b.end() <= offset {
			return true
		}
		return fn(b, body)
	})
}

// find returns the batch holding offset; ok is false if none does (offset
// at or past the high watermark, or below the log's first batch).
func (x *offsetIndex) find(offset int64) (loc batchLoc, ok bool, err error) {
	err = x.scan(offset, func(b batchLoc, _ []byte) bool {
		loc, ok = b, b.base <= offset
		return false
	})
	return loc, ok, err
}

// firstAtOrAfterTS returns the first batch whose max timestamp is at or
// after ts: spans whose largest is earlier are passed over unread.
func (x *offsetIndex) firstAtOrAfterTS(ts int64) (loc batchLoc, ok bool, err error) {
	s := 0
	for s < len(x.points) && x.points[s].maxTS < ts {
		s++
	}
	err = x.scanFrom(s, func(b batchLoc, _ []byte) bool {
		if b.maxTS >= ts {
			loc, ok = b, true
			return false
		}
		return true
	})
	return loc, ok, err
}

// maxTimestamp returns the first batch with the largest max timestamp.
// Candidates in log order: the first span read (its largest may be of a
// batch below the log start), the later spans by their largest, the tail's
// batches; the first strictly largest wins.
func (x *offsetIndex) maxTimestamp() (loc batchLoc, ok bool, err error) {
	bestSpan := -1 // the span to read for the winner; -1: loc is it
	var bestTS int64
	consider := func(ts int64) bool {
		if !ok || ts > bestTS {
			ok, bestTS = true, ts
			return true
		}
		return false
	}
	if len(x.points) > 0 {
		if _, err := x.readSpan(0, func(b batchLoc, _ []byte) bool {
			if b.end() > x.start && consider(b.maxTS) {
				loc = b
			}
			return true
		}); err != nil {
			return loc, false, err
		}
	}
	for s := 1; s < len(x.points); s++ {
		if consider(x.points[s].maxTS) {
			bestSpan = s
		}
	}
	for _, b := range x.tail {
		if consider(b.maxTS) {
			loc, bestSpan = b, -1
		}
	}
	if bestSpan < 0 {
		return loc, ok, nil
	}
	found := false
	_, err = x.readSpan(bestSpan, func(b batchLoc, _ []byte) bool {
		if b.maxTS == bestTS {
			loc, found = b, true
			return false
		}
		return true
	})
	if err == nil && !found {
		// The span's largest was an upper bound (a span a compaction
		// split, replaceBelow): every batch is read instead.
		ok = false
		err = x.scanFrom(0, func(b batchLoc, _ []byte) bool {
			if !ok || b.maxTS > loc.maxTS {
				loc, ok = b, true
			}
			return true
		})
		return loc, ok, err
	}
	return loc, found, err
}

// firstEndingAfterBytes returns the first batch whose running byte total
// (endBytes) is above b.
func (x *offsetIndex) firstEndingAfterBytes(b int64) (loc batchLoc, ok bool, err error) {
	if len(x.tail) > 0 && b >= x.tail[0].startBytes() {
		if k := sort.Search(len(x.tail), func(i int) bool { return x.tail[i].endBytes > b }); k < len(x.tail) {
			return x.tail[k], true, nil
		}
		return loc, false, nil
	}
	s := sort.Search(len(x.points), func(i int) bool { return x.spanEndBytes(i) > b })
	err = x.scanFrom(s, func(l batchLoc, _ []byte) bool {
		if l.endBytes > b {
			loc, ok = l, true
			return false
		}
		return true
	})
	return loc, ok, err
}

// bytesFrom is the bytes of the batches from the one holding offset (or the
// first after it, offset in a compacted log's gap) to the end.
func (x *offsetIndex) bytesFrom(offset int64) (int64, error) {
	var loc batchLoc
	var ok bool
	err := x.scan(offset, func(b batchLoc, _ []byte) bool {
		loc, ok = b, true
		return false
	})
	if !ok || err != nil {
		return 0, err
	}
	return x.endBytes - loc.startBytes(), nil
}

// termAt is the epoch offset is in by the epoch history (Kafka's
// epochForOffset): the batch's holding it, or inside a compaction's gap the
// epoch of the batches before it, a log start in a gap included (ok false
// if below every epoch or past the log).
func (x *offsetIndex) termAt(offset int64) (uint64, bool) {
	if x.empty() || offset < min(x.firstBase(), x.start) || offset >= x.last().end() {
		return 0, false
	}
	k := sort.Search(len(x.epochs), func(i int) bool { return x.epochs[i].base > offset })
	if k == 0 {
		return 0, false
	}
	return x.epochs[k-1].term, true
}

// truncate drops the batches wholly below logStart (the one it falls inside
// stays, and is served whole, as a Kafka segment is). It reads nothing: whole
// spans below it go, and the span it falls inside stays whole, its batches
// below logStart passed over by every lookup (start). So raft storage is
// compacted below that span's point (firstRaft), and a state restored from a
// checkpoint older than the last compaction, whose entries below it are gone,
// replays its log start entries without reading them.
func (x *offsetIndex) truncate(logStart int64) {
	x.start = max(x.start, logStart)
	switch {
	case x.empty():
		return
	case logStart >= x.last().end():
		x.points, x.tail, x.skips, x.epochs = nil, nil, nil, nil
		return
	case logStart >= x.tail[0].base:
		k := sort.Search(len(x.tail), func(i int) bool { return x.tail[i].end() > logStart })
		// Copies, so the dropped prefix's memory goes.
		x.points, x.tail = nil, append([]batchLoc(nil), x.tail[k:]...)
	default:
		s := sort.Search(len(x.points), func(i int) bool { return x.spanEnd(i) > logStart })
		if s > 0 {
			x.points = append([]indexPoint(nil), x.points[s:]...)
		}
	}
	x.pruneSkips()
	// The epoch of the batch logStart falls in starts the history (no batch
	// starts between that batch's base and logStart).
	e := 0
	for e+1 < len(x.epochs) && x.epochs[e+1].base <= logStart {
		e++
	}
	if e > 0 {
		x.epochs = append([]epochStart(nil), x.epochs[e:]...)
	}
}

// appendTo encodes the index for a partition snapshot or checkpoint: the
// points, the exact tail, the skips and epochs of the raft log above from
// (the log's first index less one, or the snapshot's index: older entries
// are not in the raft log the state goes with). Points and skips are delta
// encoded: a few bytes per indexIntervalBytes of log.
func (x *offsetIndex) appendTo(b []byte, from uint64) []byte {
	b = binary.AppendVarint(b, x.endBytes)
	b = binary.AppendUvarint(b, x.lastRaft)
	// A span goes only if all of it is at or below from: one a state
	// restored from an older checkpoint still holds, part compacted, is
	// kept whole (its log start entries, replaying, drop it).
	// Run points are not in raft order, so each is judged by its own.
	pts := make([]indexPoint, 0, len(x.points))
	for i, pt := range x.points {
		if x.spanEndRaft(i) > from {
			pts = append(pts, pt)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(pts)))
	var prev indexPoint
	for _, pt := range pts {
		b = binary.AppendVarint(b, pt.base-prev.base)
		b = binary.AppendVarint(b, int64(pt.raftIndex)-int64(prev.raftIndex))
		b = binary.AppendVarint(b, pt.startBytes-prev.startBytes)
		b = binary.AppendVarint(b, pt.maxTS-prev.maxTS)
		b = binary.AppendVarint(b, int64(pt.pos))
		prev = pt
	}
	// The tail too (under a dense index's planted bugs it holds a run).
	tail := make([]batchLoc, 0, len(x.tail))
	for _, bl := range x.tail {
		if bl.raftIndex > from {
			tail = append(tail, bl)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(tail)))
	if len(tail) > 0 {
		// endBytes is cumulative: the first's start carries the sum of
		// those before it, so a restored index answers sizes as this one.
		b = binary.AppendVarint(b, tail[0].startBytes())
	}
	for _, bl := range tail {
		b = binary.AppendVarint(b, bl.base)
		b = binary.AppendVarint(b, int64(bl.count))
		b = binary.AppendUvarint(b, bl.raftIndex)
		b = binary.AppendUvarint(b, bl.term)
		b = binary.AppendVarint(b, bl.maxTS)
		b = binary.AppendVarint(b, int64(bl.bytes))
		b = binary.AppendVarint(b, int64(bl.pos))
	}
	skips := x.skips[sort.Search(len(x.skips), func(i int) bool { return x.skips[i].hi > from }):]
	b = binary.AppendUvarint(b, uint64(len(skips)))
	var last uint64
	for _, r := range skips {
		b = binary.AppendUvarint(b, r.lo-last)
		b = binary.AppendUvarint(b, r.hi-r.lo)
		last = r.hi
	}
	b = binary.AppendUvarint(b, uint64(len(x.epochs)))
	for _, e := range x.epochs {
		b = binary.AppendUvarint(b, e.term)
		b = binary.AppendVarint(b, e.base)
	}
	return b
}

// readIndex decodes what appendTo wrote into a new index (count bounds
// every count by the bytes left, so a corrupt encoding cannot allocate
// wildly).
func readIndex(d *dec, count func() int) offsetIndex {
	var x offsetIndex
	x.endBytes, x.lastRaft = d.varint(), d.uvarint()
	if n := count(); n > 0 {
		x.points = make([]indexPoint, 0, n)
		var pt indexPoint
		for i := 0; i < n && d.err == nil; i++ {
			pt.base += d.varint()
			pt.raftIndex = uint64(int64(pt.raftIndex) + d.varint())
			pt.startBytes += d.varint()
			pt.maxTS += d.varint()
			pt.pos = int32(d.varint())
			x.points = append(x.points, pt)
		}
	}
	if n := count(); n > 0 {
		end := d.varint()
		x.tail = make([]batchLoc, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			bl := batchLoc{base: d.varint(), count: int32(d.varint()), raftIndex: d.uvarint(), term: d.uvarint(), maxTS: d.varint(), bytes: int32(d.varint()), pos: int32(d.varint())}
			end += int64(bl.bytes)
			bl.endBytes = end
			x.tail = append(x.tail, bl)
		}
	}
	var last uint64
	for i, n := 0, count(); i < n && d.err == nil; i++ {
		r := skipRun{lo: last + d.uvarint()}
		r.hi = r.lo + d.uvarint()
		x.skips = append(x.skips, r)
		last = r.hi
	}
	for i, n := 0, count(); i < n && d.err == nil; i++ {
		x.epochs = append(x.epochs, epochStart{term: d.uvarint(), base: d.varint()})
	}
	if d.err == nil && len(x.points) > 0 && len(x.tail) == 0 {
		d.err = errBadPartSnapshot // spans end where the tail starts
	}
	return x
}

// indexFromBatches builds an index from an exact batch list (version 2 of
// the partition state) as of stateIndex. Which entries between the batches
// appended nothing is not known, so every raft index between them, and past
// the last through stateIndex, is recorded as skipped: none of them is a
// batch.
func indexFromBatches(batches []batchLoc, stateIndex uint64) offsetIndex {
	var x offsetIndex
	if len(batches) > 0 {
		x.endBytes = batches[0].startBytes()
	}
	for _, bl := range batches {
		if x.lastRaft != 0 && bl.raftIndex > x.lastRaft+1 {
			x.skips = append(x.skips, skipRun{lo: x.lastRaft + 1, hi: bl.raftIndex - 1})
		}
		x.append(bl.base, bl.count, bl.raftIndex, bl.term, bl.maxTS, bl.bytes)
	}
	if x.lastRaft != 0 && stateIndex > x.lastRaft {
		x.skips = append(x.skips, skipRun{lo: x.lastRaft + 1, hi: stateIndex})
	}
	return x
}

// replaceBelow puts a compaction's cleaned run in place: every point and
// tail batch below offset (the cleaner point, a batch boundary) goes, and
// locs (the run, in its compaction entry, oldest first) come before what
// stays. The running byte totals of what stays are unchanged: the run is
// numbered to end where they start (its totals may go below zero; only
// differences are read). dirtyRaft and dirtyBytes locate the first batch at
// or after offset (its entry, or where reading forward finds it, and the
// bytes before it), as the proposer's index had them: when offset falls
// inside a span, that batch starts a point of its own (the span's largest
// timestamp, kept for it, is then an upper bound). It reads nothing, so a
// replica replaying it from an old checkpoint needs no entry that is gone.
func (x *offsetIndex) replaceBelow(offset int64, locs []batchLoc, dirtyRaft uint64, dirtyBytes int64) {
	k := sort.Search(len(x.tail), func(i int) bool { return x.tail[i].base >= offset })
	tail := append([]batchLoc(nil), x.tail[k:]...)
	var pts []indexPoint
	if !x.dense && k == 0 && len(x.tail) > 0 && x.tail[0].base > offset {
		// Offset is below the tail: the points from it on stay, and one
		// at it if it falls inside a span.
		s := sort.Search(len(x.points), func(i int) bool { return x.points[i].base >= offset })
		if s > 0 && x.spanEnd(s-1) > offset {
			pts = append(pts, indexPoint{base: offset, raftIndex: dirtyRaft, startBytes: dirtyBytes, maxTS: x.points[s-1].maxTS})
		}
		pts = append(pts, x.points[s:]...)
	}
	end := x.endBytes // the bytes before what stays
	switch {
	case len(pts) > 0:
		end = pts[0].startBytes
	case len(tail) > 0:
		end = tail[0].startBytes()
	}
	for i := len(locs) - 1; i >= 0; i-- {
		locs[i].endBytes = end
		end -= int64(locs[i].bytes)
	}
	x.points = nil
	if x.dense {
		x.tail = append(locs, tail...)
		x.pruneSkips()
		return
	}
	if len(tail) == 0 && len(locs) > 0 {
		// Nothing dirty stays: the run's last batch is the tail, which
		// holds the newest batch while the index is not empty.
		tail = append(tail, locs[len(locs)-1])
		locs = locs[:len(locs)-1]
	}
	for _, b := range locs {
		x.retire(b)
	}
	x.points = append(x.points, pts...)
	x.tail = tail
	x.pruneSkips()
}

// pruneSkips drops the skips below the lowest raft index still read.
func (x *offsetIndex) pruneSkips() {
	first := x.firstRaft() // a dirty point's entry may itself be a skipped one
	k := sort.Search(len(x.skips), func(i int) bool { return x.skips[i].hi >= first })
	if k > 0 {
		x.skips = append([]skipRun(nil), x.skips[k:]...)
	}
}
