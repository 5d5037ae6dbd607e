package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/ketch-dev/ketch/checker"
)

const (
	topicName = "chaos"
	partition = int32(0)

	// requestTimeout bounds one metadata or fetch request: a paused or
	// isolated node must not stall a consumer for long.
	requestTimeout = 3 * time.Second
	// producerInFlightMax bounds the records one producer has not heard
	// back about; it keeps the history, and porcupine's work, in proportion.
	producerInFlightMax = 8
	// flushTimeout is how long producers get, once the workload stops, to
	// hear back about what they sent; the rest stay ambiguous.
	flushTimeout = 20 * time.Second
	// fetchPartitionBytesMax keeps consumers' reads short, as in the
	// simulator: many small reads check more than a few long ones.
	fetchPartitionBytesMax = 4 << 10
)

// partitionName is the checker's name for the partition under test.
var partitionName = fmt.Sprintf("%s/%d", topicName, partition)

// recorder is the history of a run: every client appends its operations
// with times read from one monotonic clock started with the run.
type recorder struct {
	start time.Time

	mu         sync.Mutex
	ops        checker.History
	violations []string // things a client saw that are wrong whatever the model says
}

// now is nanoseconds since the run started, from the monotonic clock (time
// values carry one, and Since uses it).
func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

func (r *recorder) add(op checker.Op) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

func (r *recorder) violate(format string, args ...any) {
	r.mu.Lock()
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) history() checker.History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(checker.History(nil), r.ops...)
}

// nodeClients holds one franz-go client per node, each seeded with that node
// alone: a request through its seed broker goes to exactly that node, with no
// routing, retrying or redirection by the library, so a recorded fetch is
// exactly one broker's answer.
type nodeClients struct {
	byID map[int]*kgo.Client
	ids  []int // sorted
}

// newNodeClients connects to brokers by id (node id → Kafka address).
func newNodeClients(addrs map[int]string) (*nodeClients, error) {
	nc := &nodeClients{byID: map[int]*kgo.Client{}}
	for id, addr := range addrs {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(fetchByName()))
		if err != nil {
			nc.close()
			return nil, err
		}
		nc.byID[id] = cl
		nc.ids = append(nc.ids, id)
	}
	slices.Sort(nc.ids)
	return nc, nil
}

func (nc *nodeClients) close() {
	for _, cl := range nc.byID {
		cl.Close()
	}
}

// fetchByName caps Fetch at v12, the last version that names topics rather
// than identifying them by topic id, so a hand-built fetch needs no topic id
// whatever the broker supports (ketch serves up to v12 today; kfake more).
func fetchByName() *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.Fetch.Int16(), 12)
	return v
}

// request sends req to node id and returns its answer.
func (nc *nodeClients) request(ctx context.Context, id int, req kmsg.Request) (kmsg.Response, error) {
	cl := nc.byID[id]
	if cl == nil {
		return nil, fmt.Errorf("no node %d", id)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return cl.SeedBrokers()[0].Request(ctx, req)
}

// partitionLeader asks node id who leads the partition; noLeader if it
// does not know. The leader epoch lets a caller asking several nodes prefer the most
// recent view.
func (nc *nodeClients) partitionLeader(ctx context.Context, id int) (leader int, epoch int32, brokers int, err error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topicName)
	req.Topics = append(req.Topics, rt)
	r, err := nc.request(ctx, id, req)
	if err != nil {
		return noLeader, 0, 0, err
	}
	resp := r.(*kmsg.MetadataResponse)
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topicName || t.ErrorCode != 0 {
			continue
		}
		for _, p := range t.Partitions {
			if p.Partition == partition && p.ErrorCode == 0 && p.Leader >= 0 {
				return int(p.Leader), p.LeaderEpoch, len(resp.Brokers), nil
			}
		}
	}
	return noLeader, 0, len(resp.Brokers), nil
}

// createTopic creates the test topic with one partition and three replicas,
// asking each node in turn until one (the metadata leader) accepts, or the
// topic turns out to exist.
func (nc *nodeClients) createTopic(ctx context.Context, deadline time.Time) error {
	ids := nc.ids
	var last error
	for i := 0; time.Now().Before(deadline); i++ {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = topicName
		rt.NumPartitions = 1
		rt.ReplicationFactor = int16(len(ids))
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = int32(requestTimeout / time.Millisecond)
		r, err := nc.request(ctx, ids[i%len(ids)], req)
		if err == nil {
			resp := r.(*kmsg.CreateTopicsResponse)
			if len(resp.Topics) == 1 {
				code := resp.Topics[0].ErrorCode
				if code == 0 || code == kerr.TopicAlreadyExists.Code {
					return nil
				}
				err = kerr.ErrorForCode(code)
			} else {
				err = fmt.Errorf("create topics answered %d topics", len(resp.Topics))
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("create topic %s: %v", topicName, last)
}

// producer is one idempotent franz-go producer with its default options
// (acks=all, idempotence, retries until delivered) but shorter request
// timeouts, writing unique values.
type producer struct {
	id  int
	rec *recorder
	cl  *kgo.Client
	sem chan struct{} // a slot per record in flight

	acked, ambiguous atomic.Int64
}

func newProducer(id int, rec *recorder, addrs []string) (*producer, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.DefaultProduceTopic(topicName),
		// One partition under test: name it rather than rely on the
		// sticky partitioner finding the only one.
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// Give up on an unanswered produce after ~3s, as the simulator's
		// clients do, instead of kgo's 10s+10s: a broker paused with
		// SIGSTOP then sees the same batch twice, the original and the
		// retry on a new connection, which is what idempotence is for.
		kgo.ProduceRequestTimeout(2*time.Second),
		kgo.RequestTimeoutOverhead(time.Second),
	)
	if err != nil {
		return nil, err
	}
	return &producer{id: id, rec: rec, cl: cl, sem: make(chan struct{}, producerInFlightMax)}, nil
}

// run produces until stop closes, pacing itself by rng and by the in-flight
// bound. The Call time is taken just before Produce hands the record over;
// the Return time when its promise runs.
func (p *producer) run(stop <-chan struct{}, rng *rand.Rand) {
	for k := 1; ; k++ {
		select {
		case <-stop:
			return
		case p.sem <- struct{}{}:
		}
		v := fmt.Sprintf("p%d-%d", p.id, k)
		op := checker.Op{Client: p.id, Kind: checker.Produce, Partition: partitionName, Value: v}
		op.Call = p.rec.now()
		// context.Background: cancelling a record's context can fail it
		// after it was sent; the run ends with Flush and Close instead.
		p.cl.Produce(context.Background(), &kgo.Record{Value: []byte(v), Partition: partition}, func(r *kgo.Record, err error) {
			op.Return = p.rec.now()
			if err == nil {
				op.OK, op.Offset = true, r.Offset
				p.acked.Add(1)
			} else {
				// franz-go does not say whether a failed record reached a
				// broker; an idempotent producer's retries may also have
				// written it. Only "may have happened" is safe.
				op.Ambiguous, op.Err = true, err.Error()
				p.ambiguous.Add(1)
			}
			p.rec.add(op)
			<-p.sem
		})
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(2+rng.IntN(15)) * time.Millisecond): // pacing, not synchronisation
		}
	}
}

// finish waits up to flushTimeout for every record's promise, then closes
// the client, which fails (ambiguously) whatever is still buffered, and
// waits until every promise has run so the history is complete.
func (p *producer) finish() {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	p.cl.Flush(ctx)
	cancel()
	p.cl.Close()
	for range producerInFlightMax {
		p.sem <- struct{}{}
	}
}

// consumer reads the partition with raw Fetch requests sent to the node it
// believes leads it, learning the leader from Metadata of a node picked in
// turn, refreshed every few hundred milliseconds as real clients do, so it
// may go on asking a deposed leader for a while: the window stale reads hide
// in.
type consumer struct {
	id    int
	rec   *recorder
	nodes *nodeClients

	fetches atomic.Int64
}

func (c *consumer) run(ctx context.Context, stop <-chan struct{}, rng *rand.Rand) {
	var (
		leader    = noLeader
		refreshAt time.Time
		metaNext  = c.id
		pos       int64
		seenHW    int64
	)
	for {
		select {
		case <-stop:
			return
		default:
		}
		if leader == noLeader || time.Now().After(refreshAt) {
			metaNext++
			l, _, _, err := c.nodes.partitionLeader(ctx, c.nodes.ids[metaNext%len(c.nodes.ids)])
			if err == nil {
				leader = l
			}
			refreshAt = time.Now().Add(time.Duration(250+rng.IntN(500)) * time.Millisecond)
			if leader == noLeader {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond): // backoff before asking again
				}
				continue
			}
		}
		var offset int64
		switch r := rng.Float64(); {
		case r < 0.6:
			offset = pos
		case r < 0.75:
			offset = 0
		default:
			offset = rng.Int64N(seenHW + 1)
		}
		op, code, err := fetch(ctx, c.nodes, c.rec, c.id, leader, offset, int32(rng.IntN(300)), fetchPartitionBytesMax)
		if err != nil || code != 0 {
			if code == kerr.OffsetOutOfRange.Code && offset <= seenHW {
				c.rec.violate("client %d: fetch at %d from node %d answered OFFSET_OUT_OF_RANGE, but this client was already told hw %d",
					c.id, offset, leader, seenHW)
			}
			leader = noLeader
			continue
		}
		c.rec.add(op)
		c.fetches.Add(1)
		if op.HighWatermark > seenHW {
			seenHW = op.HighWatermark
		}
		if n := len(op.Records); n > 0 {
			pos = op.Records[n-1].Offset + 1
		}
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(rng.IntN(30)) * time.Millisecond): // pacing
		}
	}
}

// fetch issues one Fetch of the partition at offset to node id and returns
// it as an op (OK; the caller records it) when the node answered without an
// error. Failed fetches change nothing, so they are not history. Records
// below the fetch offset (a batch may start before it) are dropped, as
// clients do.
func fetch(ctx context.Context, nodes *nodeClients, rec *recorder, client, id int, offset int64, maxWaitMillis int32, partBytes int32) (checker.Op, int16, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = maxWaitMillis
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topicName
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = partBytes
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	op := checker.Op{Client: client, Kind: checker.Fetch, Partition: partitionName, Offset: offset}
	op.Call = rec.now()
	r, err := nodes.request(ctx, id, req)
	op.Return = rec.now()
	if err != nil {
		return op, 0, err
	}
	resp := r.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return op, resp.ErrorCode, nil
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return op, 0, fmt.Errorf("fetch answered %d topics", len(resp.Topics))
	}
	fp := resp.Topics[0].Partitions[0]
	if fp.ErrorCode != 0 {
		return op, fp.ErrorCode, nil
	}
	parsed, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: offset, Topic: topicName, Partition: partition}, &fp, kgo.DefaultDecompressor(), nil)
	if parsed.Err != nil {
		rec.violate("client %d: fetch at %d from node %d: undecodable answer: %v", client, offset, id, parsed.Err)
		return op, 0, parsed.Err
	}
	for _, r := range parsed.Records {
		op.Records = append(op.Records, checker.Record{Offset: r.Offset, Value: string(r.Value), Epoch: r.LeaderEpoch,
			Timestamp: r.Timestamp.UnixMilli()})
	}
	op.OK, op.HighWatermark = true, fp.HighWatermark
	return op, 0, nil
}

// noLeader stands for "no leader known" where a node id is expected (Kafka
// node ids may be 0).
const noLeader = -1

// errNoLeader is what a final read reports when no node leads the partition.
var errNoLeader = errors.New("no node reports a leader for the partition")

// workload is the producers and consumers of a run.
type workload struct {
	stop      chan struct{}
	wg        sync.WaitGroup
	producers []*producer
	consumers []*consumer
}

// startWorkload starts producersN producers (seeded with every broker in
// addrs) and consumersN consumers (asking brokers through nodes), each
// pacing itself from its own seeded stream.
func startWorkload(ctx context.Context, rec *recorder, nodes *nodeClients, addrs []string, seed int64) (*workload, error) {
	w := &workload{stop: make(chan struct{})}
	for i := 1; i <= producersN; i++ {
		p, err := newProducer(i, rec, addrs)
		if err != nil {
			w.finish()
			return nil, err
		}
		w.producers = append(w.producers, p)
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
		w.wg.Go(func() { p.run(w.stop, rng) })
	}
	for i := 1; i <= consumersN; i++ {
		c := &consumer{id: producersN + i, rec: rec, nodes: nodes}
		w.consumers = append(w.consumers, c)
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(producersN+i)))
		w.wg.Go(func() { c.run(ctx, w.stop, rng) })
	}
	return w, nil
}

// finish stops every client and waits until each produced record's outcome
// is in the history.
func (w *workload) finish() {
	close(w.stop)
	w.wg.Wait()
	for _, p := range w.producers {
		p.finish()
	}
}
