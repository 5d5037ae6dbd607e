package node

// Log compaction (cleanup.policy=compact; DESIGN.md "The log's lifecycle").
//
// Replicas must hold the same log, so a compaction is a replicated rewrite,
// not each replica's own: every CleanerInterval (log.cleaner.backoff.ms)
// the leader of each compacted partition it serves picks a cleaner point P
// (at most the newest batch's base: that batch is read into the key map
// but never cleaned, as Kafka never cleans the active segment, so the log
// never ends in a gap; before the first batch younger than
// min.compaction.lag.ms by its clock; and only
// when the dirty part, [cleanedEnd, P), is at least half of [logStart, P),
// Kafka's min.cleanable.dirty.ratio), builds a key map of the dirty part
// (the newest offset of every key), and rewrites [logStart, P): a record
// stays if no newer record of its key is in the map. Each batch keeps its
// base offset, offset span (lastOffsetDelta), producer fields, leader epoch
// and record timestamps, as Kafka's cleaner keeps them; a batch that lost
// records is written uncompressed, one that lost none is kept byte for byte
// (so still compressed), one that lost all is dropped: offsets never
// change, gaps appear. Tombstones (null values) stay until their batch's
// delete horizon has passed: the first clean that keeps a tombstone stamps
// the batch with horizon = its clock + delete.retention.ms (KIP-534's
// deleteHorizonMs, in the batch's first timestamp), a later clean past it
// drops them. The leader proposes one cmdCompact entry carrying the region,
// the generation of the cleaned region it read (cleanGen), where the batch
// at P is in its index, and the cleaned batches; every replica applies it
// the same way: refused (a no-op) if the generation moved, else the offset
// index below P is replaced by the entry's batches (clipped to the current
// log start), which live in that entry (batchLoc.pos; the index's run
// points, offsetIndex.replaceBelow), and raft storage compacts below the first raft
// index still referenced (compactPart): the dirty prefix's entries go. A
// compaction never moves the log start or the high watermark, and
// producer state (in the partition state, not the log) is untouched.
//
// Bounds: the dirty part read per pass is at most cleanerDirtyBytesMax
// (the rest waits for the next pass, as Kafka's dedupe buffer bounds its
// key map), and an entry's cleaned batches at most cleanedBytesMax (the
// region is cut at a batch boundary before it; a log whose distinct live
// keys alone take more is cleaned only in its first cleanedBytesMax).
// __consumer_offsets is cleaned so too (created with cleanup.policy
// compact, as Kafka creates it): the coordinator's state is the fold of its
// log, and every record it writes is keyed, a deletion a tombstone per key,
// so the fold of the cleaned log is the state (Node.CheckCoordinatorLog).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/ketch-dev/ketch/wire"
)

const (
	// cleanerIntervalDefault is Kafka's log.cleaner.backoff.ms.
	cleanerIntervalDefault = 15 * time.Second
	// cleanedBytesMax bounds one compaction entry, well under the peer
	// frame (64 MiB).
	cleanedBytesMax = 16 << 20
	// cleanerDirtyBytesMax bounds the dirty part one pass reads into its
	// key map.
	cleanerDirtyBytesMax = 64 << 20
)

// compactResult is what applying a cmdCompact tells its proposer.
type compactResult struct{ applied bool }

// cleanedBatch is one batch of a compaction entry.
type cleanedBatch struct {
	base  int64
	count int32
	term  uint64
	maxTS int64
	data  []byte
}

// compactBody is a cmdCompact entry's body.
type compactBody struct {
	gen      uint64
	from, to int64
	// horizon is the earliest delete horizon of the cleaned batches (-1
	// if none keeps a tombstone): when a pass is due for them alone.
	horizon int64
	// dirtyRaft and dirtyBytes locate the batch at to in the proposer's
	// index (the raft index to read forward from for it, and the log's
	// bytes before it), so applying needs no read (replaceBelow).
	dirtyRaft  uint64
	dirtyBytes int64
	batches    []cleanedBatch
}

func appendCompact(dst []byte, c compactBody) []byte {
	dst = binary.AppendUvarint(dst, c.gen)
	dst = binary.AppendVarint(dst, c.from)
	dst = binary.AppendVarint(dst, c.to)
	dst = binary.AppendVarint(dst, c.horizon)
	dst = binary.AppendUvarint(dst, c.dirtyRaft)
	dst = binary.AppendVarint(dst, c.dirtyBytes)
	dst = binary.AppendUvarint(dst, uint64(len(c.batches)))
	for _, b := range c.batches {
		dst = binary.AppendVarint(dst, b.base)
		dst = binary.AppendVarint(dst, int64(b.count))
		dst = binary.AppendUvarint(dst, b.term)
		dst = binary.AppendVarint(dst, b.maxTS)
		dst = binary.AppendUvarint(dst, uint64(len(b.data)))
		dst = append(dst, b.data...)
	}
	return dst
}

// parseCompact reads a cmdCompact body; each batch's pos is its offset in
// body (the batch data aliases body).
func parseCompact(body []byte) (compactBody, []int, error) {
	d := dec{b: body}
	c := compactBody{gen: d.uvarint(), from: d.varint(), to: d.varint(), horizon: d.varint(), dirtyRaft: d.uvarint(), dirtyBytes: d.varint()}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return c, nil, errShortEntry
	}
	var pos []int
	for i := uint64(0); i < n && d.err == nil; i++ {
		b := cleanedBatch{base: d.varint(), count: int32(d.varint()), term: d.uvarint(), maxTS: d.varint()}
		l := d.uvarint()
		if d.err != nil || l > uint64(len(d.b)) || l < wire.BatchHeaderBytes {
			return c, nil, errShortEntry
		}
		pos = append(pos, len(body)-len(d.b))
		b.data = d.b[:l]
		d.b = d.b[l:]
		c.batches = append(c.batches, b)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errShortEntry
	}
	return c, pos, d.err
}

// applyCompactEntry applies a cmdCompact entry at index; hdrBytes is how
// many bytes of the entry's data precede body.
func (n *Node) applyCompactEntry(g *group, index uint64, hdrBytes int, body []byte) any {
	c, pos, err := parseCompact(body)
	if err != nil {
		n.stop(fmt.Errorf("group %d index %d: %v", g.id, index, err))
		return compactResult{}
	}
	if !g.part.applyCompact(index, hdrBytes, c, pos) {
		return compactResult{}
	}
	g.compactDue = true
	return compactResult{applied: true}
}

// applyCompact applies a parsed cmdCompact (pos: its batches' positions in
// body, hdrBytes before it in the entry's data at index), or refuses it.
func (p *partState) applyCompact(index uint64, hdrBytes int, c compactBody, pos []int) bool {
	if c.gen != p.cleanGen || c.to > p.next || c.to < p.cleanedEnd {
		return false // proposed against another log: every replica refuses it
	}
	locs := make([]batchLoc, 0, len(c.batches))
	for i, b := range c.batches {
		if b.base+int64(b.count) <= p.logStart {
			continue // below a log start that moved since the leader read it
		}
		locs = append(locs, batchLoc{base: b.base, count: b.count, pos: int32(hdrBytes + pos[i]), raftIndex: index,
			term: b.term, maxTS: b.maxTS, bytes: int32(len(b.data))})
	}
	p.cleanGen++
	p.cleanedEnd, p.cleanHorizon = c.to, c.horizon
	p.idx.replaceBelow(c.to, locs, c.dirtyRaft, c.dirtyBytes)
	return true
}

// batchBytes reads a stored batch: a produced one is its entry's body, a
// cleaned one a slice of its compaction entry.
func (g *group) batchBytes(loc batchLoc) ([]byte, error) {
	e, err := g.st.Entry(loc.raftIndex)
	if err != nil {
		return nil, err
	}
	if loc.pos == 0 {
		return entryBatch(e.GetData())
	}
	data := e.GetData()
	if int(loc.pos)+int(loc.bytes) > len(data) || loc.pos < 0 || loc.bytes < 0 {
		return nil, errShortEntry
	}
	return data[loc.pos : loc.pos+loc.bytes], nil
}

// compacted reports whether a topic's cleanup.policy includes compact.
func (n *Node) compacted(t *topicMeta) bool {
	return strings.Contains(n.topicString(t, "cleanup.policy"), "compact")
}

// checkCompaction runs the periodic cleaner pass when it is due (from
// Tick).
func (n *Node) checkCompaction() {
	if n.cleanerCheckAt.IsZero() {
		n.cleanerCheckAt = n.now.Add(n.cfg.CleanerInterval)
		return
	}
	if n.now.Before(n.cleanerCheckAt) {
		return
	}
	n.cleanerCheckAt = n.now.Add(n.cfg.CleanerInterval)
	for _, id := range n.groupOrder {
		g := n.groups[id]
		p := g.part
		if p == nil || !g.serving() || g.cleanPending {
			continue
		}
		t := n.meta.topics[p.topic]
		if t == nil || !n.compacted(t) {
			continue
		}
		c, ok, err := n.planCompaction(g, t)
		if err != nil {
			n.stop(err)
			return
		}
		if !ok {
			continue
		}
		g.cleanPending = true
		done := func(any) { g.cleanPending = false }
		n.propose(g, cmdCompact, appendCompact(nil, c), n.now.Add(n.cfg.CleanerInterval), done, func(int16) { g.cleanPending = false })
	}
}

// planCompaction computes the compacted form of a partition's log from
// its applied state, if a clean is due (see the file comment). It reads the
// log forward through the offset index twice: the dirty part for the key
// map, then [logStart, end of the dirty part) to rewrite it.
func (n *Node) planCompaction(g *group, t *topicMeta) (compactBody, bool, error) {
	p := g.part
	x := &p.idx
	nowMs := n.now.UnixMilli()
	lag := n.topicInt(t, "min.compaction.lag.ms")
	deleteRetention := n.topicInt(t, "delete.retention.ms")
	if x.empty() {
		return compactBody{}, false, nil
	}
	body := func(loc batchLoc, data []byte) ([]byte, error) {
		if data != nil {
			return data, nil
		}
		return g.batchBytes(loc)
	}
	// The dirty part [dirtyFirst, endOff): from the cleaned end, until a
	// batch younger than the lag (and so is what follows, near enough) or
	// a full pass. end is the first batch past it (endOK false: none).
	newest := map[string]int64{} // the key map: the newest offset of every key in the dirty part
	dirtyFirst, endOff := int64(-1), p.next
	// active is the first batch of the active segment (segments.go): the
	// dirty part ends before it, as Kafka's ends at the first uncleanable
	// offset, but the key map reads on through it (as far as the lag and
	// the pass's bound allow), so a record it supersedes goes at this pass.
	active := g.cleanableEnd()
	bugActive := n.cfg.Bug == BugCleanActiveSegment
	if bugActive {
		active = p.next // planted: the active segment, newest batch and all, is cleaned
	}
	var dirtyStartBytes, dirtyEndBytes int64
	var end batchLoc
	endOK := false
	var failed error
	err := x.scan(p.cleanedEnd, func(loc batchLoc, data []byte) bool {
		if dirtyFirst < 0 {
			dirtyFirst, dirtyStartBytes = loc.base, loc.startBytes()
		}
		// No batch is too young without a lag (Kafka checks it only when
		// positive): a batch stamped ahead of this clock (a producer's
		// clock ahead, CreateTime) once stopped every pass at it.
		if (lag > 0 && nowMs-loc.maxTS < lag) || loc.endBytes-dirtyStartBytes > cleanerDirtyBytesMax {
			if !endOK {
				end, endOK, endOff = loc, true, loc.base
			}
			return false
		}
		if loc.base >= active && !endOK {
			end, endOK, endOff = loc, true, loc.base
		}
		if !endOK {
			dirtyEndBytes = loc.endBytes
		}
		if data, failed = body(loc, data); failed != nil {
			return false
		}
		_, recs, deltas, err := wire.ParseLogRecords(data, wire.DecodedBytesCeiling)
		if err != nil {
			failed = err
			return false
		}
		for i, r := range recs {
			if r.Key != nil {
				newest[string(r.Key)] = loc.base + int64(deltas[i])
			}
		}
		return true
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		return compactBody{}, false, err
	}
	if dirtyFirst < 0 {
		dirtyFirst = p.next
	}
	if !endOK && !bugActive {
		// The newest batch is never cleaned (cleanableEnd): a log whose
		// last batch a clean removed (its tombstones past their horizon)
		// would end in a gap below the high watermark, where a consumer's
		// fetch finds no batch at or after its offset and never reaches
		// the end (kcat -e stalled so).
		end, endOK, endOff = *x.last(), true, x.last().base
	}
	// Due when the dirty part is at least half the log to clean (Kafka's
	// min.cleanable.dirty.ratio, 0.5), or a kept tombstone's delete
	// horizon has passed (KIP-534 makes such a log cleanable too).
	horizonDue := p.cleanHorizon >= 0 && p.cleanHorizon <= nowMs
	dirtyDue := false
	if endOff > dirtyFirst {
		total := dirtyEndBytes - x.firstStartBytes()
		dirtyDue = 2*(dirtyEndBytes-dirtyStartBytes) >= total
	}
	if !dirtyDue && !horizonDue {
		return compactBody{}, false, nil
	}
	c := compactBody{gen: p.cleanGen, from: p.logStart, horizon: -1}
	size := 0
	cutOff := endOff
	cut := end
	err = x.scanFrom(0, func(loc batchLoc, data []byte) bool {
		if loc.base >= endOff {
			return false
		}
		if data, failed = body(loc, data); failed != nil {
			return false
		}
		h, recs, deltas, err := wire.ParseLogRecords(data, wire.DecodedBytesCeiling)
		if err != nil {
			failed = err
			return false
		}
		horizon, hasHorizon := h.DeleteHorizon()
		keptRecs, keptDeltas := recs[:0:0], deltas[:0:0]
		tombstones := false
		for i, r := range recs {
			off := loc.base + int64(deltas[i])
			if r.Key != nil {
				if o, ok := newest[string(r.Key)]; ok && o != off {
					continue // a newer record of the key is in the log
				}
			}
			if r.Value == nil && r.Key != nil {
				if hasHorizon && horizon <= nowMs {
					continue // past its delete horizon
				}
				if n.cfg.Bug == BugTombstoneRecordTime && !hasHorizon && h.RecordTimestamp(r)+deleteRetention <= nowMs {
					continue // planted: the record's own time taken for when it was written
				}
				tombstones = true
			}
			keptRecs, keptDeltas = append(keptRecs, r), append(keptDeltas, deltas[i])
		}
		var out []byte
		switch {
		case len(keptRecs) == 0:
			return true // the whole batch goes; its offsets become a gap
		case len(keptRecs) == len(recs) && (!tombstones || hasHorizon):
			out = data // nothing to change: kept as stored
		default:
			hz := int64(-1)
			if tombstones {
				hz = nowMs + deleteRetention
				if hasHorizon {
					hz = horizon
				}
			}
			out = wire.AppendCleanedBatch(nil, h, keptRecs, keptDeltas, hz)
		}
		if size+len(out) > cleanedBytesMax {
			cutOff, cut = loc.base, loc
			return false
		}
		if tombstones {
			hz, _ := wire.ParseBatchHeader(out)
			if t, ok := hz.DeleteHorizon(); ok && (c.horizon < 0 || t < c.horizon) {
				c.horizon = t
			}
		}
		size += len(out)
		maxTS := loc.maxTS
		if !bytes.Equal(out, data) {
			if oh, err := wire.ParseBatchHeader(out); err == nil {
				maxTS = oh.MaxTimestamp
			}
		}
		c.batches = append(c.batches, cleanedBatch{base: loc.base, count: loc.count, term: loc.term, maxTS: maxTS, data: out})
		return true
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		return compactBody{}, false, err
	}
	if cutOff < dirtyFirst || (cutOff == dirtyFirst && !horizonDue) {
		return compactBody{}, false, nil // the clean part alone fills an entry: nothing to gain
	}
	// The batch at to is in the log (at worst the newest, never cleaned).
	c.to = cutOff
	c.dirtyRaft, c.dirtyBytes = cut.raftIndex, cut.startBytes()
	if bugActive && !endOK && cutOff == endOff {
		// No batch at to yet: the first appended from here on is the one.
		c.dirtyRaft, c.dirtyBytes = x.lastRaft+1, x.endBytes
	}
	return c, true, nil
}

// readLogBatch reads and decodes a stored batch, gaps allowed.
func (n *Node) readLogBatch(g *group, loc batchLoc) (wire.BatchHeader, []wire.Record, []int32, error) {
	data, err := g.batchBytes(loc)
	if err != nil {
		return wire.BatchHeader{}, nil, nil, err
	}
	return wire.ParseLogRecords(data, wire.DecodedBytesCeiling)
}
