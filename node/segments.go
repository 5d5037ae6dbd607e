package node

// A partition's active segment (segment.bytes, segment.ms).
//
// ketch's log has no segment files (the WAL's segments are the node's,
// shared by every group), but Kafka's segments decide one thing users set
// segment.ms for: the cleaner never cleans the active segment, so a
// compacted topic's newest records wait until their segment rolls. Each
// replica keeps its own active segment, as each Kafka replica rolls its own
// files: where the newest batches began since the last roll, with Kafka's
// rule (LogSegment.shouldRoll) applied as each batch is appended: a batch
// rolls a new segment if the segment holds something and the batch would
// take it past segment.bytes, or its max timestamp is more than segment.ms
// past the segment's first batch's (the time since the segment was started,
// by this node's clock, when that batch carried no timestamp). Kafka rolls
// only on append, so does ketch: a partition nothing is written to keeps
// its active segment however old. The leader's cleaner (compaction.go)
// cleans only below its active segment's first batch.
//
// Not replicated and not saved: a replica that starts (or installs a
// snapshot) begins a segment at the first batch it appends, as if its log
// had rolled there; only when a leader may clean depends on it, never what
// a clean does, which is one replicated entry. Retention works per batch,
// finer than Kafka's whole segments (a record goes once it is older than
// retention.ms, where Kafka keeps it until its segment's newest is).

import "time"

type activeSegment struct {
	open    bool  // a batch was counted since this replica started the group
	base    int64 // the offset of its first batch
	firstTS int64 // its first batch's max timestamp
	started time.Time
	bytes   int64
	// lastRaft is the raft index of the newest batch counted.
	lastRaft uint64
	// maxBytes and maxMs are segment.bytes and segment.ms as resolved when
	// the metadata group had applied cfgAt.
	cfgAt           uint64
	maxBytes, maxMs int64
	cfgKnown        bool
}

// noteAppend counts the partition's newest batch into the active segment
// once it is appended (from apply), rolling a new one first if Kafka would.
func (n *Node) noteAppend(g *group) {
	p := g.part
	if p == nil || p.idx.empty() {
		return
	}
	last := p.idx.last()
	s := &g.seg
	if s.open && last.raftIndex == s.lastRaft && last.base >= s.base {
		return // nothing new (a retry, a refused batch, a compaction)
	}
	if mg := n.groups[metaGroup]; mg != nil && (!s.cfgKnown || s.cfgAt != mg.applied) {
		t := n.meta.topics[p.topic]
		s.maxBytes, s.maxMs = n.topicInt(t, "segment.bytes"), n.topicInt(t, "segment.ms")
		s.cfgAt, s.cfgKnown = mg.applied, true
	}
	waited := int64(0)
	if s.open {
		if s.firstTS >= 0 {
			waited = last.maxTS - s.firstTS
		} else {
			waited = n.now.Sub(s.started).Milliseconds()
		}
	}
	if !s.open || last.base < s.base || s.bytes+int64(last.bytes) > s.maxBytes || (s.bytes > 0 && waited > s.maxMs) {
		s.open, s.base, s.firstTS, s.started, s.bytes = true, last.base, last.maxTS, n.now, 0
	}
	s.bytes += int64(last.bytes)
	s.lastRaft = last.raftIndex
}

// cleanableEnd is the first offset the leader's cleaner must not clean:
// its active segment's first batch, and never past the newest batch (a
// clean that removed it would end the log in a gap below the high
// watermark: compaction.go).
func (g *group) cleanableEnd() int64 {
	end := g.part.idx.last().base
	if g.seg.open && g.seg.base < end {
		end = g.seg.base
	}
	return end
}
