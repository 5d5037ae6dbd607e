package node

// Checkpoints of a partition's applied state, so a restart replays only
// what followed the last one rather than every entry from the log's start
// (DESIGN.md "The log's lifecycle"). Every CheckpointBytes of applied
// entries (and at least twice the last checkpoint's size, so their cost
// stays under half the data's) a partition writes its state as of its
// applied index (encodeState: the batch index of its whole raft log,
// producers, log start, coordinator fold) to the wal, next to the group's
// raft records. A restart restores it and tells raft it applied that far
// (Config.Applied), so raft hands back only the later entries.
//
// A checkpoint is local: replicas take theirs at different indexes, and
// raft never sends one (a follower behind the log start gets the snapshot).
// It is written after the Ready whose entries it covers was applied, whose
// hard state (committing them) is earlier in the same log, so a crash that
// keeps the checkpoint keeps that commit index too.

import (
	"fmt"

	"github.com/ketch-dev/ketch/wal"
	"go.etcd.io/raft/v3"
)

const checkpointBytesDefault = 64 << 20

// restoreCheckpoint restores a partition from its group's checkpoint when
// there is one newer than the snapshot at snapIndex, and returns its index
// (0 when the group starts from its snapshot instead).
func (n *Node) restoreCheckpoint(id uint64, st *wal.Storage, part *partState, snapIndex uint64) (uint64, error) {
	index, data := st.Checkpoint()
	if part == nil || index <= snapIndex {
		return 0, nil
	}
	if hs := st.HardState(); hs == nil || hs.GetCommit() < index {
		// Never written so: a checkpoint follows the hard state that
		// committed what it covers. Replaying from the snapshot is
		// always right.
		n.logger.Warn("checkpoint past the commit index; replaying from the snapshot", "group", id, "checkpoint", index)
		return 0, nil
	}
	at, err := part.restoreState(data, index)
	if err != nil || at != index {
		return 0, fmt.Errorf("node: group %d: checkpoint at index %d: %w", id, index, errBadPartSnapshot)
	}
	if err := st.ResumeFromCheckpoint(); err != nil {
		return 0, err
	}
	return index, nil
}

// maybeCheckpoint writes a partition's checkpoint after a Ready was applied,
// when enough was applied since the last.
func (n *Node) maybeCheckpoint(g *group) {
	if n.cfg.Bug == BugCheckpointAhead {
		return // it checkpoints as a Ready arrives instead
	}
	if g.part == nil || g.applied <= g.placed || g.sinceCkpt < max(n.cfg.CheckpointBytes, 2*g.ckptBytes) {
		return
	}
	if ci, _ := g.st.Checkpoint(); ci >= g.applied {
		return
	}
	n.saveCheckpoint(g, g.applied, g.part)
}

func (n *Node) saveCheckpoint(g *group, index uint64, p *partState) {
	first, _ := g.st.FirstIndex()
	data := p.encodeState(index, first-1)
	if err := g.st.SaveCheckpoint(index, g.confState, data); err != nil {
		n.stop(err)
		return
	}
	g.sinceCkpt, g.ckptBytes = 0, len(data)
}

// bugCheckpointAhead is BugCheckpointAhead: the state as the Ready arrives
// is checkpointed under the index of its last committed entry, before any
// of them applied (etcd #13766: the consistent index moved ahead of the
// state it was persisted with).
func (n *Node) bugCheckpointAhead(g *group, rd raft.Ready) {
	k := len(rd.CommittedEntries)
	if g.part == nil || k == 0 || g.sinceCkpt < max(n.cfg.CheckpointBytes, 2*g.ckptBytes) {
		return
	}
	if last := rd.CommittedEntries[k-1].GetIndex(); last > g.applied && last > g.placed {
		n.saveCheckpoint(g, last, g.part)
	}
}
