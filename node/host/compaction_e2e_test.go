package host_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ketch-dev/ketch/node"
)

// TestE2ECompaction is a compacted topic as a Kafka user meets it: created
// through kadm with cleanup.policy=compact and segment.ms=1 (the cleaner
// never cleans the active segment, which rolls when a batch is stamped more
// than segment.ms after the segment's first: each round's records carry
// their own time, ten milliseconds apart, and the tombstone a second ahead
// of the broker's clock, as a producer's clock may be: with
// min.compaction.lag.ms 0 no batch is too young, where once every pass
// stopped at it), keyed records from a franz-go
// producer (its default compression), a tombstone; a consumer from the start
// then reads the newest value of every key (the tombstone too, inside
// delete.retention.ms) and fewer records than were written, offsets
// unchanged.
func TestE2ECompaction(t *testing.T) {
	const topic, keys, rounds = "compacted", 5, 20
	h := startHost(t, t.TempDir(), node.Config{CleanerInterval: 200 * time.Millisecond})
	defer closeHost(t, h)
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.Addr()), kgo.DefaultProduceTopic(topic), kgo.RecordRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	policy, segMs := "compact", "1"
	if ct, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &policy, "segment.ms": &segMs}, topic); err != nil || ct.Err != nil {
		t.Fatalf("create: %v %v", err, ct.Err)
	}
	want := map[string]string{}
	offsets := map[string]int64{}
	t0 := time.Now()
	for r := 0; r < rounds; r++ {
		var recs []*kgo.Record
		for k := 0; k < keys; k++ {
			key, value := fmt.Sprint("k", k), fmt.Sprintf("v%d-%d", k, r)
			recs = append(recs, &kgo.Record{Key: []byte(key), Value: []byte(value), Timestamp: t0.Add(time.Duration(r) * 10 * time.Millisecond)})
			want[key] = value
		}
		res := cl.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce round %d: %v", r, err)
		}
		for _, pr := range res {
			offsets[string(pr.Record.Key)] = pr.Record.Offset
		}
	}
	tomb := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k0"), Timestamp: t0.Add(time.Second)})
	if err := tomb.FirstErr(); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
	want["k0"], offsets["k0"] = "<nil>", tomb[0].Record.Offset
	written := keys*rounds + 1
	end := int64(written)
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = consumeFromStart(ctx, t, h.Addr(), topic, end)
		if len(got) == keys || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // the cleaner runs on the node's own clock; polling a real process
	}
	var exp []string
	for k := 1; k < keys; k++ {
		key := fmt.Sprint("k", k)
		exp = append(exp, fmt.Sprintf("%d:%s=%s", offsets[key], key, want[key]))
	}
	exp = append(exp, fmt.Sprintf("%d:k0=<nil>", offsets["k0"]))
	if fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Fatalf("consumed after compaction (%d written)\n got %v\nwant %v", written, got, exp)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := starts.Lookup(topic, 0); s.Offset != 0 {
		t.Fatalf("start offset %d after compaction, want 0", s.Offset)
	}
	if e, _ := ends.Lookup(topic, 0); e.Offset != end {
		t.Fatalf("end offset %d after compaction, want %d", e.Offset, end)
	}
}

// consumeFromStart reads a partition from offset 0 up to end with a fresh
// consumer, as "offset:key=value" ("<nil>" for a tombstone).
func consumeFromStart(ctx context.Context, t *testing.T, addr, topic string, end int64) []string {
	t.Helper()
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	last := int64(-1)
	for last < end-1 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v before the deadline", got)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= last {
				t.Fatalf("offset %d after %d", r.Offset, last)
			}
			last = r.Offset
			v := string(r.Value)
			if r.Value == nil {
				v = "<nil>"
			}
			got = append(got, fmt.Sprintf("%d:%s=%s", r.Offset, r.Key, v))
		})
	}
	return got
}
