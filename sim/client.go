package sim

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
)

const (
	topicName       = "sim"
	requestTimeout  = int64(3 * time.Second)
	deliveryTimeout = int64(10 * time.Second) // an idempotent producer retries a batch this long
	backoff         = int64(100 * time.Millisecond)
)

func partitionName(p int32) string { return fmt.Sprintf("%s/%d", topicName, p) }

// client is a simulated Kafka client: it discovers leaders with Metadata,
// routes requests to them, retries on NOT_LEADER_OR_FOLLOWER and timeouts,
// and records every operation it completes in the history. A producer has
// one batch in flight at a time; a consumer one fetch.
type client struct {
	w          *World
	id         int
	producer   bool
	idempotent bool
	rng        stream

	conns      map[uint64]*simConn
	leaders    map[int32]uint64
	controller uint64
	metaNext   uint64
	metaBusy   bool
	metaWait   []func()

	// producer
	pid   int64
	epoch int16
	seqs  map[int32]int32
	k     int
	open  []*checker.Op // ops in flight, completed ambiguously if the run ends

	// consumer
	pos      map[int32]int64
	posEpoch map[int32]int32 // the leader epoch that goes with pos (consumer.go's seek)
	epochs   map[int32]int32 // leader epochs from Metadata
	validate map[int32]bool  // the leader epoch changed: validate pos before fetching there
	seenHW   map[int32]int64 // highest high watermark this client has been told
}

func newClient(w *World, id int, producer, idempotent bool) *client {
	return &client{w: w, id: id, producer: producer, idempotent: producer && idempotent,
		rng: newStream(w.cfg.Seed, fmt.Sprintf("client%d", id)), conns: map[uint64]*simConn{},
		leaders: map[int32]uint64{}, pid: -1, seqs: map[int32]int32{}, pos: map[int32]int64{},
		seenHW: map[int32]int64{}, metaNext: uint64(id), posEpoch: map[int32]int32{}, epochs: map[int32]int32{},
		validate: map[int32]bool{}}
}

func (c *client) start() {
	c.periodicRefresh()
	if c.producer {
		c.nextProduce()
	} else {
		c.nextConsume()
	}
}

// periodicRefresh re-reads metadata every few hundred milliseconds, as real
// clients do when metadata ages, so a client may learn of a new leader while
// the old one still believes it leads: the window where stale reads hide.
func (c *client) periodicRefresh() {
	if !c.running() {
		return
	}
	c.later(c.rng.Int64N(int64(500*time.Millisecond))+int64(250*time.Millisecond), "metadata-refresh(client)", func() {
		c.refresh(func() {})
		c.periodicRefresh()
	})
}

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
	req.AllowAutoTopicCreation = true
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topicName)
	req.Topics = append(req.Topics, rt)
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.MetadataResponse)
		if resp.ControllerID > 0 {
			c.controller = uint64(resp.ControllerID)
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode == 0 && p.Leader > 0 {
					c.leaders[p.Partition] = uint64(p.Leader)
					// A new leader epoch: a KIP-320 consumer validates
					// its position before fetching there again.
					if e, ok := c.epochs[p.Partition]; ok && e != p.LeaderEpoch {
						c.validate[p.Partition] = true
					}
					c.epochs[p.Partition] = p.LeaderEpoch
				} else {
					delete(c.leaders, p.Partition)
				}
			}
		}
		done()
	}, done)
}

// finish completes what is still in flight when the run ends: produces are
// ambiguous (they may yet have been written).
func (c *client) finish() {
	for _, op := range c.open {
		op.Ambiguous, op.Err = true, "run ended"
		c.w.history = append(c.w.history, *op)
	}
	c.open = nil
}
