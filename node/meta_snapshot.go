package node

import (
	"encoding/binary"
	"errors"
	"slices"

	"go.etcd.io/raft/v3"
)

// The metadata group's log is compacted: every metaSnapshotEntries applied
// entries its state is written as a raft snapshot and older entries dropped.
// A follower that fell behind the log start gets the snapshot from the
// leader (raft sends it; the transport carries it like any message).
// Partition groups are not compacted: their log is the partition's records,
// and dropping records is retention, which ketch does not have yet.

const (
	metaSnapshotEntriesDefault = 4096
	// metaEntriesKept stay behind a snapshot so a follower a little behind
	// catches up from the log rather than by snapshot.
	metaEntriesKept     = 64
	metaSnapshotVersion = 3 // 2: fenced brokers at the end; 3: then configs (1 and 2 are still read)
)

var errBadMetaSnapshot = errors.New("node: malformed metadata snapshot")

// encode writes the state in one deterministic order (every map sorted), so
// replicas snapshotting at the same index write the same bytes.
func (m *metaState) encode() []byte {
	b := []byte{metaSnapshotVersion}
	b = binary.AppendUvarint(b, m.nextGroup)
	b = binary.AppendVarint(b, m.nextProducerID)
	ids := make([]int32, 0, len(m.brokers))
	for id := range m.brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendRegister(b, id, m.brokers[id].host, m.brokers[id].port)
	}
	topics := m.sortedTopics()
	b = binary.AppendUvarint(b, uint64(len(topics)))
	for _, t := range topics {
		b = appendString(b, t.name)
		b = append(b, t.id[:]...)
		b = binary.AppendUvarint(b, uint64(len(t.partitions)))
		for _, p := range t.partitions {
			b = binary.AppendUvarint(b, p.group)
			b = binary.AppendUvarint(b, uint64(len(p.replicas)))
			for _, r := range p.replicas {
				b = binary.AppendUvarint(b, r)
			}
		}
	}
	groups := make([]uint64, 0, len(m.leaders))
	for g := range m.leaders {
		groups = append(groups, g)
	}
	sortU64(groups)
	b = binary.AppendUvarint(b, uint64(len(groups)))
	for _, g := range groups {
		b = appendLeader(b, g, m.leaders[g].leader, m.leaders[g].term)
	}
	fenced := make([]int32, 0, len(m.fenced))
	for id := range m.fenced {
		fenced = append(fenced, id)
	}
	slices.Sort(fenced)
	b = binary.AppendUvarint(b, uint64(len(fenced)))
	for _, id := range fenced {
		b = binary.AppendVarint(b, int64(id))
	}
	b = appendConfigs(b, m.brokerConfigs)
	var withConfigs []*topicMeta
	for _, t := range topics {
		if len(t.configs) > 0 {
			withConfigs = append(withConfigs, t)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(withConfigs)))
	for _, t := range withConfigs {
		b = appendString(b, t.name)
		b = appendConfigs(b, t.configs)
	}
	return b
}

// decodeMetaState reads what encode wrote. Counts are checked against the
// bytes left, so a corrupt snapshot cannot make it allocate wildly.
func decodeMetaState(b []byte) (*metaState, error) {
	if len(b) == 0 || b[0] < 1 || b[0] > metaSnapshotVersion {
		return nil, errBadMetaSnapshot
	}
	version := b[0]
	d := dec{b: b[1:]}
	m := newMetaState()
	m.nextGroup = d.uvarint()
	m.nextProducerID = d.varint()
	count := func() int {
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.err = errBadMetaSnapshot
			return 0
		}
		return int(n)
	}
	for i, n := 0, count(); i < n && d.err == nil; i++ {
		id := int32(d.varint())
		host := d.string()
		port := int32(d.varint())
		m.brokers[id] = brokerInfo{host: host, port: port}
	}
	for i, n := 0, count(); i < n && d.err == nil; i++ {
		t := &topicMeta{name: d.string()}
		if len(d.b) < 16 {
			return nil, errBadMetaSnapshot
		}
		copy(t.id[:], d.b[:16])
		d.b = d.b[16:]
		for j, np := 0, count(); j < np && d.err == nil; j++ {
			pm := partMeta{group: d.uvarint()}
			for k, nr := 0, count(); k < nr && d.err == nil; k++ {
				pm.replicas = append(pm.replicas, d.uvarint())
			}
			t.partitions = append(t.partitions, pm)
		}
		m.topics[t.name] = t
		m.byID[t.id] = t
	}
	for i, n := 0, count(); i < n && d.err == nil; i++ {
		g, leader, term := d.uvarint(), d.uvarint(), d.uvarint()
		m.leaders[g] = leaderInfo{leader: leader, term: term}
	}
	if version >= 2 {
		for i, n := 0, count(); i < n && d.err == nil; i++ {
			m.fenced[int32(d.varint())] = true
		}
	}
	if version >= 3 {
		m.brokerConfigs = d.configs()
		for i, n := 0, count(); i < n && d.err == nil; i++ {
			name := d.string()
			c := d.configs()
			if t := m.topics[name]; t != nil && d.err == nil {
				t.configs = c
			} else {
				d.err = errBadMetaSnapshot
			}
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errBadMetaSnapshot
	}
	return m, nil
}

// maybeSnapshotMeta compacts the metadata group's log once enough entries
// applied since its last snapshot.
func (n *Node) maybeSnapshotMeta(g *group) {
	every := uint64(n.cfg.MetaSnapshotEntries)
	if g.id != metaGroup || g.applied < g.snapIndex+every || g.confState == nil {
		return
	}
	if _, err := g.st.CreateSnapshot(g.applied, g.confState, n.meta.encode()); err != nil {
		n.stop(err)
		return
	}
	g.snapIndex = g.applied
	if keep := max(1, min(metaEntriesKept, every/8)); g.applied > keep {
		if err := g.st.Compact(g.applied - keep); err != nil && !errors.Is(err, raft.ErrCompacted) {
			n.stop(err)
		}
	}
}

// restoreMeta replaces the metadata state with a snapshot's and brings the
// partition groups this node hosts in line with it.
func (n *Node) restoreMeta(data []byte) error {
	n.reportCheck, n.reportAll = true, true
	m, err := decodeMetaState(data)
	if err != nil {
		return err
	}
	var eff metaEffects
	for _, t := range n.meta.sortedTopics() {
		if nt, ok := m.topics[t.name]; !ok || nt.id != t.id {
			eff.deleted = append(eff.deleted, t)
		}
	}
	for _, t := range m.sortedTopics() {
		// A topic that gained partitions (CreatePartitions) is "created"
		// again: its existing groups stay, the new ones are added.
		if ot, ok := n.meta.topics[t.name]; !ok || ot.id != t.id || len(ot.partitions) < len(t.partitions) {
			eff.created = append(eff.created, t)
		}
	}
	n.meta = m
	n.applyMetaEffects(eff)
	return nil
}
