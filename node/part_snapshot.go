package node

// Snapshots of __consumer_offsets partitions. Until compaction exists
// (issue 10), a coordinator partition's log would grow with every offset
// commit forever; instead its state is snapshotted as the metadata group's
// is, and the log before it dropped. The point is chosen by the replicated
// state machine, not by when a node gets round to it: applying the entry
// at a raft index that is a multiple of MetaSnapshotEntries moves the
// partition's log start to its end (the records before are no longer
// served: Fetch answers OFFSET_OUT_OF_RANGE below it, ListOffsets earliest
// is it), and the snapshot is taken at exactly that index, so every replica
// snapshots the same state at the same index and a follower that installs
// it holds what the others hold.

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3"
)

const partSnapshotVersion = 1

var errBadPartSnapshot = errors.New("node: malformed partition snapshot")

// maybeSnapshotPart runs after a coordinator partition applied the entry at
// index: at a snapshot point it cuts the served log and snapshots.
func (n *Node) maybeSnapshotPart(g *group, index uint64) {
	p := g.part
	every := uint64(n.cfg.MetaSnapshotEntries)
	if p == nil || p.coord == nil || index%every != 0 || index <= g.snapIndex || g.confState == nil {
		return
	}
	p.logStart = p.next
	p.batches = p.batches[:0]
	if _, err := g.st.CreateSnapshot(index, g.confState, p.encodeSnapshot()); err != nil {
		n.stop(err)
		return
	}
	g.snapIndex = index
	if err := g.st.Compact(index); err != nil && !errors.Is(err, raft.ErrCompacted) {
		n.stop(err)
	}
}

// encodeSnapshot writes a coordinator partition's state at a snapshot
// point (no batches are served from before it) in one deterministic order.
func (p *partState) encodeSnapshot() []byte {
	b := []byte{partSnapshotVersion}
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
		b = binary.AppendUvarint(b, uint64(len(ps.batches)))
		for _, pb := range ps.batches {
			b = binary.AppendVarint(b, int64(pb.firstSeq))
			b = binary.AppendVarint(b, int64(pb.lastSeq))
			b = binary.AppendVarint(b, pb.base)
		}
	}
	return p.coord.appendTo(b)
}

// appendTo writes the fold: every group's metadata record and offsets,
// sorted.
func (cs *coordState) appendTo(b []byte) []byte {
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
	return cs.appendConsumerGroups(b) // the KIP-848 groups (consumer_group_records.go)
}

// restoreSnapshot replaces a coordinator partition's state with a
// snapshot's. Counts are checked against the bytes left, so a corrupt
// snapshot cannot make it allocate wildly.
func (p *partState) restoreSnapshot(data []byte) error {
	if p.coord == nil || len(data) == 0 || data[0] != partSnapshotVersion {
		return errBadPartSnapshot
	}
	d := dec{b: data[1:]}
	count := func() int {
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.err = errBadPartSnapshot
			return 0
		}
		return int(n)
	}
	logStart, next := d.varint(), d.varint()
	producers := map[int64]*producerState{}
	for i, n := 0, count(); i < n && d.err == nil; i++ {
		pid := d.varint()
		ps := &producerState{epoch: int16(d.varint())}
		for j, m := 0, count(); j < m && d.err == nil; j++ {
			ps.batches = append(ps.batches, producerBatch{firstSeq: int32(d.varint()), lastSeq: int32(d.varint()), base: d.varint()})
		}
		producers[pid] = ps
	}
	cs := newCoordState()
	for i, n := 0, count(); i < n && d.err == nil; i++ {
		r := &groupRec{name: d.string(), offsets: map[tpKey]offsetRec{}}
		if len(d.b) == 0 {
			return errBadPartSnapshot
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
				return errBadPartSnapshot
			}
			d.b = d.b[l:]
			r.meta = v
		}
		for j, m := 0, count(); j < m && d.err == nil; j++ {
			k := tpKey{topic: d.string(), partition: int32(d.varint())}
			o := offsetRec{offset: d.varint(), leaderEpoch: int32(d.varint()), metadata: d.string(), commitTS: d.varint(), expireTS: d.varint()}
			if len(d.b) < 16 {
				return errBadPartSnapshot
			}
			copy(o.topicID[:], d.b[:16])
			d.b = d.b[16:]
			r.offsets[k] = o
		}
		cs.groups[r.name] = r
	}
	if d.err == nil {
		d.err = cs.restoreConsumerGroups(&d)
	}
	if d.err != nil || len(d.b) != 0 || logStart != next {
		return errBadPartSnapshot
	}
	p.logStart, p.next, p.batches, p.producers = logStart, next, nil, producers
	p.coord = cs
	return nil
}
