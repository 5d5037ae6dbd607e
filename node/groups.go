package node

// The replicated half of the group coordinator. Groups live where Kafka
// keeps them: __consumer_offsets, an internal topic whose partitions are
// ordinary raft groups holding Kafka's own group and offset records
// (GroupMetadataKey/Value, OffsetCommitKey/Value; a nil value is a
// tombstone) in ordinary record batches, so Fetch serves them like any
// topic. Every replica of such a partition folds the records it applies into
// its coordState; the leader serves the groups hashed to the partition from
// that fold (coordinator.go) and keeps only sessions and timers of its own.
//
// Every write is a cmdGroupWrite entry: a guard and one record batch. The
// guard is checked at apply, on every replica, against the fold, so a write
// made from a stale view (an offset commit of a fenced generation, a
// generation written over a newer one) appends nothing and answers an error,
// the same everywhere; what the log holds is exactly what took effect.

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// offsetsTopic is Kafka's internal topic of group state.
const offsetsTopic = "__consumer_offsets"

// Record key versions, as Kafka writes them: 0 and 1 are offset commits,
// 2 is group metadata.
const (
	keyVersionOffsetCommit  = 1
	keyVersionGroupMetadata = 2
	// Value versions written: OffsetCommitValue v3 (leader epoch, no
	// expire timestamp), GroupMetadataValue v3 (rebalance timeouts, static
	// instance ids), as Kafka 3.x/4.x writes for the classic protocol.
	valueVersionOffsetCommit  = 3
	valueVersionGroupMetadata = 3
)

// Limits on what one coordinator partition holds: clients choose group,
// member and metadata names, so each is bounded.
const (
	groupIDBytesMax        = 255
	groupsPerPartitionMax  = 10000
	membersPerGroupMax     = 1000
	offsetsPerGroupMax     = 100000
	memberMetadataBytesMax = 256 << 10 // one member's protocols' metadata, or its assignment
	// groupMetadataBytesMax bounds what a group's members hold together
	// (their protocols' metadata, or the leader's assignments): the
	// coordinator keeps it in memory and writes it as one record.
	groupMetadataBytesMax  = 4 << 20
	offsetMetadataBytesMax = 4096 // Kafka's offset.metadata.max.bytes
)

// coordState is one __consumer_offsets partition's groups: the fold of its
// log (every replica), plus the leader's live sessions (coordinator.go).
type coordState struct {
	groups map[string]*groupRec
	// consumer are the KIP-848 consumer groups (consumer_group_records.go),
	// with the leader's session state of them (consumer_group_heartbeat.go).
	consumer map[string]*cgGroup
	cgLeader *cgLeader

	// live is the leader's session state, built for loadedTerm from groups
	// when the leader first serves a group request of its term; nil on a
	// follower.
	live       map[string]*liveGroup
	loadedTerm uint64
	// commitsInFlight counts the leader's offset commits proposed and not
	// yet answered, per group: expiry leaves such a group alone (Kafka's
	// pending offset commits), so its tombstones never land on a commit
	// it did not see.
	commitsInFlight map[string]int
	// afterCommits are what waits for a group's commits in flight to be
	// answered (a DeleteGroups, which must tombstone them too).
	afterCommits map[string][]func()
}

func newCoordState() *coordState {
	return &coordState{groups: map[string]*groupRec{}, commitsInFlight: map[string]int{}, afterCommits: map[string][]func(){}}
}

// groupRec is one group as the log says it is.
type groupRec struct {
	name string
	// meta is the last group metadata record (nil: the group has only
	// offsets, or its metadata was deleted).
	meta    *kmsg.GroupMetadataValue
	offsets map[tpKey]offsetRec
}

type tpKey struct {
	topic     string
	partition int32
}

type offsetRec struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTS    int64
	expireTS    int64 // -1: none (offsets expire by the group's emptiness)
	// topicID is the topic's id when committed (zero if unknown): a
	// commit of an earlier incarnation of a topic of the same name is not
	// the new one's (offset_fetch.go).
	topicID [16]byte
}

// generation is the group's generation in the log (0 if it never had one).
func (r *groupRec) generation() int32 {
	if r == nil || r.meta == nil {
		return 0
	}
	return r.meta.Generation
}

// member finds a member of the group's current generation.
func (r *groupRec) member(id string) *kmsg.GroupMetadataValueMember {
	if r == nil || r.meta == nil {
		return nil
	}
	for i := range r.meta.Members {
		if r.meta.Members[i].MemberID == id {
			return &r.meta.Members[i]
		}
	}
	return nil
}

// offsetOf is the group's committed offset of a partition.
func (r *groupRec) offsetOf(topic string, partition int32) (offsetRec, bool) {
	if r == nil {
		return offsetRec{}, false
	}
	o, ok := r.offsets[tpKey{topic, partition}]
	return o, ok
}

func (r *groupRec) offsetCount() int {
	if r == nil {
		return 0
	}
	return len(r.offsets)
}

// sortedOffsets lists the group's committed partitions by topic, then
// partition.
func (r *groupRec) sortedOffsets() []tpKey {
	if r == nil {
		return nil
	}
	out := make([]tpKey, 0, len(r.offsets))
	for k := range r.offsets {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b tpKey) int {
		if a.topic != b.topic {
			return strings.Compare(a.topic, b.topic)
		}
		return int(a.partition) - int(b.partition)
	})
	return out
}

func (cs *coordState) group(name string) *groupRec {
	return cs.groups[name]
}

func (cs *coordState) getOrAdd(name string) *groupRec {
	r := cs.groups[name]
	if r == nil {
		r = &groupRec{name: name, offsets: map[tpKey]offsetRec{}}
		cs.groups[name] = r
	}
	return r
}

// sortedGroups lists the groups by name (for answers that list them).
func (cs *coordState) sortedGroups() []*groupRec {
	names := make([]string, 0, len(cs.groups))
	for n := range cs.groups {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*groupRec, len(names))
	for i, n := range names {
		out[i] = cs.groups[n]
	}
	return out
}

// fold applies one record of the partition's log. A record that does not
// decode as Kafka's group records is ignored, as Kafka's loader skips
// unknown key versions; ketch itself writes only these.
func (cs *coordState) fold(key, value []byte) {
	if len(key) < 2 {
		return
	}
	switch v := int16(binary.BigEndian.Uint16(key)); v {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if k.ReadFrom(key) != nil {
			return
		}
		if value == nil {
			if r := cs.groups[k.Group]; r != nil {
				delete(r.offsets, tpKey{k.Topic, k.Partition})
				cs.dropIfEmpty(r)
			}
			return
		}
		var ov kmsg.OffsetCommitValue
		if ov.ReadFrom(value) != nil {
			return
		}
		r := cs.getOrAdd(k.Group)
		rec := offsetRec{offset: ov.Offset, leaderEpoch: -1, metadata: ov.Metadata, commitTS: ov.CommitTimestamp, expireTS: -1, topicID: ov.TopicID}
		if ov.Version >= 3 {
			rec.leaderEpoch = ov.LeaderEpoch
		}
		if ov.Version == 1 {
			rec.expireTS = ov.ExpireTimestamp
		}
		r.offsets[tpKey{k.Topic, k.Partition}] = rec
	case 2:
		var k kmsg.GroupMetadataKey
		if k.ReadFrom(key) != nil {
			return
		}
		if value == nil {
			if r := cs.groups[k.Group]; r != nil {
				r.meta = nil
				cs.dropIfEmpty(r)
			}
			return
		}
		gv := new(kmsg.GroupMetadataValue)
		if gv.ReadFrom(value) != nil {
			return
		}
		cs.getOrAdd(k.Group).meta = gv
	case keyVersionCGMetadata, keyVersionCGPartitionMeta, keyVersionCGMemberMetadata,
		keyVersionCGTargetMetadata, keyVersionCGTargetMember, keyVersionCGCurrentAssigment:
		cs.foldConsumerGroup(v, key, value)
	}
}

func (cs *coordState) dropIfEmpty(r *groupRec) {
	if r.meta == nil && len(r.offsets) == 0 {
		delete(cs.groups, r.name)
	}
}

// Guards of a group write, checked at apply against the fold.
type guardKind byte

const (
	// guardNone: always applies (tombstones of expired offsets, deletes
	// already decided by the coordinator from the fold it serves).
	guardNone guardKind = 0
	// guardGeneration: the group's generation in the log must be gen
	// (a write of generation gen+1 expects gen; a write of the same
	// generation, an assignment, expects it).
	guardGeneration guardKind = 1
	// guardCommit: an offset commit by member of generation gen; gen < 0
	// is a commit from outside the group protocol, allowed only while
	// the group has no members.
	guardCommit guardKind = 2
	// guardNoMembers: the group has no members in the log (a delete of
	// the group, decided by the coordinator while it was empty); else
	// NON_EMPTY_GROUP.
	guardNoMembers guardKind = 3
)

type groupGuard struct {
	kind   guardKind
	group  string
	gen    int32
	member string
}

func appendGroupWrite(dst []byte, gd groupGuard, batch []byte) []byte {
	dst = append(dst, byte(gd.kind))
	dst = appendString(dst, gd.group)
	dst = binary.AppendVarint(dst, int64(gd.gen))
	dst = appendString(dst, gd.member)
	return append(dst, batch...)
}

func parseGroupWrite(body []byte) (groupGuard, []byte, error) {
	var gd groupGuard
	if len(body) < 1 {
		return gd, nil, errShortEntry
	}
	gd.kind = guardKind(body[0])
	d := dec{b: body[1:]}
	gd.group = d.string()
	gd.gen = int32(d.varint())
	gd.member = d.string()
	return gd, d.b, d.err
}

// check says whether a guarded write may apply now (0) or the error it
// answers instead. bug is the node's Config.Bug.
func (cs *coordState) check(gd groupGuard, bug string) int16 {
	r := cs.groups[gd.group]
	if bug == BugGroupStateInMemory && gd.kind == guardCommit {
		// Planted: membership is not in the log, so the log cannot
		// judge a commit; the coordinator's memory alone did.
		return 0
	}
	switch gd.kind {
	case guardNone:
		return 0
	case guardGeneration:
		if r.generation() != gd.gen {
			return kerr.IllegalGeneration.Code
		}
		return 0
	case guardNoMembers:
		if r != nil && r.meta != nil && len(r.meta.Members) > 0 || cs.isConsumerGroup(gd.group) {
			return kerr.NonEmptyGroup.Code
		}
		return 0
	case guardCommit:
		if cs.consumer[gd.group] != nil {
			// A KIP-848 group: the generation is the member epoch (the
			// version was checked by the handler).
			_, code := cs.consumerGroupCommitCheck(gd.group, gd.member, gd.gen, 9)
			return code
		}
		if gd.gen < 0 {
			if r != nil && r.meta != nil && len(r.meta.Members) > 0 {
				return kerr.UnknownMemberID.Code
			}
			return 0
		}
		if r.member(gd.member) == nil {
			return kerr.UnknownMemberID.Code
		}
		if r.generation() != gd.gen {
			return kerr.IllegalGeneration.Code
		}
		return 0
	case guardConsumer:
		return cs.checkConsumerWrite(gd)
	}
	return kerr.InvalidRequest.Code
}

// groupWriteResult is what applying a group write tells its proposer.
type groupWriteResult struct {
	code int16
	base int64 // first offset of the batch in the partition, if appended
}

// applyGroupWrite checks the guard and, if it holds, appends the batch to
// the partition like a produce and folds its records. bug is the node's
// Config.Bug.
func (p *partState) applyGroupWrite(raftIndex, term uint64, body []byte, bug string) groupWriteResult {
	gd, batch, err := parseGroupWrite(body)
	if err != nil {
		return groupWriteResult{code: kerr.CorruptMessage.Code, base: -1}
	}
	if bug == BugCommitAnyGeneration && gd.kind == guardCommit {
		// Planted (KAFKA-2555): the commit's generation and member go
		// unchecked.
		gd.kind = guardNone
	}
	if code := p.coord.check(gd, bug); code != 0 {
		return groupWriteResult{code: code, base: -1}
	}
	_, recs, err := wire.ParseRecords(batch)
	if err != nil {
		return groupWriteResult{code: kerr.CorruptMessage.Code, base: -1}
	}
	r := p.applyProduce(raftIndex, term, batch, "")
	if r.code != 0 {
		return groupWriteResult{code: r.code, base: -1}
	}
	for _, rec := range recs {
		p.coord.fold(rec.Key, rec.Value)
	}
	if gd.kind == guardConsumer {
		p.coord.consumerWriteApplied(gd.group)
	}
	return groupWriteResult{base: r.base}
}

// Record builders.

func groupMetadataKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: keyVersionGroupMetadata, Group: group}
	return k.AppendTo(nil)
}

func offsetCommitKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: keyVersionOffsetCommit, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetCommitValue(o offsetRec) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = valueVersionOffsetCommit
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.offset, o.leaderEpoch, o.metadata, o.commitTS
	if o.topicID != ([16]byte{}) {
		v.Version, v.TopicID = 4, o.topicID // v4 carries the topic id (tag 0)
	}
	if o.expireTS >= 0 {
		// An offset with its own expire time (a v2–v4 commit's
		// retention) is written as Kafka writes it: value v1, which has
		// the expire timestamp and no leader epoch.
		v.Version = 1
		v.ExpireTimestamp = o.expireTS
	}
	return v.AppendTo(nil)
}

// groupRecordsBatch wraps records in one uncompressed batch, timestamped
// nowMs: the form every group write takes in the log.
func groupRecordsBatch(nowMs int64, recs []wire.Record) []byte {
	return wire.AppendBatch(nil, wire.BatchSpec{
		FirstTimestamp: nowMs,
		ProducerID:     -1,
		ProducerEpoch:  -1,
		BaseSequence:   -1,
		Records:        recs,
	})
}

// isInternalTopic: topics clients may read but not write or manage.
func isInternalTopic(name string) bool { return name == offsetsTopic }
