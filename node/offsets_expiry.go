package node

// Offset expiry and the offsets of deleted topics, both by tombstones the
// coordinator writes like any group write.
//
// Every OffsetsRetentionCheckInterval (on the node's clock, from Tick) each
// coordinator partition this node serves looks at its groups, with Kafka's
// rules since 2.1 (KIP-211, KIP-496; OffsetExpirationCondition):
//   - a group without members whose log names a protocol type: an offset
//     expires OffsetsRetention after the group became empty (the state
//     timestamp of its last metadata record);
//   - a group with neither (a simple group: offsets committed from outside
//     the protocol): OffsetsRetention after its last commit;
//   - a Stable consumer group whose subscriptions are known: the offsets of
//     topics no member subscribes to, OffsetsRetention after their last
//     commit;
//   - any other group (in a rebalance, or of another protocol): none.
//
// An offset committed with a retention time of its own (v2–v4) expires at
// that time instead. A group with a commit in flight is left for the next
// check (its tombstones must not land on a commit they did not see). An
// empty group left without offsets is deleted too, as Kafka deletes it.
//
// A topic deleted takes the groups' commits for it along: when its deletion
// applies, each coordinator partition this node serves writes tombstones
// for them (Kafka's onPartitionsDeleted), after the group's commits in
// flight. A coordinator partition that is not being served at that moment
// (between leaders) keeps them, as at Kafka.

import (
	"github.com/ketch-dev/ketch/wire"
)

// expireOffsets runs the periodic check when it is due (from Tick).
func (n *Node) expireOffsets() {
	if n.offsetsCheckAt.IsZero() {
		n.offsetsCheckAt = n.now.Add(n.cfg.OffsetsRetentionCheckInterval)
		return
	}
	if n.now.Before(n.offsetsCheckAt) {
		return
	}
	n.offsetsCheckAt = n.now.Add(n.cfg.OffsetsRetentionCheckInterval)
	for _, g := range n.servedCoordinators() {
		cs := g.part.coord
		for _, name := range cs.groupNames() {
			n.expireGroupOffsets(g, cs, name)
		}
	}
}

// servedCoordinators are the __consumer_offsets partitions this node leads
// and serves, their session state loaded.
func (n *Node) servedCoordinators() []*group {
	t := n.meta.topics[offsetsTopic]
	if t == nil {
		return nil
	}
	var out []*group
	for _, pm := range t.partitions {
		g := n.groups[pm.group]
		if g == nil || !g.serving() || g.part == nil || g.part.coord == nil {
			continue
		}
		n.loadCoordinator(g)
		out = append(out, g)
	}
	return out
}

func (n *Node) expireGroupOffsets(g *group, cs *coordState, name string) {
	r := cs.group(name)
	if r == nil || cs.commitsInFlight[name] > 0 {
		return
	}
	state, _, lg, _ := groupView(cs, name)
	if lg != nil && lg.writing {
		return
	}
	nowMs := n.now.UnixMilli()
	retentionMs := n.cfg.OffsetsRetention.Milliseconds()
	commitBase := func(o offsetRec) int64 { return o.commitTS }
	var base func(offsetRec) int64
	var subscribed map[string]bool
	switch {
	case cs.consumer[name] != nil:
		// A KIP-848 group, in any state: the offsets of topics no member
		// subscribes to, OffsetsRetention after their last commit, as
		// Kafka's ConsumerGroup (consumer_group_heartbeat.go).
		subscribed, base = cs.consumerSubscribedTopics(name, metaTopics{n.meta}), commitBase
	case state == stateEmpty && r.meta != nil && r.meta.ProtocolType != "":
		since := r.meta.CurrentStateTimestamp
		base = func(o offsetRec) int64 {
			if since <= 0 {
				return o.commitTS // no state timestamp: the commit's
			}
			return since
		}
	case state == stateEmpty:
		base = commitBase
	case state == stateStable && r.meta != nil && r.meta.ProtocolType == consumerProtocolType:
		subs, ok := r.subscribedTopics()
		if !ok {
			return
		}
		subscribed, base = subs, commitBase
	case n.cfg.Bug == BugExpireDuringRebalance && (state == statePreparingRebalance || state == stateCompletingRebalance):
		// Planted (KAFKA-13636): a group in a rebalance is taken for
		// one without members, and each offset's base is its commit.
		base = commitBase
	default:
		return
	}
	var recs []wire.Record
	for _, k := range r.sortedOffsets() {
		if subscribed[k.topic] {
			continue
		}
		o, _ := r.offsetOf(k.topic, k.partition)
		expired := nowMs-base(o) >= retentionMs
		if o.expireTS >= 0 {
			expired = nowMs >= o.expireTS
		}
		if expired {
			recs = append(recs, wire.Record{Key: offsetCommitKey(name, k.topic, k.partition)})
		}
	}
	if len(recs) == r.offsetCount() && state == stateEmpty {
		// Nothing left: the empty group goes too.
		if r.meta != nil {
			recs = append(recs, wire.Record{Key: groupMetadataKey(name)})
		}
		if lg != nil {
			n.writeGroupDelete(g, cs, lg, recs, func(int16) {})
			return
		}
	}
	if len(recs) == 0 {
		return
	}
	n.writeGroup(g, groupGuard{kind: guardNone, group: name}, recs, func(int16) {})
}

// dropDeletedTopicsOffsets writes tombstones for every group's commits of
// topics just deleted, in each coordinator partition this node serves. A
// group with commits in flight (checked against the topic before it went)
// has its tombstones written once they are answered, so they cover them.
func (n *Node) dropDeletedTopicsOffsets(deleted []*topicMeta) {
	gone := map[string]bool{}
	for _, t := range deleted {
		gone[t.name] = true
	}
	for _, g := range n.servedCoordinators() {
		cs := g.part.coord
		var recs []wire.Record
		for _, name := range cs.groupNames() {
			if cs.commitsInFlight[name] > 0 {
				cs.afterCommits[name] = append(cs.afterCommits[name], func() {
					if recs := goneTombstones(cs.group(name), gone); len(recs) > 0 {
						n.writeGroup(g, groupGuard{kind: guardNone}, recs, func(int16) {})
					}
				})
				continue
			}
			recs = append(recs, goneTombstones(cs.group(name), gone)...)
		}
		if len(recs) > 0 {
			n.writeGroup(g, groupGuard{kind: guardNone}, recs, func(int16) {})
		}
	}
}

// goneTombstones are the tombstones of a group's commits of topics gone.
func goneTombstones(r *groupRec, gone map[string]bool) []wire.Record {
	var recs []wire.Record
	for _, k := range r.sortedOffsets() {
		if gone[k.topic] {
			recs = append(recs, wire.Record{Key: offsetCommitKey(r.name, k.topic, k.partition)})
		}
	}
	return recs
}
