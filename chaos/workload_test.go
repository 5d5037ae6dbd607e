package chaos

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
)

// kfakeBrokers starts franz-go's in-memory Kafka with the test topic and
// returns its brokers by node id, as Metadata names them.
func kfakeBrokers(t *testing.T) map[int]string {
	t.Helper()
	fake, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(1, topicName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(fake.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[int]string{}
	for _, b := range resp.Brokers {
		addrs[int(b.NodeID)] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	return addrs
}

// The recorder against a correct broker: franz-go producers and raw fetches
// against kfake for a second, a final read, and the checker must find
// nothing. This keeps the history-recording semantics honest without
// starting processes: a wrong Call/Return, an offset read off by one, a
// fetch that forgot to drop records below its offset would fail here.
func TestWorkloadAgainstKfakeChecksOut(t *testing.T) {
	brokers := kfakeBrokers(t)
	if len(brokers) != 3 {
		t.Fatalf("kfake lists %d brokers", len(brokers))
	}
	var addrs []string
	for _, a := range brokers {
		addrs = append(addrs, a)
	}
	nodes, err := newNodeClients(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer nodes.close()
	ctx := context.Background()
	rec := &recorder{start: time.Now()}
	w, err := startWorkload(ctx, rec, nodes, addrs, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Let the clients run until there is something to judge: at least a
	// few hundred produces and some fetches that returned records.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var acked, fetched int64
		for _, p := range w.producers {
			acked += p.acked.Load()
		}
		for _, c := range w.consumers {
			fetched += c.fetches.Load()
		}
		if acked >= 300 && fetched >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s only %d acknowledged produces and %d fetches", acked, fetched)
		}
		time.Sleep(50 * time.Millisecond) // polling the clients' progress counters
	}
	w.finish()
	leaderOf := func() int {
		l, _, _, err := nodes.partitionLeader(ctx, nodes.ids[0])
		if err != nil {
			return noLeader
		}
		return l
	}
	if err := finalRead(ctx, nodes, rec, leaderOf, io.Discard); err != nil {
		t.Fatal(err)
	}
	h := rec.history()
	var withRecords int
	for _, op := range h {
		if op.Kind == checker.Fetch && len(op.Records) > 0 {
			withRecords++
			if op.Records[0].Offset != op.Offset {
				t.Fatalf("fetch at %d returned a first record at %d", op.Offset, op.Records[0].Offset)
			}
		}
		if op.Kind == checker.Produce && !op.OK {
			t.Fatalf("produce against kfake not acknowledged: %+v", op)
		}
	}
	if withRecords == 0 {
		t.Fatal("no fetch returned records")
	}
	if res := checker.Check(h, checker.Options{LinearizabilityTimeout: 30 * time.Second}); !res.OK {
		t.Fatalf("correct broker judged wrong: %s", res)
	}
	if len(rec.violations) > 0 {
		t.Fatalf("client violations against kfake: %v", rec.violations)
	}

	// And the check can fail: the same history with one acknowledged
	// write's offset moved must not pass.
	for i := range h {
		if h[i].Kind == checker.Produce && h[i].OK {
			h[i].Offset++
			break
		}
	}
	if res := checker.Check(h, checker.Options{LinearizabilityTimeout: 30 * time.Second}); res.OK {
		t.Fatal("a history with a wrong acknowledged offset passed")
	}
}
