package node

// The records Kafka 4.x writes to __consumer_offsets for a KIP-848 consumer
// group, and their fold. kmsg v1.15.1 has no types for them (it has the
// classic GroupMetadata and OffsetCommit ones only), so they are encoded
// here to Kafka's schemas (group-coordinator's ConsumerGroup*Key/Value.json,
// value version 0, flexible):
//
//	key version 3  ConsumerGroupMetadata               {group}             -> {Epoch int32; tag 0: MetadataHash int64}
//	key version 5  ConsumerGroupMemberMetadata         {group, member id}  -> {InstanceId, RackId, ClientId, ClientHost,
//	                                                                           SubscribedTopicNames, SubscribedTopicRegex,
//	                                                                           RebalanceTimeoutMs int32, ServerAssignor}
//	key version 6  ConsumerGroupTargetAssignmentMetadata {group}           -> {AssignmentEpoch int32}
//	key version 7  ConsumerGroupTargetAssignmentMember {group, member id}  -> {TopicPartitions [{TopicId uuid, Partitions [int32]}]}
//	key version 8  ConsumerGroupCurrentMemberAssignment {group, member id} -> {MemberEpoch, PreviousMemberEpoch int32, State int8,
//	                                                                           AssignedPartitions, PartitionsPendingRevocation}
//
// Keys are an int16 version and classic (int16-length) strings; a nil value
// is a tombstone. Key version 4 (ConsumerGroupPartitionMetadata) is not
// written: Kafka 4.x replaced it by the metadata hash, which ketch computes
// its own way (sha256 of the subscribed topics' names, ids and partition
// counts), so a hash ketch wrote means nothing to Kafka and the reverse.

import (
	"encoding/binary"
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kbin"

	"github.com/ketch-dev/ketch/wire"
)

const (
	keyVersionCGMetadata         = 3
	keyVersionCGPartitionMeta    = 4
	keyVersionCGMemberMetadata   = 5
	keyVersionCGTargetMetadata   = 6
	keyVersionCGTargetMember     = 7
	keyVersionCGCurrentAssigment = 8
)

var errCGRecord = errors.New("node: malformed consumer group record")

func cgKey(version int16, group, member string, withMember bool) []byte {
	k := kbin.AppendInt16(nil, version)
	k = kbin.AppendString(k, group)
	if withMember {
		k = kbin.AppendString(k, member)
	}
	return k
}

func cgNullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func appendCGParts(dst []byte, s partSet) []byte {
	ids := s.ids()
	dst = kbin.AppendCompactArrayLen(dst, len(ids))
	for _, id := range ids {
		dst = kbin.AppendUuid(dst, id)
		dst = kbin.AppendCompactArrayLen(dst, len(s[id]))
		for _, p := range s[id] {
			dst = kbin.AppendInt32(dst, p)
		}
		dst = kbin.AppendUvarint(dst, 0) // no tagged fields
	}
	return dst
}

func readCGParts(b *kbin.Reader) partSet {
	s := partSet{}
	n := b.CompactArrayLen()
	if n < 0 || int(n) > len(b.Src) {
		b.Src = nil // fails Ok
		return s
	}
	for i := int32(0); i < n && b.Ok(); i++ {
		id := b.Uuid()
		np := b.CompactArrayLen()
		if np < 0 || int(np)*4 > len(b.Src) {
			b.Src = nil
			return s
		}
		for j := int32(0); j < np && b.Ok(); j++ {
			s.add(id, b.Int32())
		}
		skipTags(b)
	}
	return s
}

// skipTags reads past a tagged-field section, returning tag 0's bytes if
// present.
func skipTags(b *kbin.Reader) []byte {
	var tag0 []byte
	n := b.Uvarint()
	for i := uint32(0); i < n && b.Ok(); i++ {
		tag := b.Uvarint()
		size := b.Uvarint()
		if int(size) > len(b.Src) {
			b.Src = nil
			return nil
		}
		v := b.Span(int(size))
		if tag == 0 {
			tag0 = v
		}
	}
	return tag0
}

func cgMetadataValue(g *cgGroup) []byte {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendInt32(v, g.epoch)
	if g.metaHash == 0 {
		return kbin.AppendUvarint(v, 0)
	}
	v = kbin.AppendUvarint(v, 1)
	v = kbin.AppendUvarint(v, 0) // tag 0: MetadataHash
	v = kbin.AppendUvarint(v, 8)
	return kbin.AppendInt64(v, g.metaHash)
}

func cgMemberMetadataValue(m *cgMember) []byte {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendCompactNullableString(v, cgNullable(m.instanceID))
	v = kbin.AppendCompactNullableString(v, cgNullable(m.rackID))
	v = kbin.AppendCompactString(v, m.clientID)
	v = kbin.AppendCompactString(v, m.clientHost)
	v = kbin.AppendCompactArrayLen(v, len(m.topics))
	for _, t := range m.topics {
		v = kbin.AppendCompactString(v, t)
	}
	v = kbin.AppendCompactNullableString(v, cgNullable(m.regex))
	v = kbin.AppendInt32(v, m.rebalMs)
	v = kbin.AppendCompactNullableString(v, cgNullable(m.assignor))
	return kbin.AppendUvarint(v, 0)
}

func cgTargetMetadataValue(g *cgGroup) []byte {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendInt32(v, g.assignEpoch)
	return kbin.AppendUvarint(v, 0)
}

func cgTargetMemberValue(m *cgMember) []byte {
	v := kbin.AppendInt16(nil, 0)
	v = appendCGParts(v, m.target)
	return kbin.AppendUvarint(v, 0)
}

func cgCurrentValue(m *cgMember) []byte {
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendInt32(v, m.epoch)
	v = kbin.AppendInt32(v, m.prevEpoch)
	v = kbin.AppendInt8(v, m.state)
	v = appendCGParts(v, m.assigned)
	v = appendCGParts(v, m.revoking)
	return kbin.AppendUvarint(v, 0)
}

func (m *cgMember) sameMetadata(o *cgMember) bool {
	return m.instanceID == o.instanceID && m.rackID == o.rackID && m.clientID == o.clientID &&
		m.clientHost == o.clientHost && equalStrings(m.topics, o.topics) && m.regex == o.regex &&
		m.rebalMs == o.rebalMs && m.assignor == o.assignor
}

func (m *cgMember) sameCurrent(o *cgMember) bool {
	return m.epoch == o.epoch && m.prevEpoch == o.prevEpoch && m.state == o.state &&
		m.assigned.equal(o.assigned) && m.revoking.equal(o.revoking)
}

// cgRecords are the records that take the log's group from old (nil: none
// yet) to new, in the order Kafka writes them: a departed member's
// tombstones (current assignment, target, metadata), then members'
// metadata, the group epoch, the target assignment, and current
// assignments.
func cgRecords(old, new *cgGroup) []wire.Record {
	if old == nil {
		old = newCGGroup(new.name)
	}
	var recs []wire.Record
	add := func(k, v []byte) { recs = append(recs, wire.Record{Key: k, Value: v}) }
	name := new.name
	for _, m := range old.sortedMembers() {
		if new.members[m.id] == nil {
			add(cgKey(keyVersionCGCurrentAssigment, name, m.id, true), nil)
			add(cgKey(keyVersionCGTargetMember, name, m.id, true), nil)
			add(cgKey(keyVersionCGMemberMetadata, name, m.id, true), nil)
		}
	}
	members := new.sortedMembers()
	for _, m := range members {
		if o := old.members[m.id]; o == nil || !o.sameMetadata(m) {
			add(cgKey(keyVersionCGMemberMetadata, name, m.id, true), cgMemberMetadataValue(m))
		}
	}
	if old.epoch != new.epoch || old.metaHash != new.metaHash {
		add(cgKey(keyVersionCGMetadata, name, "", false), cgMetadataValue(new))
	}
	for _, m := range members {
		if o := old.members[m.id]; o == nil || !o.target.equal(m.target) {
			add(cgKey(keyVersionCGTargetMember, name, m.id, true), cgTargetMemberValue(m))
		}
	}
	if old.assignEpoch != new.assignEpoch {
		add(cgKey(keyVersionCGTargetMetadata, name, "", false), cgTargetMetadataValue(new))
	}
	for _, m := range members {
		if o := old.members[m.id]; o == nil || !o.sameCurrent(m) {
			add(cgKey(keyVersionCGCurrentAssigment, name, m.id, true), cgCurrentValue(m))
		}
	}
	return recs
}

// cgMemberOf finds or adds a member while folding (records of one member
// arrive in any order).
func (g *cgGroup) cgMemberOf(id string) *cgMember {
	m := g.members[id]
	if m == nil {
		m = &cgMember{id: id, assigned: partSet{}, revoking: partSet{}, target: partSet{}}
		g.members[id] = m
	}
	return m
}

// foldConsumerGroup applies one KIP-848 record (key versions 3 to 8) to the
// partition's consumer groups. A record that does not decode is skipped, as
// the classic fold skips what it cannot read.
func (cs *coordState) foldConsumerGroup(version int16, key, value []byte) {
	kb := kbin.Reader{Src: key[2:]}
	group := kb.String()
	member := ""
	switch version {
	case keyVersionCGMemberMetadata, keyVersionCGTargetMember, keyVersionCGCurrentAssigment:
		member = kb.String()
	case keyVersionCGMetadata, keyVersionCGTargetMetadata, keyVersionCGPartitionMeta:
	default:
		return
	}
	if !kb.Ok() {
		return
	}
	if cs.consumer == nil {
		cs.consumer = map[string]*cgGroup{}
	}
	g := cs.consumer[group]
	if value == nil {
		if g == nil {
			return
		}
		switch version {
		case keyVersionCGMetadata:
			// The group's deletion (Kafka writes it last).
			delete(cs.consumer, group)
		case keyVersionCGMemberMetadata:
			delete(g.members, member)
		case keyVersionCGTargetMember:
			if m := g.members[member]; m != nil {
				m.target = partSet{}
			}
		case keyVersionCGCurrentAssigment:
			if m := g.members[member]; m != nil {
				m.epoch, m.prevEpoch, m.state, m.assigned, m.revoking = 0, 0, cgStable, partSet{}, partSet{}
			}
		}
		return
	}
	b := kbin.Reader{Src: value}
	if b.Int16() != 0 || !b.Ok() {
		return // a value version ketch does not write
	}
	if g == nil {
		g = newCGGroup(group)
	}
	switch version {
	case keyVersionCGMetadata:
		epoch := b.Int32()
		tag0 := skipTags(&b)
		if !b.Ok() {
			return
		}
		g.epoch, g.metaHash = epoch, 0
		if len(tag0) == 8 {
			g.metaHash = int64(binary.BigEndian.Uint64(tag0))
		}
	case keyVersionCGMemberMetadata:
		inst := b.CompactNullableString()
		rack := b.CompactNullableString()
		client := b.CompactString()
		host := b.CompactString()
		n := b.CompactArrayLen()
		if n < 0 || int(n) > len(b.Src) {
			return
		}
		topics := make([]string, 0, n)
		for i := int32(0); i < n && b.Ok(); i++ {
			topics = append(topics, b.CompactString())
		}
		regex := b.CompactNullableString()
		rebal := b.Int32()
		assignor := b.CompactNullableString()
		skipTags(&b)
		if !b.Ok() {
			return
		}
		m := g.cgMemberOf(member)
		m.instanceID, m.rackID, m.clientID, m.clientHost = deref(inst), deref(rack), client, host
		sort.Strings(topics)
		m.topics, m.regex, m.rebalMs, m.assignor = topics, deref(regex), rebal, deref(assignor)
	case keyVersionCGTargetMetadata:
		e := b.Int32()
		skipTags(&b)
		if !b.Ok() {
			return
		}
		g.assignEpoch = e
	case keyVersionCGTargetMember:
		s := readCGParts(&b)
		skipTags(&b)
		if !b.Ok() {
			return
		}
		g.cgMemberOf(member).target = s
	case keyVersionCGCurrentAssigment:
		epoch, prev, state := b.Int32(), b.Int32(), b.Int8()
		assigned := readCGParts(&b)
		revoking := readCGParts(&b)
		skipTags(&b)
		if !b.Ok() {
			return
		}
		m := g.cgMemberOf(member)
		m.epoch, m.prevEpoch, m.state, m.assigned, m.revoking = epoch, prev, state, assigned, revoking
	default:
		return
	}
	cs.consumer[group] = g
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// appendConsumerGroups writes the partition's KIP-848 groups into its
// snapshot (part_snapshot.go) as the records that rebuild them: a count,
// then each record's key and value (a group's in cgRecords' order, groups
// by name).
func (cs *coordState) appendConsumerGroups(b []byte) []byte {
	b = cs.appendConsumerRecords(b)
	// Then each group's count of applied writes, by name.
	for _, name := range sortedKeys(cs.consumer) {
		b = binary.AppendVarint(b, int64(cs.consumer[name].writes))
	}
	return b
}

// appendConsumerRecords writes the records of appendConsumerGroups alone:
// what the log's records determine (the count of writes is the
// coordinator's own bookkeeping).
func (cs *coordState) appendConsumerRecords(b []byte) []byte {
	var recs []wire.Record
	for _, name := range sortedKeys(cs.consumer) {
		recs = append(recs, cgRecords(nil, cs.consumer[name])...)
		if cs.consumer[name].epoch == 0 && cs.consumer[name].metaHash == 0 {
			// cgRecords writes no epoch record for an epoch-0 group, and
			// the fold makes no group without a record: name it.
			recs = append(recs, wire.Record{Key: cgKey(keyVersionCGMetadata, name, "", false), Value: cgMetadataValue(cs.consumer[name])})
		}
	}
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for _, r := range recs {
		b = binary.AppendUvarint(b, uint64(len(r.Key)))
		b = append(b, r.Key...)
		b = binary.AppendUvarint(b, uint64(len(r.Value)))
		b = append(b, r.Value...)
	}
	return b
}

// restoreConsumerGroups folds the records appendConsumerGroups wrote.
func (cs *coordState) restoreConsumerGroups(d *dec) error {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return errCGRecord
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		kl := d.uvarint()
		if kl > uint64(len(d.b)) || kl < 2 {
			return errCGRecord
		}
		key := d.b[:kl:kl]
		d.b = d.b[kl:]
		vl := d.uvarint()
		if vl > uint64(len(d.b)) {
			return errCGRecord
		}
		value := d.b[:vl:vl]
		d.b = d.b[vl:]
		cs.fold(key, value)
	}
	for _, name := range sortedKeys(cs.consumer) {
		cs.consumer[name].writes = int32(d.varint())
	}
	return d.err
}
