package node

// Idempotent producers' state expires, as Kafka's does
// (producer.id.expiration.ms): a producer that has not appended for
// ProducerIDExpiration is forgotten, so a partition's producer table does
// not grow with every client that ever produced to it.
//
// The state is replicated, so expiry is decided by entries, and by broker
// time, never by a producer's CreateTime (a client writing old timestamps
// would lose its state at once, as in KAFKA-6817). Every
// ProducerIDExpirationCheckInterval the leader of a partition that has
// producers to look at (one that appended since the last check, or one due)
// proposes cmdExpireProducers carrying its clock T and the expiration; when
// it applies, every replica stamps T as the last time seen of each producer
// that appended since the previous check, then drops those last seen at or
// before T less the expiration. The same ones everywhere, whatever each
// node's clock or configuration; a producer's expiry counts from the first
// check after its last batch, so it comes up to one interval late, never
// early. A quiet partition whose producers are stamped and not yet due
// proposes nothing until one is.
//
// A producer that sends again after that is new to the partition: a first
// batch of sequence 0 (a producer that restarted, or bumped its epoch) is
// taken, any other sequence is OUT_OF_ORDER_SEQUENCE_NUMBER (where Kafka
// 2.5+ accepts any sequence from a producer it does not know: ketch never
// appends a batch it cannot order). The check visits every partition
// hosted, once per interval (ten minutes by default), not per tick.

import (
	"encoding/binary"
	"time"
)

const (
	producerIDExpirationDefault      = 24 * time.Hour
	producerIDExpirationCheckDefault = 10 * time.Minute
)

// expireProducers runs the periodic check when it is due (from Tick).
func (n *Node) expireProducers() {
	if n.producersCheckAt.IsZero() {
		n.producersCheckAt = n.now.Add(n.cfg.ProducerIDExpirationCheckInterval)
		return
	}
	if n.now.Before(n.producersCheckAt) {
		return
	}
	n.producersCheckAt = n.now.Add(n.cfg.ProducerIDExpirationCheckInterval)
	now, exp := n.now.UnixMilli(), n.cfg.ProducerIDExpiration.Milliseconds()
	for _, id := range n.groupOrder {
		g := n.groups[id]
		if g == nil || g.part == nil || !g.serving() || !g.part.producersToCheck(now-exp) {
			continue
		}
		body := binary.AppendVarint(binary.AppendVarint(nil, now), exp)
		// A proposal lost is made again at the next check.
		n.propose(g, cmdExpireProducers, body, n.now.Add(n.cfg.ProducerIDExpirationCheckInterval), func(any) {}, func(int16) {})
	}
}

// producersToCheck reports whether some producer appended since the last
// check or was last seen at or before cutoff. (Any order: a disjunction.)
func (p *partState) producersToCheck(cutoff int64) bool {
	if len(p.producers) == 0 {
		return false // no range over an empty map: an idle partition's check costs nothing
	}
	for _, ps := range p.producers {
		if ps.touched || ps.lastSeen <= cutoff {
			return true
		}
	}
	return false
}

// applyExpireProducers stamps the check's time on the producers that
// appended since the last one, then drops those last seen at or before it
// less the expiration.
func (p *partState) applyExpireProducers(body []byte) produceResult {
	d := dec{b: body}
	now, exp := d.varint(), d.varint()
	if d.err != nil || exp <= 0 {
		return produceResult{code: -1} // never proposed so: a bad log changes nothing
	}
	for pid, ps := range p.producers {
		if ps.touched {
			ps.lastSeen, ps.touched = max(ps.lastSeen, now), false
		}
		if ps.lastSeen <= now-exp {
			delete(p.producers, pid)
		}
	}
	return produceResult{}
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
