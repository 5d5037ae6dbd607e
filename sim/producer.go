package sim

// The simulated producers: one batch in flight, idempotent or plain.

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/wire"
)

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
