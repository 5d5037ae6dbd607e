package sim

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/wire"
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
	pos    map[int32]int64
	seenHW map[int32]int64 // highest high watermark this client has been told
}

func newClient(w *World, id int, producer, idempotent bool) *client {
	return &client{w: w, id: id, producer: producer, idempotent: producer && idempotent,
		rng: newStream(w.cfg.Seed, fmt.Sprintf("client%d", id)), conns: map[uint64]*simConn{},
		leaders: map[int32]uint64{}, pid: -1, seqs: map[int32]int32{}, pos: map[int32]int64{},
		seenHW: map[int32]int64{}, metaNext: uint64(id)}
}

func (c *client) start() {
	c.periodicRefresh()
	if c.producer {
		c.nextProduce()
	} else {
		c.nextFetch()
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

func (c *client) running() bool { return c.w.now < c.w.end()-int64(time.Second) }

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
				} else {
					delete(c.leaders, p.Partition)
				}
			}
		}
		done()
	}, done)
}

// --- producing ---

func (c *client) nextProduce() {
	if !c.running() {
		return
	}
	if c.idempotent && c.pid < 0 {
		c.initProducerID(c.nextProduce)
		return
	}
	p := int32(c.rng.IntN(int(c.w.cfg.Partitions)))
	n := 1 + c.rng.IntN(3)
	spec := wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: c.w.now / 1e6}
	if c.idempotent {
		spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence = c.pid, c.epoch, c.seqs[p]
		c.seqs[p] += int32(n)
	}
	var ops []*checker.Op
	for i := 0; i < n; i++ {
		c.k++
		v := fmt.Sprintf("c%d-%d", c.id, c.k)
		spec.Records = append(spec.Records, wire.Record{Value: []byte(v)})
		ops = append(ops, &checker.Op{Client: c.id, Kind: checker.Produce, Partition: partitionName(p), Call: c.w.now, Value: v})
	}
	c.open = ops
	pb := &pendingBatch{p: p, batch: wire.AppendBatch(nil, spec), ops: ops, deadline: c.w.now + deliveryTimeout}
	c.sendProduce(pb)
}

// pendingBatch is a producer's one batch in flight, across its retries.
type pendingBatch struct {
	p        int32
	batch    []byte
	ops      []*checker.Op
	deadline int64
	sent     bool // some attempt reached the wire: from now on failure is ambiguous
}

func (c *client) sendProduce(pb *pendingBatch) {
	p, batch, ops, deadline := pb.p, pb.batch, pb.ops, pb.deadline
	retry := func(why string) {
		if !c.idempotent {
			c.completeProduce(ops, false, true, why, -1)
			return
		}
		if c.w.now >= deadline || !c.running() {
			c.completeProduce(ops, false, true, why+" (gave up)", -1)
			c.pid = -1 // a new producer id: the old sequence may have a hole now
			return
		}
		c.refresh(func() { c.sendProduce(pb) })
	}
	cn := c.conn(c.leaders[p])
	if cn == nil {
		if c.w.now >= deadline || !c.running() {
			c.completeProduce(ops, false, pb.sent, "no leader", -1)
			if c.idempotent {
				c.pid = -1
			}
			return
		}
		c.refresh(func() { c.sendProduce(pb) })
		return
	}
	pb.sent = true
	req := kmsg.NewPtrProduceRequest()
	req.Version = 10
	req.Acks = -1
	req.TimeoutMillis = 2000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topicName
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = p
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.ProduceResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			c.w.violate("c%d: produce answer with %d topics", c.id, len(resp.Topics))
			c.completeProduce(ops, false, true, "malformed answer", -1)
			return
		}
		pr := resp.Topics[0].Partitions[0]
		err := kerr.ErrorForCode(pr.ErrorCode)
		switch {
		case err == nil:
			c.completeProduce(ops, true, false, "", pr.BaseOffset)
		case pr.ErrorCode == kerr.UnknownTopicOrPartition.Code && !c.idempotent:
			// Refused before anything was proposed: definitely not written.
			c.completeProduce(ops, false, false, err.Error(), -1)
		case kerr.IsRetriable(err) || pr.ErrorCode == kerr.NotLeaderForPartition.Code:
			retry(err.Error())
		default:
			// Sequence and epoch errors: the producer's state is not what
			// it thinks; start again with a new producer id.
			c.completeProduce(ops, false, true, err.Error(), -1)
			if c.idempotent {
				c.pid = -1
			}
		}
	}, func() { retry("timeout or connection cut") })
}

func (c *client) completeProduce(ops []*checker.Op, ok, ambiguous bool, why string, base int64) {
	for i, op := range ops {
		op.OK, op.Ambiguous, op.Err = ok, ambiguous, why
		op.Return = c.w.now
		if ok {
			op.Offset = base + int64(i)
		}
		c.w.history = append(c.w.history, *op)
	}
	c.open = nil
	c.later(c.rng.Int64N(int64(20*time.Millisecond)), "next-produce(client)", c.nextProduce)
}

func (c *client) initProducerID(then func()) {
	if !c.running() {
		return
	}
	target := c.controller
	if target == 0 {
		c.refresh(func() { c.initProducerID(then) })
		return
	}
	cn := c.conn(target)
	if cn == nil {
		c.refresh(func() { c.initProducerID(then) })
		return
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.ProducerID, req.ProducerEpoch = -1, -1
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.InitProducerIDResponse)
		if resp.ErrorCode != 0 {
			c.refresh(func() { c.initProducerID(then) })
			return
		}
		c.pid, c.epoch = resp.ProducerID, resp.ProducerEpoch
		c.seqs = map[int32]int32{}
		then()
	}, func() { c.refresh(func() { c.initProducerID(then) }) })
}

// --- fetching ---

func (c *client) nextFetch() {
	if !c.running() {
		return
	}
	p := int32(c.rng.IntN(int(c.w.cfg.Partitions)))
	var offset int64
	switch r := c.rng.Float64(); {
	case r < 0.6:
		offset = c.pos[p]
	case r < 0.75:
		offset = 0
	default:
		offset = c.rng.Int64N(c.seenHW[p] + 1)
	}
	cn := c.conn(c.leaders[p])
	if cn == nil {
		c.refresh(c.nextFetch)
		return
	}
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(c.rng.IntN(300))
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topicName
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = p
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 4 << 10
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	op := checker.Op{Client: c.id, Kind: checker.Fetch, Partition: partitionName(p), Call: c.w.now, Offset: offset}
	hwBefore := c.seenHW[p]
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			c.refresh(c.nextFetch)
			return
		}
		fp := resp.Topics[0].Partitions[0]
		if fp.ErrorCode != 0 {
			if fp.ErrorCode == kerr.OffsetOutOfRange.Code && offset <= hwBefore {
				c.w.violate("c%d: fetch of %s at %d answered OFFSET_OUT_OF_RANGE (hw %d), but this client was already told hw %d",
					c.id, op.Partition, offset, fp.HighWatermark, hwBefore)
			}
			c.refresh(c.nextFetch)
			return
		}
		recs, err := decodeRecords(fp.RecordBatches, offset)
		if err != nil {
			c.w.violate("c%d: fetch of %s at %d returned undecodable records: %v", c.id, op.Partition, offset, err)
		}
		op.Return, op.OK, op.Records, op.HighWatermark = c.w.now, true, recs, fp.HighWatermark
		c.w.history = append(c.w.history, op)
		if fp.HighWatermark > c.seenHW[p] {
			c.seenHW[p] = fp.HighWatermark
		}
		if n := len(recs); n > 0 {
			c.pos[p] = recs[n-1].Offset + 1
		}
		c.later(c.rng.Int64N(int64(30*time.Millisecond)), "next-fetch(client)", c.nextFetch)
	}, func() { c.refresh(c.nextFetch) })
}

// decodeRecords turns a fetch's batches into (offset, value) records at or
// after the fetch offset (a batch may start before it; clients skip those).
func decodeRecords(b []byte, from int64) ([]checker.Record, error) {
	batches, err := wire.SplitBatches(b)
	if err != nil {
		return nil, err
	}
	var out []checker.Record
	for _, bt := range batches {
		h, recs, err := wire.ParseRecords(bt)
		if err != nil {
			return out, err
		}
		for i, r := range recs {
			if off := h.BaseOffset + int64(i); off >= from {
				out = append(out, checker.Record{Offset: off, Value: string(r.Value)})
			}
		}
	}
	return out, nil
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
