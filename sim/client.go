package sim

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
)

const (
	requestTimeout  = int64(3 * time.Second)
	deliveryTimeout = int64(10 * time.Second) // an idempotent producer retries a batch this long
	backoff         = int64(100 * time.Millisecond)
)

// clientKind is what a simulated client does.
type clientKind uint8

const (
	kindProducer clientKind = iota
	kindConsumer
	kindAdmin      // creates and deletes topics (topics.go)
	kindOverload   // bursts of pipelined requests and parked fetches (overload.go)
	kindGroup      // a consumer in a consumer group (group.go)
	kindRetention  // the retention workload's producer, consumer and deleter (retention.go)
	kindCompaction // the compaction workload's producer and reader (compaction.go)
)

// tp names a partition as Kafka does (the client's metadata knows no
// incarnations; partRef does).
type tp struct {
	topic string
	p     int32
}

// client is a simulated Kafka client: it discovers leaders with Metadata,
// routes requests to them, retries on NOT_LEADER_OR_FOLLOWER and timeouts,
// and records every operation it completes in the history.
type client struct {
	w    *World
	id   int
	kind clientKind
	rng  stream

	conns      map[uint64]*simConn
	leaders    map[tp]uint64
	controller uint64
	metaNext   uint64
	metaBusy   bool
	metaWait   []func()

	prod *producer // kindProducer

	// consumer, keyed by partRef.name()
	pos      map[string]int64
	posEpoch map[string]int32 // the leader epoch that goes with pos (consumer.go's seek)
	epochs   map[tp]int32     // leader epochs from Metadata
	validate map[tp]bool      // the leader epoch changed: validate pos before fetching there
	seenHW   map[string]int64 // highest high watermark this client has been told

	admin *admin // kindAdmin

	grp *groupMember // kindGroup

	ret *retentionClient // kindRetention

	cmp *compactClient // kindCompaction
}

func newClient(w *World, id int, kind clientKind) *client {
	return &client{w: w, id: id, kind: kind,
		rng: newStream(w.cfg.Seed, fmt.Sprintf("client%d", id)), conns: map[uint64]*simConn{},
		leaders: map[tp]uint64{}, pos: map[string]int64{},
		seenHW: map[string]int64{}, metaNext: uint64(id), posEpoch: map[string]int32{}, epochs: map[tp]int32{},
		validate: map[tp]bool{}}
}

func (c *client) start() {
	c.periodicRefresh()
	switch c.kind {
	case kindProducer:
		c.nextProduce()
	case kindConsumer:
		c.nextConsume()
	case kindAdmin:
		c.adminStart()
	case kindOverload:
		c.overloadStart()
	case kindGroup:
		c.groupStart()
	case kindRetention:
		c.retentionStart()
	case kindCompaction:
		c.compactionStart()
	}
}

// pickPartition draws one partition of a topic that is live now (created,
// not being deleted), uniformly over all partitions of the workload. ok is
// false when no topic is live: try again later.
func (c *client) pickPartition() (partRef, bool) {
	ts := c.w.topics
	total := int(c.w.partitionsTotal)
	for try := 0; try < 4; try++ {
		k := int32(c.rng.IntN(total))
		for _, t := range ts {
			if k < t.spec.Partitions {
				if t.live {
					return partRef{ts: t, inc: t.inc, p: k}, true
				}
				break
			}
			k -= t.spec.Partitions
		}
	}
	for _, t := range ts { // a few live among many deleted: take the first
		if t.live {
			return partRef{ts: t, inc: t.inc, p: int32(c.rng.IntN(int(t.spec.Partitions)))}, true
		}
	}
	return partRef{}, false
}

// leader is the node this client believes leads the partition (0: none).
func (c *client) leader(pr partRef) uint64 { return c.leaders[tp{pr.ts.spec.Name, pr.p}] }

// periodicRefresh re-reads metadata every few hundred milliseconds, as real
// clients do when metadata ages, so a client may learn of a new leader while
// the old one still believes it leads: the window where stale reads hide.
// In an idle world (Config.Idle) the admin, the one client, has nothing to
// do once its topics exist: it refreshes as a client at rest does, once per
// metadata.max.age (idleMetadataAge), not twice a second with every
// partition in the answer.
func (c *client) periodicRefresh() {
	if !c.running() {
		return
	}
	every := c.rng.Int64N(int64(500*time.Millisecond)) + int64(250*time.Millisecond)
	if c.w.cfg.Idle {
		every = int64(idleMetadataAge)
	}
	c.later(every, "metadata-refresh(client)", func() {
		c.refresh(func() {})
		c.periodicRefresh()
	})
}

// idleMetadataAge is Kafka clients' metadata.max.age.ms default (franz-go's
// MetadataMaxAge, the Java client's and librdkafka's topic.metadata.refresh
// interval are all 5 minutes).
const idleMetadataAge = 5 * time.Minute

// clientStopBeforeEnd: the clients start nothing new in the last second, so
// the run ends on a cluster that had a moment without new writes.
const clientStopBeforeEnd = int64(time.Second)

func (c *client) running() bool { return c.w.now < c.w.end()-clientStopBeforeEnd }

func (c *client) later(d int64, what string, fn func()) {
	c.w.after(time.Duration(d), what, int64(c.id), 0, 0, fn)
}

// conn returns an open connection to a node, dialling if needed.
func (c *client) conn(id uint64) *simConn {
	if id == 0 {
		return nil
	}
	if cn := c.conns[id]; cn != nil && cn.open {
		return cn
	}
	cn := c.w.dial(c, id)
	if cn != nil {
		c.conns[id] = cn
	}
	return cn
}

// refresh asks some node for metadata, then runs then (whatever happened).
// It asks for every topic and never auto-creates one: a deleted topic comes
// back only when the admin client creates it again.
func (c *client) refresh(then func()) {
	c.metaWait = append(c.metaWait, then)
	if c.metaBusy {
		return
	}
	c.metaBusy = true
	done := func() {
		c.metaBusy = false
		waiters := c.metaWait
		c.metaWait = nil
		c.later(backoff, "metadata-backoff-over(client)", func() {
			for _, f := range waiters {
				f()
			}
		})
	}
	c.metaNext = c.metaNext%uint64(len(c.w.nodes)) + 1
	cn := c.conn(c.metaNext)
	if cn == nil {
		done()
		return
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	req.AllowAutoTopicCreation = false
	req.Topics = nil // all topics
	if len(c.w.idleTopics) > 0 {
		// Thousands of partitions the workload never uses: ask for the
		// workload's topics only, as franz-go asks for those it produces
		// to or consumes.
		for _, t := range c.w.topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t.spec.Name)
			req.Topics = append(req.Topics, rt)
		}
		if c.w.retTopic != nil {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(retentionTopic)
			req.Topics = append(req.Topics, rt)
		}
		if c.w.cmpTopic != nil {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(compactionTopic)
			req.Topics = append(req.Topics, rt)
		}
	}
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.MetadataResponse)
		if resp.ControllerID > 0 {
			c.controller = uint64(resp.ControllerID)
		}
		for _, t := range resp.Topics {
			if t.Topic == nil {
				continue
			}
			for _, p := range t.Partitions {
				k := tp{*t.Topic, p.Partition}
				if p.ErrorCode == 0 && p.Leader > 0 {
					c.w.noteEpochLeader(c.id, cn.sn.id, t.TopicID, k, p.LeaderEpoch, p.Leader)
					c.leaders[k] = uint64(p.Leader)
					// A new leader epoch: a KIP-320 consumer validates
					// its position before fetching there again.
					if e, ok := c.epochs[k]; ok && e != p.LeaderEpoch {
						c.validate[k] = true
					}
					c.epochs[k] = p.LeaderEpoch
				} else {
					delete(c.leaders, k)
				}
			}
		}
		done()
	}, done)
}

// finish completes what is still in flight when the run ends: produces are
// ambiguous (they may yet have been written).
func (c *client) finish() {
	if c.prod != nil {
		c.prod.finish(c)
	}
	if c.ret != nil {
		c.retFinish()
	}
	if c.cmp != nil {
		c.cmpFinish()
	}
}

// record appends a completed operation to the history.
func (c *client) record(op *checker.Op) { c.w.history = append(c.w.history, *op) }

// fetchVersion is the Fetch version simulated consumers send: the newest
// ketch serves, as franz-go and the Java client pick it, naming topics by ID.
const fetchVersion = 16

// fetchOne is a Fetch of one partition from offset at version, as every
// simulated client sends it (no fetch session, no rack), naming the topic by
// ID from v13; the caller sets the MaxWait, MinBytes and MaxBytes it wants.
func (w *World) fetchOne(pr partRef, version int16, offset int64, partMaxBytes int32, epoch int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.ReplicaID = -1
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	if version >= 13 {
		rt.TopicID = w.topicID(pr)
	} else {
		rt.Topic = pr.topic()
	}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = pr.p
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = partMaxBytes
	rp.CurrentLeaderEpoch = epoch
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}
