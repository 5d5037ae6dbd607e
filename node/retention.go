package node

// The log start offset and retention (DESIGN.md "The log's lifecycle").
//
// A partition's log start moves only by a replicated entry (cmdLogStart),
// proposed by its leader for DeleteRecords (delete_records.go) or when the
// topic's retention is due, so every replica moves it at the same index to
// the same offset and a failover never brings deleted records back. Applying
// it raises the log start (never lowers it, never past the high watermark),
// drops the offset index's spans wholly below it, and compacts raft storage
// below the first one kept (the span the start falls in, or the first live
// batch when that is in the index's exact tail: offset_index.go): a
// snapshot at S = (its raft index) - 1, holding the state as of the applied
// index with the index above S (encodeState), then Compact(S). A follower behind S gets that snapshot, restores the state and
// receives the retained entries by ordinary append (applyReady skips those
// at or below the state's index: group.placed). The wal deletes a segment
// once every group in it has compacted past it.
//
// Retention, as Kafka's UnifiedLog.deleteOldSegments with a batch for a
// segment (ketch has no per-partition segments; a batch is the smallest unit
// the batch index knows): every RetentionCheckInterval
// (log.retention.check.interval.ms) the leader of each partition it serves
// drops, from the front, the batches whose max timestamp is more than
// retention.ms older than its clock, then the oldest batches while what is
// left stays at least retention.bytes, and proposes the new log start. Like
// Kafka (since 2.x it rolls and deletes the active segment once it
// breaches), the last batch goes too once it is due: the log is then empty
// and its start is the high watermark. Topics without "delete" in
// cleanup.policy delete nothing (cleanup.policy=compact alone: the log
// cleaner's, compaction.go), nor do internal topics
// (__consumer_offsets has its own snapshot points, part_snapshot.go).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/raft/v3"
)

// retentionCheckDefault is Kafka's log.retention.check.interval.ms.
const retentionCheckDefault = 5 * time.Minute

// appendLogStart encodes a cmdLogStart body.
func appendLogStart(dst []byte, offset int64) []byte { return binary.AppendVarint(dst, offset) }

func parseLogStart(b []byte) (int64, error) {
	d := dec{b: b}
	off := d.varint()
	if d.err == nil && len(d.b) != 0 {
		d.err = errShortEntry
	}
	return off, d.err
}

// logStartResult is what applying a cmdLogStart tells its proposer: the log
// start after it (DeleteRecords' low watermark).
type logStartResult struct{ logStart int64 }

// applyLogStart raises the log start to offset (at most the high
// watermark) and drops the batches wholly below it; a batch the new start
// falls inside stays, and is served whole, as a Kafka segment is. It
// reports whether the start moved.
func (p *partState) applyLogStart(offset int64) bool {
	offset = min(offset, p.next)
	if offset <= p.logStart {
		return false
	}
	p.logStart = offset
	p.idx.truncate(offset)
	return true
}

// applyLogStartEntry applies a cmdLogStart entry; the partition's storage is
// compacted right after (maybeSnapshotPart), the state then being of this
// entry's index.
func (n *Node) applyLogStartEntry(g *group, index uint64, body []byte) any {
	off, err := parseLogStart(body)
	if err != nil {
		n.stop(fmt.Errorf("group %d index %d: %v", g.id, index, err))
		return logStartResult{logStart: g.part.logStart}
	}
	if g.part.applyLogStart(off) {
		g.compactDue = true
		n.wakeParked(g) // a fetch parked below the new start is answered now
	}
	return logStartResult{logStart: g.part.logStart}
}

// compactPart snapshots and compacts a partition's raft storage below its
// first live batch, after it applied through applied (one mechanism for the
// log start entries and the coordinator partitions' snapshot points).
func (n *Node) compactPart(g *group, applied uint64) {
	p := g.part
	if g.confState == nil || applied < g.placed {
		return // the state is not yet of the applied index
	}
	at := applied
	if !p.idx.empty() {
		at = p.idx.firstRaft() - 1
	}
	if first, _ := g.st.FirstIndex(); at < first {
		return // compacted that far already
	}
	// A partition's voters never change after its bootstrap, so the conf
	// state as of applied is the one at the snapshot's index too.
	if _, err := g.st.CreateSnapshot(at, g.confState, p.encodeState(applied, at)); err != nil {
		if !errors.Is(err, raft.ErrSnapOutOfDate) {
			n.stop(err)
		}
		return
	}
	g.snapIndex = at
	if err := g.st.Compact(at); err != nil && !errors.Is(err, raft.ErrCompacted) {
		n.stop(err)
	}
}

// retentionDue is where retention would put a partition's log start now
// (its current start if nothing is due).
func (n *Node) retentionDue(t *topicMeta, p *partState) int64 {
	start := p.logStart
	if p.idx.empty() || !strings.Contains(n.topicString(t, "cleanup.policy"), "delete") {
		return start
	}
	// The first batch not due: the first whose max timestamp is within
	// retention.ms of the clock, and from it on, the first whose going would
	// leave less than retention.bytes.
	loc, ok := batchLoc{base: p.idx.firstBase()}, true
	var err error
	if ms := n.topicInt(t, "retention.ms"); ms >= 0 {
		loc, ok, err = p.idx.firstAtOrAfterTS(n.now.UnixMilli() - ms)
	}
	if limit := n.topicInt(t, "retention.bytes"); limit >= 0 && ok && err == nil {
		// What is left once a batch goes still holds limit bytes while
		// the total less its running total is at least limit.
		var byBytes batchLoc
		byBytes, ok, err = p.idx.firstEndingAfterBytes(p.idx.endBytes - limit)
		if ok && byBytes.base > loc.base {
			loc = byBytes
		} else if !ok {
			loc.base = p.next
			ok = true
		}
	}
	if err != nil {
		n.stop(err)
		return start
	}
	if !ok {
		return p.next
	}
	return max(start, loc.base)
}

// checkRetention runs the periodic retention check when it is due (from
// Tick).
func (n *Node) checkRetention() {
	if n.retentionCheckAt.IsZero() {
		n.retentionCheckAt = n.now.Add(n.cfg.RetentionCheckInterval)
		return
	}
	if n.now.Before(n.retentionCheckAt) {
		return
	}
	n.retentionCheckAt = n.now.Add(n.cfg.RetentionCheckInterval)
	for _, id := range n.groupOrder {
		g := n.groups[id]
		p := g.part
		if p == nil || p.coord != nil || !g.serving() || isInternalTopic(p.topic) {
			continue
		}
		t := n.meta.topics[p.topic]
		if t == nil {
			continue
		}
		if to := n.retentionDue(t, p); to > p.logStart && !g.retentionPending {
			// One retention proposal in flight per partition: a check
			// while the last is still committing would only repeat it.
			g.retentionPending = true
			done := func(any) { g.retentionPending = false }
			n.proposeLogStart(g, to, n.now.Add(n.cfg.RetentionCheckInterval), done, func(int16) { g.retentionPending = false })
		}
	}
}

// proposeLogStart proposes moving a partition's log start to offset.
func (n *Node) proposeLogStart(g *group, offset int64, deadline time.Time, done func(any), fail func(int16)) {
	if n.cfg.Bug == BugLogStartLeaderOnly {
		n.bugLogStartLeaderOnly(g, offset, done)
		return
	}
	n.propose(g, cmdLogStart, appendLogStart(nil, offset), deadline, done, fail)
}

// bugLogStartLeaderOnly is BugLogStartLeaderOnly: the leader moves its own
// log start and answers at once; nothing is replicated, so the followers
// keep the records, and a failover (or this node's restart) serves them
// again.
func (n *Node) bugLogStartLeaderOnly(g *group, offset int64, done func(any)) {
	g.part.applyLogStart(offset)
	done(logStartResult{logStart: g.part.logStart})
}
