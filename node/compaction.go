package node

// Log compaction (cleanup.policy=compact; DESIGN.md "The log's lifecycle").
//
// Replicas must hold the same log, so a compaction is a replicated rewrite,
// not each replica's own: every CleanerInterval (log.cleaner.backoff.ms)
// the leader of each compacted partition it serves picks a cleaner point P
// (at most the high watermark, which in ketch is the applied end; before
// the first batch younger than min.compaction.lag.ms by its clock; and only
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
// the generation of the cleaned region it read (cleanGen) and the cleaned
// batches; every replica applies it the same way: refused (a no-op) if the
// generation moved, else the batch index below P is replaced by the
// entry's batches (clipped to the current log start), which live in that
// entry (batchLoc.pos), and raft storage compacts below the first raft
// index still referenced (compactPart): the dirty prefix's entries go. A
// compaction never moves the log start or the high watermark, and
// producer state (in the partition state, not the log) is untouched.
//
// Bounds: the dirty part read per pass is at most cleanerDirtyBytesMax
// (the rest waits for the next pass, as Kafka's dedupe buffer bounds its
// key map), and an entry's cleaned batches at most cleanedBytesMax (the
// region is cut at a batch boundary before it; a log whose distinct live
// keys alone take more is cleaned only in its first cleanedBytesMax).
// __consumer_offsets is not cleaned here: its snapshot points already drop
// its whole log into the coordinator's state (part_snapshot.go).

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
	batches []cleanedBatch
}

func appendCompact(dst []byte, c compactBody) []byte {
	dst = binary.AppendUvarint(dst, c.gen)
	dst = binary.AppendVarint(dst, c.from)
	dst = binary.AppendVarint(dst, c.to)
	dst = binary.AppendVarint(dst, c.horizon)
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
	c := compactBody{gen: d.uvarint(), from: d.varint(), to: d.varint(), horizon: d.varint()}
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
	p := g.part
	if c.gen != p.cleanGen || c.to > p.next || c.to < p.cleanedEnd {
		return compactResult{} // proposed against another log: every replica refuses it
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
	p.replaceBelow(c.to, locs)
	g.compactDue = true
	return compactResult{applied: true}
}

// replaceBelow replaces the batch index below offset (a batch boundary)
// with locs, recomputing the cumulative sizes.
func (p *partState) replaceBelow(offset int64, locs []batchLoc) {
	var before int64 // bytes counted before the first batch, kept so sizes stay comparable
	if len(p.batches) > 0 {
		before = p.batches[0].endBytes - int64(p.batches[0].bytes)
	}
	k := p.find(offset)
	out := make([]batchLoc, 0, len(locs)+len(p.batches)-k)
	out = append(append(out, locs...), p.batches[k:]...)
	for i := range out {
		before += int64(out[i].bytes)
		out[i].endBytes = before
	}
	p.batches = out
}

// firstRaftIndex is the lowest raft index a batch of the index lives in
// (not the first batch's: the cleaned batches live in their compaction's
// entry, above the dirty ones). The index must not be empty.
func (p *partState) firstRaftIndex() uint64 {
	first := p.batches[0].raftIndex
	for _, b := range p.batches[1:] {
		first = min(first, b.raftIndex)
	}
	return first
}

// batchesAbove lists the batches living in raft entries above index.
func (p *partState) batchesAbove(index uint64) []batchLoc {
	for _, b := range p.batches {
		if b.raftIndex <= index {
			out := make([]batchLoc, 0, len(p.batches))
			for _, b := range p.batches {
				if b.raftIndex > index {
					out = append(out, b)
				}
			}
			return out
		}
	}
	return p.batches
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
		if p == nil || p.coord != nil || !g.serving() || isInternalTopic(p.topic) || g.cleanPending {
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
// its applied state, if a clean is due (see the file comment).
func (n *Node) planCompaction(g *group, t *topicMeta) (compactBody, bool, error) {
	p := g.part
	nowMs := n.now.UnixMilli()
	lag := n.topicInt(t, "min.compaction.lag.ms")
	deleteRetention := n.topicInt(t, "delete.retention.ms")
	if len(p.batches) == 0 {
		return compactBody{}, false, nil
	}
	before := p.batches[0].endBytes - int64(p.batches[0].bytes)
	dirty := p.find(p.cleanedEnd)
	end := dirty
	for end < len(p.batches) {
		b := p.batches[end]
		if nowMs-b.maxTS < lag || b.endBytes-p.batches[dirty].endBytes+int64(p.batches[dirty].bytes) > cleanerDirtyBytesMax {
			break // younger than the lag (and so is what follows, near enough), or the pass is full
		}
		end++
	}
	// Due when the dirty part is at least half the log to clean (Kafka's
	// min.cleanable.dirty.ratio, 0.5), or a kept tombstone's delete
	// horizon has passed (KIP-534 makes such a log cleanable too).
	horizonDue := p.cleanHorizon >= 0 && p.cleanHorizon <= nowMs
	dirtyDue := false
	if end > dirty {
		total := p.batches[end-1].endBytes - before
		dirtyBytes := p.batches[end-1].endBytes - (p.batches[dirty].endBytes - int64(p.batches[dirty].bytes))
		dirtyDue = 2*dirtyBytes >= total
	}
	if !dirtyDue && !horizonDue {
		return compactBody{}, false, nil
	}
	// The key map: the newest offset of every key in the dirty part.
	newest := map[string]int64{}
	for k := dirty; k < end; k++ {
		loc := p.batches[k]
		_, recs, deltas, err := n.readLogBatch(g, loc)
		if err != nil {
			return compactBody{}, false, err
		}
		for i, r := range recs {
			if r.Key != nil {
				newest[string(r.Key)] = loc.base + int64(deltas[i])
			}
		}
	}
	c := compactBody{gen: p.cleanGen, from: p.logStart, horizon: -1}
	size := 0
	cut := end
	for k := 0; k < end; k++ {
		loc := p.batches[k]
		data, err := g.batchBytes(loc)
		if err != nil {
			return compactBody{}, false, err
		}
		h, recs, deltas, err := wire.ParseLogRecords(data, wire.DecodedBytesCeiling)
		if err != nil {
			return compactBody{}, false, err
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
			continue // the whole batch goes; its offsets become a gap
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
		if tombstones {
			hz, _ := wire.ParseBatchHeader(out)
			if t, ok := hz.DeleteHorizon(); ok && (c.horizon < 0 || t < c.horizon) {
				c.horizon = t
			}
		}
		if size+len(out) > cleanedBytesMax {
			cut = k
			break
		}
		size += len(out)
		maxTS := loc.maxTS
		if !bytes.Equal(out, data) {
			if oh, err := wire.ParseBatchHeader(out); err == nil {
				maxTS = oh.MaxTimestamp
			}
		}
		c.batches = append(c.batches, cleanedBatch{base: loc.base, count: loc.count, term: loc.term, maxTS: maxTS, data: out})
	}
	if cut < dirty || (cut == dirty && !horizonDue) {
		return compactBody{}, false, nil // the clean part alone fills an entry: nothing to gain
	}
	if cut == len(p.batches) {
		c.to = p.next
	} else {
		c.to = p.batches[cut].base
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
