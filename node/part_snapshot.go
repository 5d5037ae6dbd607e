package node

// Partition snapshots. A partition's raft storage is compacted below its
// first live batch when its log start moves (retention.go) and after a
// compaction (compaction.go): the snapshot there carries the partition's
// applied state (encodeState), never records, so a follower behind the
// leader's first index installs it and receives the retained entries by
// ordinary append. __consumer_offsets partitions go the same way, the
// coordinator's fold in their state; they are compacted, not cut (the
// records below the log start would no longer be served: the fold of the
// log would not be the state).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// partStateVersion is the encoding of a partition's applied state (in raft
// snapshots and local checkpoints). Version 1, coordinator snapshots only,
// had neither the state's index nor batches; version 2 carried every batch
// of the retained log (about 30 bytes each); both are still read. Version 4
// adds compaction (cleanGen, cleanedEnd, cleanHorizon) and carries the sparse
// offset index (offset_index.go), a compacted run's points included. Version
// 3 was two branches' drafts of those, never released: refused.
const partStateVersion = 4

var errBadPartSnapshot = errors.New("node: malformed partition snapshot")

// maybeSnapshotPart runs after a partition applied the entry at index: after
// a log start entry that moved the start (retention.go) or a compaction, it
// snapshots and compacts the storage below the first live batch.
func (n *Node) maybeSnapshotPart(g *group, index uint64) {
	if g.part == nil || !g.compactDue {
		return
	}
	g.compactDue = false
	n.compactPart(g, index)
}

// encodeState writes the partition's applied state as of stateIndex (the
// raft index of the last entry applied into it) in one deterministic order:
// log start, next offset, idempotent producers, the offset index of the raft
// entries above from (the log's first index less one, or the snapshot's
// index: older ones are not in the raft log the state goes with), and the
// coordinator fold. Never records: the index says where they live (raft
// index, term, size), which a replica installing the state receives by
// ordinary append. Its size grows with the log's bytes over
// indexIntervalBytes, not with its batches. A replica that restores it holds what applying every
// entry through stateIndex gave.
func (p *partState) encodeState(stateIndex, from uint64) []byte {
	b := []byte{partStateVersion}
	b = binary.AppendUvarint(b, stateIndex)
	b = binary.AppendVarint(b, p.logStart)
	b = binary.AppendVarint(b, p.next)
	pids := make([]int64, 0, len(p.producers))
	for pid := range p.producers {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	b = binary.AppendUvarint(b, uint64(len(pids)))
	for _, pid := range pids {
		ps := p.producers[pid]
		b = binary.AppendVarint(b, pid)
		b = binary.AppendVarint(b, int64(ps.epoch))
		b = binary.AppendVarint(b, ps.lastSeen)
		b = append(b, boolByte(ps.touched))
		b = binary.AppendUvarint(b, uint64(len(ps.batches)))
		for _, pb := range ps.batches {
			b = binary.AppendVarint(b, int64(pb.firstSeq))
			b = binary.AppendVarint(b, int64(pb.lastSeq))
			b = binary.AppendVarint(b, pb.base)
		}
	}
	b = binary.AppendUvarint(b, p.cleanGen)
	b = binary.AppendVarint(b, p.cleanedEnd)
	b = binary.AppendVarint(b, p.cleanHorizon)
	b = p.idx.appendTo(b, from)
	if p.coord == nil {
		return append(b, 0)
	}
	return p.coord.appendTo(append(b, 1))
}

// appendTo writes the fold: every group's metadata record and offsets,
// sorted.
func (cs *coordState) appendTo(b []byte) []byte {
	return cs.appendConsumerGroups(cs.appendClassic(b)) // the KIP-848 groups (consumer_group_records.go)
}

// appendFold writes what the log's records determine of the fold: appendTo
// less the coordinator's own bookkeeping (CheckCoordinatorLog).
func (cs *coordState) appendFold(b []byte) []byte {
	return cs.appendConsumerRecords(cs.appendClassic(b))
}

// appendClassic writes the classic groups: every group's metadata record
// and offsets, sorted.
func (cs *coordState) appendClassic(b []byte) []byte {
	groups := cs.sortedGroups()
	b = binary.AppendUvarint(b, uint64(len(groups)))
	for _, r := range groups {
		b = appendString(b, r.name)
		if r.meta == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			v := r.meta.AppendTo(nil)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
		keys := make([]tpKey, 0, len(r.offsets))
		for k := range r.offsets {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b tpKey) int {
			if a.topic != b.topic {
				if a.topic < b.topic {
					return -1
				}
				return 1
			}
			return int(a.partition) - int(b.partition)
		})
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			o := r.offsets[k]
			b = appendString(b, k.topic)
			b = binary.AppendVarint(b, int64(k.partition))
			b = binary.AppendVarint(b, o.offset)
			b = binary.AppendVarint(b, int64(o.leaderEpoch))
			b = appendString(b, o.metadata)
			b = binary.AppendVarint(b, o.commitTS)
			b = binary.AppendVarint(b, o.expireTS)
			b = append(b, o.topicID[:]...)
		}
	}
	return b
}

// restoreState replaces the partition's state with an encoded one and
// returns the index it is the state of (for version 1, snapIndex, the
// snapshot's own). Counts are checked against the bytes left, so a corrupt
// encoding cannot make it allocate wildly.
func (p *partState) restoreState(data []byte, snapIndex uint64) (uint64, error) {
	if len(data) == 0 || data[0] < 1 || data[0] == 3 || data[0] > partStateVersion {
		return 0, errBadPartSnapshot
	}
	version := data[0]
	// A copy: the fold keeps references into what it reads (kmsg's
	// ReadFrom does not copy), and the caller's buffer is not ours to keep.
	d := dec{b: bytes.Clone(data[1:])}
	count := func() int {
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.err = errBadPartSnapshot
			return 0
		}
		return int(n)
	}
	stateIndex := snapIndex
	if version >= 2 {
		stateIndex = d.uvarint()
	}
	logStart, next := d.varint(), d.varint()
	producers := map[int64]*producerState{}
	for i, n := 0, count(); i < n && d.err == nil; i++ {
		pid := d.varint()
		ps := &producerState{epoch: int16(d.varint())}
		if version >= 2 {
			ps.lastSeen = d.varint()
			if len(d.b) == 0 {
				return 0, errBadPartSnapshot
			}
			ps.touched = d.b[0] == 1
			d.b = d.b[1:]
		}
		for j, m := 0, count(); j < m && d.err == nil; j++ {
			ps.batches = append(ps.batches, producerBatch{firstSeq: int32(d.varint()), lastSeq: int32(d.varint()), base: d.varint()})
		}
		producers[pid] = ps
	}
	var idx offsetIndex
	var cleanGen uint64
	cleanedEnd, cleanHorizon := int64(0), int64(-1)
	if version >= 4 {
		cleanGen, cleanedEnd, cleanHorizon = d.uvarint(), d.varint(), d.varint()
	}
	hasCoord := version == 1
	if version >= 2 {
		if version == 2 {
			var batches []batchLoc
			n := count()
			var end int64
			if n > 0 {
				end = d.varint()
				batches = make([]batchLoc, 0, n)
			}
			for i := 0; i < n && d.err == nil; i++ {
				bl := batchLoc{base: d.varint(), count: int32(d.varint()), raftIndex: d.uvarint(), term: d.uvarint(), maxTS: d.varint(), bytes: int32(d.varint())}
				end += int64(bl.bytes)
				bl.endBytes = end
				batches = append(batches, bl)
			}
			idx = indexFromBatches(batches, stateIndex)
		} else {
			idx = readIndex(&d, count)
		}
		if len(d.b) == 0 {
			return 0, errBadPartSnapshot
		}
		hasCoord = d.b[0] == 1
		d.b = d.b[1:]
	}
	if d.err != nil || hasCoord != (p.coord != nil) {
		return 0, errBadPartSnapshot
	}
	var cs *coordState
	if hasCoord {
		var err error
		if cs, err = restoreFold(&d); err != nil {
			return 0, err
		}
	}
	if d.err != nil || len(d.b) != 0 || logStart > next || stateIndex < snapIndex {
		return 0, errBadPartSnapshot
	}
	idx.src, idx.dense, idx.tailMax, idx.intervalBytes = p.idx.src, p.idx.dense, p.idx.tailMax, p.idx.intervalBytes
	idx.start = logStart
	p.logStart, p.next, p.idx, p.producers = logStart, next, idx, producers
	p.cleanGen, p.cleanedEnd, p.cleanHorizon = cleanGen, cleanedEnd, cleanHorizon
	if cs != nil {
		p.coord = cs
	}
	return stateIndex, nil
}

// restoreFold reads what coordState.appendTo wrote.
func restoreFold(d *dec) (*coordState, error) {
	count := func() int {
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.err = errBadPartSnapshot
			return 0
		}
		return int(n)
	}
	cs := newCoordState()
	for i, n := 0, count(); i < n && d.err == nil; i++ {
		r := &groupRec{name: d.string(), offsets: map[tpKey]offsetRec{}}
		if len(d.b) == 0 {
			return nil, errBadPartSnapshot
		}
		has := d.b[0]
		d.b = d.b[1:]
		if has == 1 {
			l := count()
			if d.err != nil {
				break
			}
			v := new(kmsg.GroupMetadataValue)
			if err := v.ReadFrom(d.b[:l]); err != nil {
				return nil, errBadPartSnapshot
			}
			d.b = d.b[l:]
			r.meta = v
		}
		for j, m := 0, count(); j < m && d.err == nil; j++ {
			k := tpKey{topic: d.string(), partition: int32(d.varint())}
			o := offsetRec{offset: d.varint(), leaderEpoch: int32(d.varint()), metadata: d.string(), commitTS: d.varint(), expireTS: d.varint()}
			if len(d.b) < 16 {
				return nil, errBadPartSnapshot
			}
			copy(o.topicID[:], d.b[:16])
			d.b = d.b[16:]
			r.offsets[k] = o
		}
		cs.groups[r.name] = r
	}
	if d.err == nil {
		d.err = cs.restoreConsumerGroups(d)
	}
	if d.err != nil {
		return nil, d.err
	}
	return cs, nil
}
