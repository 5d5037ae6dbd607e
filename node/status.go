package node

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"

	"github.com/ketch-dev/ketch/wire"
)

// Introspection for tests, the simulator's invariant checks and the host's
// logs. None of it changes the node.

import "github.com/ketch-dev/ketch/wal"

// GroupStatus is one raft group as this node sees it.
type GroupStatus struct {
	Group         uint64
	Topic         string // empty for the metadata group
	Partition     int32
	Term          uint64
	Lead          uint64 // 0 if unknown
	Leader        bool
	Serving       bool // leader with an entry of its term applied (safety rule 1)
	Campaigning   bool // candidate or pre-candidate: asking for votes
	Commit        uint64
	Applied       uint64
	HighWatermark int64 // partitions only
	// LogStart is a partition's log start offset (-1 for the metadata
	// group) as of StateIndex, the raft index its applied state is of
	// (past Applied right after a snapshot whose state is later than its
	// index: part_snapshot.go).
	LogStart   int64
	StateIndex uint64
	Voters     []uint64
}

// Status lists every group this node hosts, in group order.
func (n *Node) Status() []GroupStatus { return n.AppendStatus(nil) }

// AppendStatus appends Status to dst, so a caller asking after every step
// (the simulator's invariant checks) can reuse one slice.
func (n *Node) AppendStatus(dst []GroupStatus) []GroupStatus {
	out := dst
	for _, id := range n.groupOrder {
		out = n.appendGroupStatus(out, n.groups[id])
	}
	return out
}

// AppendChangedStatus appends, in group order, the status of the groups
// whose raft was called since the last call (a group's status changes only
// then, or when it is added or removed), and returns how many groups the
// node hosts: a caller checking after every step looks at what changed, not
// at every group.
func (n *Node) AppendChangedStatus(dst []GroupStatus) ([]GroupStatus, int) {
	slices.SortFunc(n.changed, func(a, b *group) int { return cmp.Compare(a.id, b.id) })
	for _, g := range n.changed {
		g.inChanged = false
		if n.groups[g.id] == g {
			dst = n.appendGroupStatus(dst, g)
		}
	}
	clear(n.changed)
	n.changed = n.changed[:0]
	return dst, len(n.groups)
}

func (n *Node) appendGroupStatus(out []GroupStatus, g *group) []GroupStatus {
	if !g.commitKnown {
		bs := g.rn.BasicStatus()
		g.commit, g.commitKnown = bs.HardState.GetCommit(), true
		g.campaigning = bs.RaftState == raft.StateCandidate || bs.RaftState == raft.StatePreCandidate
	}
	st := GroupStatus{Group: g.id, Term: g.term, Lead: g.lead, Leader: g.leader, Serving: g.serving(),
		Campaigning: g.campaigning, Commit: g.commit, Applied: g.applied, Voters: g.voters, HighWatermark: -1, LogStart: -1}
	if g.part != nil {
		st.Topic, st.Partition, st.HighWatermark = g.part.topic, g.part.index, g.part.next
		st.LogStart, st.StateIndex = g.part.logStart, max(g.applied, g.placed)
	}
	return append(out, st)
}

// ID is the node's id.
func (n *Node) ID() uint64 { return n.cfg.ID }

// TopicID is the ID this node's metadata gives the topic named name now
// (false if it knows no such topic).
func (n *Node) TopicID(name string) ([16]byte, bool) {
	if t := n.meta.topics[name]; t != nil {
		return t.id, true
	}
	return [16]byte{}, false
}

// Recovering lists the groups still recovering (see Config.Recover), sorted.
func (n *Node) Recovering() []uint64 {
	var out []uint64
	for _, id := range n.groupOrder {
		if n.groups[id].recovering {
			out = append(out, id)
		}
	}
	return out
}

// Observer hears every entry a node applies, in order per group. The
// simulator uses it to check that replicas apply the same entries at the same
// indexes. It must not call back into the node.
type Observer interface {
	Applied(group, index, term uint64, data []byte)
}

// Bugs that can be planted in a node so the simulator can show its checks
// catch them. Only the simulator and the chaos build set Config.Bug; nothing
// in an ordinary build of cmd/node can.
const (
	// BugAckBeforeCommit answers a produce as soon as it is proposed, with a
	// guessed offset, before the entry commits.
	BugAckBeforeCommit = "ack-before-commit"
	// BugStaleRead serves fetch without confirming leadership (no ReadIndex).
	BugStaleRead = "stale-read"
	// BugOverloadStaleRead: with FetchWaitsMax fetches held, a new fetch is
	// answered at once from the node's current state, without a ReadIndex
	// barrier, so a deposed leader under load serves stale records and high
	// watermark. The class: a linearizable read path with a fast path that
	// skips the leadership check under some condition (etcd #20418's stale
	// reads; Jepsen etcd/Consul 2014, reads served by a leader that had been
	// deposed), here an overload shortcut.
	BugOverloadStaleRead = "overload-stale-read"
	// BugNoReportSnapshot never calls raft's ReportSnapshot, so a follower
	// sent a snapshot stays paused in StateSnapshot until the leader changes
	// if the MsgSnap is lost. The class: a follower stuck behind a snapshot
	// that never arrived (etcd-io/etcd#10225, Dgraph's "force kill a node
	// during snapshot retrieval goes into limbo": ReportSnapshot was never
	// called; etcd raft's doc.go states the contract).
	BugNoReportSnapshot = "no-report-snapshot"
	// BugSnapshotCommitUnclamped restores the old snapshot persistence: a
	// Ready that only installs a snapshot is not synced before its
	// acknowledgement leaves, and WAL recovery keeps the last hard state's
	// commit index even when it is below a snapshot recorded after it
	// (planted in wal: the host passes it on as wal.Options.Bug). A crash
	// that keeps the snapshot record and loses the hard state after it then
	// makes raft.NewRawNode panic on every restart. The incident: etcd-io/etcd#7477 ("etcd doesn't start
	// after crash": state.commit 1209069 is out of range [1250125, 1250125],
	// a snapshot newer than the hard state's commit), fixed for another
	// ordering in etcd-io/etcd#11888.
	BugSnapshotCommitUnclamped = wal.BugCommitUnclamped
	// BugSkipFsync acknowledges without making the log durable.
	BugSkipFsync = "skip-fsync"
	// BugNoDedupe forgets idempotent producers' recent batches, so a retry
	// is appended again.
	BugNoDedupe = "no-dedupe"
	// BugFetchIgnoresEpoch (KIP-320; Redpanda PR #17260, #11864) does not
	// check the client's CurrentLeaderEpoch in Fetch, ListOffsets and
	// OffsetForLeaderEpoch, and OffsetForLeaderEpoch answers every epoch
	// with the log end, as if it were the current one: a consumer
	// validating its position after a leader change never learns where
	// its epoch ended.
	BugFetchIgnoresEpoch = "fetch-ignores-epoch"
	// BugFsyncRetry and BugTruncateOnCorruption are planted in the log: the
	// host passes Config.Bug on as wal.Options.Bug.
	BugFsyncRetry           = wal.BugFsyncRetry
	BugTruncateOnCorruption = wal.BugTruncateOnCorruption
	// BugTruncateToHW: Source: Kafka KIP-101 (a follower truncating to its
	// high watermark on restart, then becoming leader, loses acknowledged
	// records). On restart every group's log is cut to the commit index of
	// its last hard state, dropping entries the replica synced and
	// acknowledged to its leader (planted in wal, wal.BugTruncateToHW).
	BugTruncateToHW = wal.BugTruncateToHW
	// BugNoDirSync: Source: KAFKA-3968 (no fsync of the log directory
	// after a segment roll). A segment created by a roll is never made
	// durable in its directory, so a power loss after the roll loses the
	// whole new segment, synced records included (planted in wal,
	// wal.BugNoDirSync). ketch's snapshots are log records, not renamed
	// files, so the segment roll is the only create it concerns.
	BugNoDirSync = wal.BugNoDirSync
	// BugServeUncommitted: Source: Redpanda PR #5025; etcd #7331. A new
	// leader serves as soon as it wins, before an entry of its own term
	// applied: Produce and ListOffsets are not refused, and a confirmed read
	// (Fetch, ListOffsets, OffsetForLeaderEpoch) takes the leader's own
	// commit index for its read index, as etcd's ReadIndex did before #7331,
	// though that index may lag what the previous leader committed and
	// served (a high watermark going back).
	BugServeUncommitted = "serve-uncommitted"
	// BugApplyBeforePersist: Source: etcd #14370 (a single-member etcd
	// acknowledged writes its WAL had not yet fsynced). The committed
	// entries of a Ready are applied and answered before that Ready's
	// entries are synced: the fsync is left for the next Process call (raft's
	// messages still wait for it). etcd raft counts the leader's own append
	// toward commit once the Ready is handed back, so in a group of one
	// voter an entry commits and is acknowledged before it is durable, and
	// a crash right after the answer loses it.
	BugApplyBeforePersist = "apply-before-persist"
	// BugEpochNotTerm: Source: KAFKA-10527, KIP-279 (leader epochs that two
	// leaderships share, or that go back along the log). The epoch stamped
	// on batches (PartitionLeaderEpoch, and what Metadata, ListOffsets and
	// OffsetForLeaderEpoch report and fence with) is a per-broker counter
	// instead of the raft term: a broker winning leadership of a partition
	// takes its own counter plus one, the counter being resumed from the
	// log (the last epoch applied) only at its first leadership after a
	// start. A broker that led before other brokers did reuses an epoch, or
	// stamps one below its predecessor's, until it restarts.
	BugEpochNotTerm = "epoch-not-term"
)

// ReportUnreachable tells every group that messages to peer could not be
// delivered (the transport dropped them), so raft probes it instead of
// streaming to it.
func (n *Node) ReportUnreachable(peer uint64) {
	for _, id := range n.groupOrder {
		n.groups[id].rn.ReportUnreachable(peer)
		n.touch(n.groups[id])
	}
}

// TransferLeadership asks every group this node leads to hand leadership to
// its most caught-up other voter, so that a node shutting down cleanly does
// not leave its partitions leaderless for an election timeout. It returns how
// many groups this node still leads; a caller shutting down calls it, keeps
// processing, and stops once it returns 0 or its patience runs out.
func (n *Node) TransferLeadership() int {
	leading := 0
	for _, id := range n.groupOrder {
		g := n.groups[id]
		if !g.leader || len(g.voters) < 2 {
			continue // a sole voter has no one to hand over to
		}
		leading++
		st := g.rn.Status()
		var best, match uint64
		for _, v := range g.voters {
			if pr, ok := st.Progress[v]; ok && v != n.cfg.ID && (best == 0 || pr.Match > match) {
				best, match = v, pr.Match
			}
		}
		if best != 0 && st.LeadTransferee != best {
			g.rn.TransferLeader(best)
			n.touch(g)
			n.wake(g)
		}
	}
	return leading
}

// BatchInfo is one stored batch of a partition as a replica holds it: what
// the simulator's convergence check compares across replicas.
type BatchInfo struct {
	Base      int64
	Count     int32
	Epoch     int32 // the leader epoch stamped on it when served: its entry's term
	RaftIndex uint64
	Sum       [32]byte // sha256 of the batch as stored (the producer's bytes)
	// MaxTimestamp is the batch's max timestamp in the partition's index
	// (what ListOffsets by time reads; a LogAppendTime batch's time).
	MaxTimestamp int64
}

// GroupDigest sums up a group's applied state on this node. Two replicas
// that applied the same entries have the same Digest: for a partition it
// covers the log start, the high watermark, every batch (offset, count,
// epoch, raft index, bytes) and the idempotent producers' state; for the
// metadata group, the state's deterministic encoding (the snapshot's bytes,
// topic and broker configs included).
type GroupDigest struct {
	Group         uint64
	Applied       uint64
	LogStart      int64 // partitions only; -1 for the metadata group
	HighWatermark int64 // partitions only; -1 for the metadata group
	Batches       int
	Digest        [32]byte
}

// Digest computes a group's GroupDigest; ok is false if the node does not
// host the group. It reads every batch back from the log, so it costs a scan
// of the partition: for checks at the end of a run, not for every step.
func (n *Node) Digest(group uint64) (d GroupDigest, ok bool, err error) {
	g := n.groups[group]
	if g == nil {
		return d, false, nil
	}
	d = GroupDigest{Group: group, Applied: g.applied, LogStart: -1, HighWatermark: -1}
	h := sha256.New()
	if g.part == nil {
		h.Write(n.meta.encode())
		h.Sum(d.Digest[:0])
		return d, true, nil
	}
	p := g.part
	d.LogStart, d.HighWatermark = p.logStart, p.next
	var b []byte
	b = binary.AppendVarint(b, p.logStart)
	b = binary.AppendVarint(b, p.next)
	b = binary.AppendUvarint(b, p.cleanGen)
	b = binary.AppendVarint(b, p.cleanedEnd)
	b = binary.AppendVarint(b, p.cleanHorizon)
	h.Write(b)
	err = n.eachBatch(g, func(bi BatchInfo) {
		d.Batches++
		b = binary.AppendVarint(b[:0], bi.Base)
		b = binary.AppendVarint(b, int64(bi.Count))
		b = binary.AppendVarint(b, int64(bi.Epoch))
		b = binary.AppendUvarint(b, bi.RaftIndex)
		b = binary.AppendVarint(b, bi.MaxTimestamp)
		b = append(b, bi.Sum[:]...)
		h.Write(b)
	})
	if err != nil {
		return d, true, err
	}
	pids := make([]int64, 0, len(p.producers))
	for pid := range p.producers {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	for _, pid := range pids {
		ps := p.producers[pid]
		b = binary.AppendVarint(b[:0], pid)
		b = binary.AppendVarint(b, int64(ps.epoch))
		b = binary.AppendVarint(b, ps.lastSeen)
		b = append(b, boolByte(ps.touched))
		for _, pb := range ps.batches {
			b = binary.AppendVarint(b, int64(pb.firstSeq))
			b = binary.AppendVarint(b, int64(pb.lastSeq))
			b = binary.AppendVarint(b, pb.base)
		}
		h.Write(b)
	}
	if p.coord != nil {
		h.Write(p.coord.appendTo(nil))
	}
	h.Sum(d.Digest[:0])
	return d, true, nil
}

// Batches lists a partition group's stored batches in offset order (nil if
// the node does not host it, or it is the metadata group), so a check that
// found two digests differ can name the first batch where they part.
func (n *Node) Batches(group uint64) ([]BatchInfo, error) {
	g := n.groups[group]
	if g == nil || g.part == nil {
		return nil, nil
	}
	var out []BatchInfo
	err := n.eachBatch(g, func(bi BatchInfo) { out = append(out, bi) })
	return out, err
}

func (n *Node) eachBatch(g *group, fn func(BatchInfo)) error {
	var failed error
	err := g.part.idx.scanFrom(0, func(loc batchLoc, body []byte) bool {
		if body == nil {
			if body, failed = g.batchBytes(loc); failed != nil {
				return false
			}
		}
		fn(BatchInfo{Base: loc.base, Count: loc.count, Epoch: int32(loc.term), RaftIndex: loc.raftIndex, Sum: sha256.Sum256(body), MaxTimestamp: loc.maxTS})
		return true
	})
	if err != nil {
		return err
	}
	return failed
}

// CheckCoordinatorLog checks a __consumer_offsets partition against
// DESIGN.md's rule that the coordinator's state is the fold of its log:
// folding every record the log holds now, from its start, cleaned or not,
// must give the state this replica applied. A compaction that lost a key's
// newest record, or a coordinator write whose effect is not in its records
// (a deletion without a tombstone per key), breaks it, and with it any
// tool or broker that loads the groups from the log. nil for a group that
// is not a coordinator partition here, or whose log start moved (the
// records below it are gone by design).
func (n *Node) CheckCoordinatorLog(group uint64) error {
	g := n.groups[group]
	if g == nil || g.part == nil || g.part.coord == nil || g.part.logStart != 0 {
		return nil
	}
	p := g.part
	fold := newCoordState()
	var failed error
	err := p.idx.scanFrom(0, func(loc batchLoc, data []byte) bool {
		if data == nil {
			if data, failed = g.batchBytes(loc); failed != nil {
				return false
			}
		}
		_, recs, _, err := wire.ParseLogRecords(data, wire.DecodedBytesCeiling)
		if err != nil {
			failed = fmt.Errorf("batch at %d: %v", loc.base, err)
			return false
		}
		for _, r := range recs {
			fold.fold(r.Key, r.Value)
		}
		return true
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		return fmt.Errorf("%s/%d: reading the log: %v", p.topic, p.index, err)
	}
	if bytes.Equal(fold.appendFold(nil), p.coord.appendFold(nil)) {
		return nil
	}
	return fmt.Errorf("%s/%d: the fold of its log (cleaned %d times) is not the state: %s",
		p.topic, p.index, p.cleanGen, coordDiff(fold, p.coord))
}

// coordDiff names the first group where two coordinator states differ, and
// how.
func coordDiff(logFold, state *coordState) string {
	names := map[string]bool{}
	for name := range logFold.groups {
		names[name] = true
	}
	for name := range state.groups {
		names[name] = true
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	slices.Sort(sorted)
	for _, name := range sorted {
		a, b := logFold.group(name), state.group(name)
		switch {
		case a == nil:
			return fmt.Sprintf("group %q is in the state (generation %d, %d offsets), not in the log", name, b.generation(), b.offsetCount())
		case b == nil:
			return fmt.Sprintf("group %q is in the log (generation %d, %d offsets), not in the state", name, a.generation(), a.offsetCount())
		case a.generation() != b.generation():
			return fmt.Sprintf("group %q: generation %d in the log, %d in the state", name, a.generation(), b.generation())
		}
		for _, k := range a.sortedOffsets() {
			if o, ok := b.offsets[k]; !ok || o != a.offsets[k] {
				return fmt.Sprintf("group %q %s/%d: offset %+v in the log, %+v (present %v) in the state", name, k.topic, k.partition, a.offsets[k], o, ok)
			}
		}
		for _, k := range b.sortedOffsets() {
			if _, ok := a.offsets[k]; !ok {
				return fmt.Sprintf("group %q %s/%d: offset %d in the state, none in the log", name, k.topic, k.partition, b.offsets[k].offset)
			}
		}
	}
	return "the groups' metadata or KIP-848 records differ"
}
