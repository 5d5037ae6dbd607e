package sim

// The simulated producers, as franz-go (kgo) and librdkafka are at their
// defaults.
//
// An idempotent producer (acks=-1) keeps, per partition, a buffer of batches
// in order and pipelines up to inflightPerPartitionMax of them on the
// leader's connection (one, until the first answer on that leader succeeded:
// kgo's okOnSink gate). A batch gets its producer id, epoch and sequence the
// first time it is sent and keeps them across retries ("pinned"), so a retry
// after a lost answer or a timeout is recognised by the broker and answered
// with the original offsets. Answers are taken in order: when the first
// batch fails retriably, the answers of the batches behind it are ignored
// and, once nothing is in flight, the whole buffer is sent again from the
// first batch after a metadata refresh. On OUT_OF_ORDER_SEQUENCE_NUMBER,
// UNKNOWN_PRODUCER_ID or INVALID_PRODUCER_EPOCH for the first batch the
// producer id is failed (kgo's failProducerID): the next send asks
// InitProducerId again with the current id and epoch (KIP-360), and every
// partition renumbers its unpinned batches from sequence 0 under the new id
// (this partition's batches are all unpinned, as kgo resets them). A batch
// is given up after deliveryTimeout. Sequences wrap from 2^31-1 to 0.
//
// Batches are compressed as each client does by default: the idempotent
// producers, franz-go's defaults (idempotent, acks=-1), with snappy (kgo's
// ProducerBatchCompression defaults to snappy, then none), one raw snappy
// block per batch as kgo writes it; the plain producers, librdkafka's and
// the Java client's defaults (compression.codec / compression.type none),
// uncompressed.
//
// Plain producers use acks -1, 1 or 0: up to inflightPerPartitionMax batches
// in flight, no retries (a resend could duplicate a record and the checker
// would rightly call it a duplicate). acks=0 gets no answer: every such
// operation is ambiguous.
//
// Outcomes in the history: OK with the offsets answered; a definite failure
// only when no attempt could have been written (never sent, or every attempt
// answered with an error the broker decides before writing or rejects at
// apply); otherwise ambiguous.

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/wire"
)

const (
	inflightPerPartitionMax = 5                            // kgo's and librdkafka's limit with idempotence
	bufferedBatchesMax      = 20                           // per partition, before the producer stops making batches (backpressure)
	produceEvery            = int64(50 * time.Millisecond) // a batch every 25 ms on average, per producer
)

type producer struct {
	idempotent bool
	acks       int16
	version    int16 // Produce version; -1: drawn per request
	codec      int8  // the batches' compression (wire.Codec*)

	pid      int64
	epoch    int16
	pidState uint8 // pidNone, pidLoading, pidOK
	lastPID  int64 // the id and epoch failed last, sent in InitProducerId (KIP-360)
	lastEp   int16

	parts []*partBuf // in creation order: iteration is deterministic
	byKey map[string]*partBuf
	k     int // values produced

	stats producerStats
}

// producerStats counts what a producer went through (tests read them).
type producerStats struct {
	maxInflight int // most attempts in flight on one partition at once
	resends     int // attempts of a batch already sent with the same sequence
	bumps       int // producer ids failed on a sequence or epoch error
	inits       int // InitProducerId answered
}

const (
	pidNone uint8 = iota
	pidLoading
	pidOK
)

// partBuf is one partition's buffer of batches (oldest first).
type partBuf struct {
	ref      partRef
	batches  []*pbatch
	inflight int  // attempts on the wire
	failing  bool // the first batch failed: send nothing until in-flight attempts are back, then resend all
	resuming bool // a refresh before the resend is under way
	okOnce   bool // an answer succeeded since the last failure: pipelining allowed

	seqPID   int64 // the producer id and epoch nextSeq counts for
	seqEpoch int16
	nextSeq  int32
}

// pbatch is one batch across its attempts.
type pbatch struct {
	ops      []*checker.Op
	deadline int64

	pinned bool // pid, epoch and seq are fixed (it was sent with them)
	pid    int64
	epoch  int16
	seq    int32
	data   []byte // encoded with the pinned fields

	inflight bool // an attempt is on the wire
	unsure   bool // an attempt ended without telling whether it was written
	tries    int  // attempts sent with the current pinning
	sent     bool // some attempt left
}

// seqAdd is Kafka's sequence arithmetic: sequences run from 0 to 2^31-1 and
// wrap to 0 (DefaultRecordBatch.incrementSequence; franz-go does the same).
func seqAdd(seq int32, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

func newProducer(c *client, idempotent bool, acks int16) *producer {
	p := &producer{idempotent: idempotent, acks: acks, version: -1, pid: -1, epoch: -1, lastPID: -1, lastEp: -1,
		byKey: map[string]*partBuf{}}
	if idempotent {
		p.codec = wire.CodecSnappy // kgo's default
	}
	if c.rng.IntN(2) == 0 {
		p.version = int16(3 + c.rng.IntN(11)) // one version for the client's life, 3..13
	}
	return p
}

func (p *producer) describe() string {
	v := "per-request"
	if p.version >= 0 {
		v = fmt.Sprint(p.version)
	}
	if p.idempotent {
		return fmt.Sprintf("idempotent acks=-1 produce-v=%s snappy", v)
	}
	return fmt.Sprintf("plain acks=%d produce-v=%s", p.acks, v)
}

func (p *producer) buf(pr partRef) *partBuf {
	key := pr.name()
	if pb := p.byKey[key]; pb != nil {
		return pb
	}
	pb := &partBuf{ref: pr, seqPID: -1, seqEpoch: -1}
	p.byKey[key] = pb
	p.parts = append(p.parts, pb)
	return pb
}

// nextProduce makes a batch (now and then a burst of them, to one partition)
// every little while, whatever is in flight: the buffer and the in-flight
// limit pace the sends.
func (c *client) nextProduce() {
	if !c.running() {
		return
	}
	c.later(c.rng.Int64N(produceEvery), "next-produce(client)", c.nextProduce)
	pr, ok := c.pickPartition()
	if !ok {
		return
	}
	p := c.prod
	pb := p.buf(pr)
	burst := 1
	if c.rng.chance(0.1) {
		burst = 2 + c.rng.IntN(6)
	}
	for i := 0; i < burst && len(pb.batches) < bufferedBatchesMax; i++ {
		n := 1 + c.rng.IntN(3)
		b := &pbatch{deadline: c.w.now + deliveryTimeout, pid: -1, epoch: -1, seq: -1}
		for j := 0; j < n; j++ {
			p.k++
			b.ops = append(b.ops, &checker.Op{Client: c.id, Kind: checker.Produce, Partition: pr.name(), Call: c.w.now,
				Value: "c" + strconv.Itoa(c.id) + "-" + strconv.Itoa(p.k)}) // fmt's c%d-%d, without fmt
		}
		pb.batches = append(pb.batches, b)
	}
	c.drain(pb)
}

// drain sends what the partition's buffer may send now.
func (c *client) drain(pb *partBuf) {
	p := c.prod
	if !pb.ref.live() {
		// The topic is being deleted: what is not in flight ends here (it
		// could land only in this incarnation, which is going away).
		for _, b := range append([]*pbatch(nil), pb.batches...) {
			if !b.inflight {
				c.complete(pb, b, false, b.unsure, "topic deleted", -1)
			}
		}
		if len(pb.batches) == 0 {
			p.drop(pb)
		}
		return
	}
	if len(pb.batches) == 0 || !c.running() {
		return
	}
	if pb.failing {
		if pb.inflight == 0 && !pb.resuming {
			pb.resuming = true
			c.refresh(func() {
				pb.resuming, pb.failing = false, false
				c.drain(pb)
			})
		}
		return
	}
	if p.idempotent && p.pidState != pidOK {
		c.needPID()
		return
	}
	// Give up on the oldest batch once its delivery timeout passed (only
	// between attempts, as kgo does).
	for len(pb.batches) > 0 && !pb.batches[0].inflight && c.w.now >= pb.batches[0].deadline {
		b := pb.batches[0]
		c.complete(pb, b, false, b.unsure, "delivery timeout", -1)
		if p.idempotent && b.pinned {
			// Its sequence may be a hole now: start over with a new id.
			p.failPID(b.pid, b.epoch)
			c.needPID()
			return
		}
	}
	if len(pb.batches) == 0 {
		return
	}
	cn := c.conn(c.leader(pb.ref))
	if cn == nil {
		if pb.inflight == 0 {
			pb.failing = true
			c.drain(pb)
		}
		return
	}
	if p.acks == 0 {
		for len(pb.batches) > 0 {
			c.sendBatch(pb, pb.batches[0], cn) // answered by nobody: done once sent
		}
		return
	}
	limit := inflightPerPartitionMax
	if p.idempotent && !pb.okOnce {
		limit = 1
	}
	for _, b := range pb.batches {
		if pb.inflight >= limit {
			break
		}
		if b.inflight {
			continue
		}
		if p.idempotent && !b.pinned {
			if pb.seqPID != p.pid || pb.seqEpoch != p.epoch {
				if pb.anyPinned() {
					break // batches of the old id come first
				}
				pb.seqPID, pb.seqEpoch, pb.nextSeq = p.pid, p.epoch, 0
			}
			b.pinned, b.pid, b.epoch, b.seq, b.data = true, p.pid, p.epoch, pb.nextSeq, nil
			pb.nextSeq = seqAdd(pb.nextSeq, int32(len(b.ops)))
		}
		c.sendBatch(pb, b, cn)
	}
}

func (pb *partBuf) anyPinned() bool {
	for _, b := range pb.batches {
		if b.pinned {
			return true
		}
	}
	return false
}

func (p *producer) drop(pb *partBuf) {
	delete(p.byKey, pb.ref.name())
	for i, x := range p.parts {
		if x == pb {
			p.parts = append(p.parts[:i], p.parts[i+1:]...)
			break
		}
	}
}

func (c *client) sendBatch(pb *partBuf, b *pbatch, cn *simConn) {
	p := c.prod
	if !b.sent {
		// The write cannot happen before the batch leaves: its operations
		// start here, not when the batch was buffered, which keeps their
		// intervals (and porcupine's work) short.
		b.sent = true
		for _, op := range b.ops {
			op.Call = c.w.now
		}
	}
	if b.data == nil {
		spec := wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: b.ops[0].Call / 1e6}
		if p.idempotent {
			spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence = b.pid, b.epoch, b.seq
		}
		spec.Records = make([]wire.Record, 0, len(b.ops))
		for _, op := range b.ops {
			spec.Records = append(spec.Records, wire.Record{Value: []byte(op.Value)})
		}
		b.data = wire.AppendCompressedBatch(nil, spec, p.codec)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version = p.version
	if req.Version < 0 {
		req.Version = int16(3 + c.rng.IntN(11))
	}
	req.Version = c.w.topicVersion(req.Version, 13)
	req.Acks = p.acks
	req.TimeoutMillis = 2000
	rt := c.w.produceTopic(pb.ref, req.Version)
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = pb.ref.p
	rp.Records = b.data
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if p.acks == 0 {
		c.w.sendFor(cn, pb.ref.ts, req, 0, nil, nil)
		c.complete(pb, b, false, true, "acks=0: no answer", -1)
		return
	}
	if b.tries > 0 {
		p.stats.resends++
	}
	b.tries++
	b.inflight = true
	pb.inflight++
	p.stats.maxInflight = max(p.stats.maxInflight, pb.inflight)
	c.w.sendFor(cn, pb.ref.ts, req, requestTimeout,
		func(r kmsg.Response) { c.onProduceAnswer(pb, b, r.(*kmsg.ProduceResponse)) },
		func() {
			b.inflight, b.unsure = false, true
			pb.inflight--
			if !p.idempotent {
				c.complete(pb, b, false, true, "timeout or connection cut", -1)
			} else {
				pb.failing = true
			}
			c.drain(pb)
		})
}

// rejectedUnwritten reports whether a produce error means the broker did not
// write this attempt: decided before proposing, or a rejection at apply.
// NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT and UNKNOWN_TOPIC_OR_PARTITION
// can follow a proposal (leadership lost, deadline, topic deleted) and are
// not.
func rejectedUnwritten(code int16) bool {
	switch code {
	case kerr.OutOfOrderSequenceNumber.Code, kerr.InvalidProducerEpoch.Code, kerr.UnknownProducerID.Code,
		kerr.CorruptMessage.Code, kerr.InvalidRecord.Code, kerr.MessageTooLarge.Code,
		kerr.InvalidRequiredAcks.Code, kerr.TransactionalIDAuthorizationFailed.Code,
		kerr.RecordListTooLarge.Code, kerr.InvalidTimestamp.Code, kerr.UnsupportedForMessageFormat.Code:
		return true
	}
	return false
}

func (c *client) onProduceAnswer(pb *partBuf, b *pbatch, resp *kmsg.ProduceResponse) {
	p := c.prod
	b.inflight = false
	pb.inflight--
	code, base := kerr.UnknownServerError.Code, int64(-1)
	if len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
		pr := resp.Topics[0].Partitions[0]
		code, base = pr.ErrorCode, pr.BaseOffset
		if pr.CurrentLeader.LeaderID > 0 { // KIP-951: go straight to the new leader
			c.leaders[tp{pb.ref.topic(), pb.ref.p}] = uint64(pr.CurrentLeader.LeaderID)
		}
	} else {
		c.w.violate("c%d: produce answer with %d topics", c.id, len(resp.Topics))
	}
	if code == kerr.DuplicateSequenceNumber.Code {
		code = 0 // kgo: ignorable, the batch is in
	}
	if code == 0 && base < 0 {
		c.w.violate("c%d: produce to %s answered success with base offset %d", c.id, pb.ref.name(), base)
		code = kerr.UnknownServerError.Code
	}
	if !rejectedUnwritten(code) {
		b.unsure = code != 0 || b.unsure
	}
	why := ""
	if err := kerr.ErrorForCode(code); err != nil {
		why = err.Error()
	}
	if !p.idempotent {
		if code == 0 {
			c.complete(pb, b, true, false, "", base)
		} else {
			c.complete(pb, b, false, b.unsure, why, -1)
		}
		c.drain(pb)
		return
	}
	if len(pb.batches) == 0 || pb.batches[0] != b {
		// An earlier batch failed: this one goes again after it, in
		// order, with the same sequence (kgo skips such answers).
		pb.failing = true
		c.drain(pb)
		return
	}
	switch {
	case code == 0:
		c.complete(pb, b, true, false, "", base)
		pb.okOnce = true
	case code == kerr.OutOfOrderSequenceNumber.Code || code == kerr.UnknownProducerID.Code || code == kerr.InvalidProducerEpoch.Code:
		// KIP-360: a new epoch (here, from ketch as from Kafka for a
		// non-transactional producer, a new id) and this partition's
		// batches renumbered from 0.
		c.w.record(fmt.Sprintf("c%d %s: %s for pid %d epoch %d seq %d: bumping", c.id, pb.ref.name(), why, b.pid, b.epoch, b.seq))
		p.failPID(b.pid, b.epoch)
		for _, x := range pb.batches {
			x.pinned, x.data, x.tries = false, nil, 0
		}
		p.stats.bumps++
		pb.failing, pb.okOnce = true, false
	case code == kerr.NotLeaderForPartition.Code || code == kerr.UnknownTopicOrPartition.Code || kerr.IsRetriable(kerr.ErrorForCode(code)):
		pb.failing, pb.okOnce = true, false
	default:
		// Not retriable: the batch fails (its sequence is a hole now).
		c.complete(pb, b, false, b.unsure, why, -1)
		p.failPID(b.pid, b.epoch)
	}
	c.drain(pb)
}

// complete records a batch's operations and takes it out of the buffer.
func (c *client) complete(pb *partBuf, b *pbatch, ok, ambiguous bool, why string, base int64) {
	for i, op := range b.ops {
		op.OK, op.Ambiguous, op.Err = ok, ambiguous && !ok, why
		op.Return = c.w.now
		if ok {
			op.Offset = base + int64(i)
		}
		c.record(op)
	}
	for i, x := range pb.batches {
		if x == b {
			pb.batches = append(pb.batches[:i], pb.batches[i+1:]...)
			break
		}
	}
}

// failPID forgets the producer id if it is still the one in use.
func (p *producer) failPID(pid int64, epoch int16) {
	if p.pidState != pidOK || p.pid != pid || p.epoch != epoch {
		return
	}
	p.pidState, p.lastPID, p.lastEp = pidNone, pid, epoch
}

// needPID loads a producer id, then drains every partition.
func (c *client) needPID() {
	p := c.prod
	if p.pidState != pidNone {
		return
	}
	p.pidState = pidLoading
	c.initProducerID(func() {
		for _, pb := range append([]*partBuf(nil), p.parts...) {
			c.drain(pb)
		}
	})
}

// initProducerID asks any broker (a follower forwards to the metadata
// leader), with the id and epoch last failed from v3 on (KIP-360).
func (c *client) initProducerID(then func()) {
	p := c.prod
	if !c.running() {
		return
	}
	retry := func() { c.refresh(func() { c.initProducerID(then) }) }
	cn := c.conn(uint64(1 + c.rng.IntN(len(c.w.nodes))))
	if cn == nil {
		retry()
		return
	}
	req := p.initRequest(int16(c.rng.IntN(5))) // v0..v4
	c.w.send(cn, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.InitProducerIDResponse)
		if resp.ErrorCode != 0 {
			retry()
			return
		}
		p.pid, p.epoch, p.pidState = resp.ProducerID, resp.ProducerEpoch, pidOK
		p.stats.inits++
		then()
	}, retry)
}

// initRequest is the InitProducerId a producer sends: from v3 on with the
// id and epoch it failed last, so a broker that can bump the epoch of the
// same id does (KIP-360); ketch, like Kafka for a producer without a
// transactional id, answers with a new id.
func (p *producer) initRequest(version int16) *kmsg.InitProducerIDRequest {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = version
	req.ProducerID, req.ProducerEpoch = -1, -1
	if version >= 3 {
		req.ProducerID, req.ProducerEpoch = p.lastPID, p.lastEp
	}
	return req
}

// finish ends every batch still buffered when the run ends: ambiguous if an
// attempt may have been written, failed if none was.
func (p *producer) finish(c *client) {
	for _, pb := range p.parts {
		for len(pb.batches) > 0 {
			b := pb.batches[0]
			c.complete(pb, b, false, b.unsure || b.inflight, "run ended", -1)
		}
	}
	p.parts, p.byKey = nil, map[string]*partBuf{}
}
