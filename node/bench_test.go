package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// Benchmarks of the node's hot paths, each over a three-node harness cluster
// (so the numbers include the followers' share of the work and the
// harness's own delivery, which is small next to the nodes'):
//
//	go test ./node -run '^$' -bench . -benchmem
//
// sim_bench_test.go measures the whole simulator on the failover scenario.

// benchCluster is a three-node harness with topic "bench" created and its
// leader serving.
func benchCluster(b *testing.B, configure ...func(*Config)) (*harness, uint64) {
	b.Helper()
	h := newHarness(b, 3, configure...)
	var ctrl int32
	h.until(20*time.Second, "a controller", func() bool {
		ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0
	})
	h.until(10*time.Second, "topic created", func() bool {
		c := h.do(uint64(ctrl), createReq("bench", 1, 3)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
		return c == 0 || c == kerr.TopicAlreadyExists.Code
	})
	leader := uint64(waitTopic(b, h, uint64(ctrl), "bench"))
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(b, h, leader, "bench", nil, "warm").ErrorCode == 0
	})
	return h, leader
}

// benchDo sends req to node id on connection c and steps the harness until
// it is answered; one connection for every iteration, so the node's and the
// harness's maps do not grow with b.N.
func benchDo(b *testing.B, h *harness, id uint64, c ConnID, req kmsg.Request) kmsg.Response {
	corr := h.sendOn(id, c, req)
	tn := h.nodes[id]
	for end := h.now.Add(5 * time.Second); len(tn.got[c]) == 0; h.step() {
		if h.now.After(end) || tn.closed[c] {
			b.Fatalf("node %d: no answer to %s", id, kmsg.NameForKey(req.Key()))
		}
	}
	gotCorr, resp, err := wire.ParseResponse(tn.got[c][0], req)
	if err != nil || gotCorr != corr {
		b.Fatalf("answer %d to %d: %v", gotCorr, corr, err)
	}
	tn.got[c] = tn.got[c][:0]
	return resp
}

// BenchmarkProduceRoundTrip is one acks=-1 produce of a 10-record batch from
// the leader's HandleFrame to its answer: propose, replicate, commit, apply.
func BenchmarkProduceRoundTrip(b *testing.B) {
	h, leader := benchCluster(b)
	vals := make([]string, 10)
	for i := range vals {
		vals[i] = fmt.Sprintf("value-%03d-%s", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
	}
	req := produceReq("bench", 0, nil, vals...)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp := benchDo(b, h, leader, 1<<40, req)
		if c := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; c != 0 {
			b.Fatalf("produce answered %d", c)
		}
	}
}

// BenchmarkFetchAnswered is one fetch as the simulated consumers send it
// (MaxWait 0, 4 KiB per partition, from a position with data) from
// HandleFrame through its ReadIndex barrier to its answer.
func BenchmarkFetchAnswered(b *testing.B) {
	// The records carry the harness's timestamps, far older than the
	// default retention.ms: a retention check (every 5 minutes of the
	// harness's time, which a long run passes) would delete them.
	h, leader := benchCluster(b, func(c *Config) { c.RetentionCheckInterval = 365 * 24 * time.Hour })
	for i := 0; i < 200; i++ {
		if p := produceOne(b, h, leader, "bench", nil, fmt.Sprintf("a-%d", i), fmt.Sprintf("b-%d", i), fmt.Sprintf("c-%d", i)); p.ErrorCode != 0 {
			b.Fatalf("produce answered %d", p.ErrorCode)
		}
	}
	req := fetchReq("bench", 0, 100, 0, 1)
	req.Topics[0].Partitions[0].PartitionMaxBytes = 4 << 10
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp := benchDo(b, h, leader, 1<<40, req)
		if p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
			b.Fatalf("fetch answered %d with %d bytes", p.ErrorCode, len(p.RecordBatches))
		}
	}
}

// BenchmarkIdleSecond is one simulated second of an idle three-node cluster
// with one topic (heartbeats only), ticked as the harness ticks: every 10ms.
func BenchmarkIdleSecond(b *testing.B) {
	h, _ := benchCluster(b)
	h.run(2 * time.Second) // let the last answers and reports settle
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.run(time.Second)
	}
}

// BenchmarkIdleSecondNextTick is BenchmarkIdleSecond with each node ticked
// only when it asks (Node.NextTick), as the simulator ticks it, and messages
// delivered at once: what an idle second costs the nodes themselves.
func BenchmarkIdleSecondNextTick(b *testing.B) {
	h, _ := benchCluster(b)
	h.run(2 * time.Second)
	now := h.now
	b.ReportAllocs()
	b.ResetTimer()
	ticks := 0
	for b.Loop() {
		for end := now.Add(time.Second); ; {
			next := end
			for _, id := range h.ids {
				if t := h.nodes[id].n.NextTick(); t.Before(next) {
					next = t
				}
			}
			if next.Equal(end) {
				break
			}
			now = next
			for _, id := range h.ids {
				if n := h.nodes[id].n; !n.NextTick().After(now) {
					n.Tick(now)
					ticks++
				}
			}
			for moved := true; moved; {
				moved = false
				for _, id := range h.ids {
					out, err := h.nodes[id].n.Process()
					if err != nil {
						b.Fatal(err)
					}
					for _, m := range out.Messages {
						h.nodes[m.To].n.Step(m)
						moved = true
					}
				}
			}
		}
	}
	b.ReportMetric(float64(ticks)/float64(b.N), "ticks/op")
}
