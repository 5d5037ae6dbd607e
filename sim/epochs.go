package sim

import "time"

// One leader per leader epoch, as clients see it. Kafka's leader epoch names
// one leadership of a partition (KIP-101, KIP-279): a client that learns
// (leader L, epoch E) from one Metadata answer and (leader M, epoch E) from
// another, M ≠ L, can no longer use the epoch to fence a deposed leader or
// to find where a log diverged (KAFKA-10527). ketch's epoch is the raft term,
// which has at most one leader, so every Metadata answer of every broker, be
// it a replica's own view or the leader's report relayed by another broker,
// names the same leader for an epoch.

// A topic deleted and created again under its name is a new topic (a new
// topic ID) whose epochs start over, as Kafka's do: the key has the ID.
type epochKey struct {
	id    [16]byte
	tp    tp
	epoch int32
}

// epochSighting is the first Metadata answer that named an epoch's leader.
type epochSighting struct {
	leader int32
	client int
	broker uint64
	at     int64
}

// noteEpochLeader checks the Metadata answer broker gave client c for
// partition k of topic ID id against every earlier answer for the same
// epoch.
func (w *World) noteEpochLeader(client int, broker uint64, id [16]byte, k tp, epoch, leader int32) {
	if epoch < 0 {
		return // no epoch known: nothing is claimed
	}
	if w.epochLeaders == nil {
		w.epochLeaders = make(map[epochKey]epochSighting)
	}
	key := epochKey{id, k, epoch}
	first, ok := w.epochLeaders[key]
	if !ok {
		w.epochLeaders[key] = epochSighting{leader: leader, client: client, broker: broker, at: w.now}
		return
	}
	if first.leader != leader {
		w.violate("c%d: node %d's Metadata names node %d leader of %s/%d in epoch %d, but node %d's answer to c%d at %v named node %d: one leader epoch has two leaders",
			client, broker, leader, k.topic, k.p, epoch, first.broker, first.client, time.Duration(first.at), first.leader)
	}
}
