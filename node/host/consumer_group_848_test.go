package host_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/node"
)

// TestE2EConsumerGroup848: franz-go's KIP-848 consumer (ServerSideBalancer)
// against a real host: two members share a topic's partitions as the
// coordinator's uniform assignor gives them, every record is consumed, and
// when one leaves the other takes its partitions and resumes from the
// committed offsets.
func TestE2EConsumerGroup848(t *testing.T) {
	const (
		topic      = "g848"
		partitions = 4
		records    = 2000
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h := startHost(t, t.TempDir(), node.Config{})
	defer closeHost(t, h)

	admin, err := kgo.NewClient(kgo.SeedBrokers(h.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ct := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
	ct.Topics = append(ct.Topics, rt)
	for {
		resp, err := ct.RequestWith(ctx, admin)
		if err == nil && resp.Topics[0].ErrorCode == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("create %s: %v %+v", topic, err, resp)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var wg sync.WaitGroup
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			wg.Add(1)
			admin.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(e2eValue(i))}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		wg.Wait()
	}
	produce(0, records/2)

	var (
		mu   sync.Mutex
		seen = map[string]string{} // value -> member that consumed it
	)
	consumer := func(name string) (*kgo.Client, chan struct{}) {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(h.Addr()),
			kgo.ConsumerGroup("g"),
			kgo.ConsumeTopics(topic),
			kgo.Balancers(kgo.CooperativeStickyBalancer()),
			kgo.ServerSideBalancer(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.AutoCommitInterval(200*time.Millisecond),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { t.Logf("%s assigned %v", name, m) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { t.Logf("%s revoked %v", name, m) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { t.Logf("%s lost %v", name, m) }),
			kgo.WithLogger(kgo.BasicLogger(tlogWriter{t}, kgo.LogLevelInfo, func() string { return name + " " })),
		)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				fs := cl.PollFetches(ctx)
				if fs.IsClientClosed() || ctx.Err() != nil {
					return
				}
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)] = name
					mu.Unlock()
				})
			}
		}()
		return cl, done
	}
	describe := func() *kmsg.ConsumerGroupDescribeResponseGroup {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{"g"}
		resp, err := req.RequestWith(ctx, admin)
		if err != nil || len(resp.Groups) != 1 {
			return nil
		}
		return &resp.Groups[0]
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	stableWith := func(members int) func() bool {
		return func() bool {
			d := describe()
			if d == nil || d.ErrorCode != 0 || d.State != "Stable" || len(d.Members) != members {
				return false
			}
			total := 0
			for _, m := range d.Members {
				n := 0
				for _, tp := range m.Assignment.TopicPartitions {
					n += len(tp.Partitions)
				}
				if n != partitions/members {
					return false // uniform: balanced
				}
				total += n
			}
			return total == partitions
		}
	}

	a, aDone := consumer("a")
	waitFor("a to own every partition", stableWith(1))
	b, bDone := consumer("b")
	waitFor("a and b to share the partitions", stableWith(2))
	produce(records/2, records)
	waitFor("every record consumed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == records
	})
	// The second half went to both: the partitions really were split.
	byMember := map[string]int{}
	mu.Lock()
	for i := records / 2; i < records; i++ {
		byMember[seen[e2eValue(i)]]++
	}
	mu.Unlock()
	if byMember["a"] == 0 || byMember["b"] == 0 {
		t.Fatalf("records consumed per member: %v, want both", byMember)
	}

	// a leaves (its commits flushed on close); b takes everything and,
	// from the committed offsets, finds nothing left to read but what is
	// produced next.
	a.Close()
	<-aDone
	waitFor("b to own every partition", stableWith(1))
	produce(records, records+100)
	waitFor("b to consume the new records", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := records; i < records+100; i++ {
			if seen[e2eValue(i)] != "b" {
				return false
			}
		}
		return true
	})
	b.Close()
	<-bDone
	if d := describe(); d == nil || d.State != "Empty" {
		t.Fatalf("after both left: %+v", d)
	}
}
