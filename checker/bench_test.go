package checker

import (
	"math/rand/v2"
	"testing"
	"time"
)

func newRand(seed uint64) func(int) int {
	r := rand.New(rand.NewPCG(seed, seed))
	return r.IntN
}

// benchConfig is a consumer-at-the-tail workload: 8 clients, some timeouts
// and rejections, fetches near the log end, and a final full read.
var benchConfig = genConfig{clients: 8, window: 50, ambiguous: 5, failed: 2, fetchMax: 5, fetchBack: 5, finalRead: true}

func benchHistory(ops int) History {
	cfg := benchConfig
	cfg.ops = ops
	h, _ := genHistory(newRand(7), cfg, p0)
	return h
}

func BenchmarkQueueCheck10k(b *testing.B) {
	h := benchHistory(10_000)
	b.ResetTimer()
	for b.Loop() {
		if a := QueueCheck(h); len(a) != 0 {
			b.Fatal(a)
		}
	}
}

func BenchmarkQueueCheck100k(b *testing.B) {
	h := benchHistory(100_000)
	b.ResetTimer()
	for b.Loop() {
		if a := QueueCheck(h); len(a) != 0 {
			b.Fatal(a)
		}
	}
}

func BenchmarkLinearizable10k(b *testing.B) {
	h := benchHistory(10_000)
	b.ResetTimer()
	for b.Loop() {
		if ok, to, err := Linearizable(h, 0, "", nil); !ok || to || err != nil {
			b.Fatal(ok, to, err)
		}
	}
}

// Without a final read, reads leave gaps, so ambiguous produces nobody read
// stay in porcupine's history with an unknown offset and an endless interval.
// The search grows fast with them: 1k ops like this take ~15 s, 10k time out.
func BenchmarkLinearizable300NoFinalRead(b *testing.B) {
	cfg := benchConfig
	cfg.ops, cfg.finalRead = 300, false
	h, _ := genHistory(newRand(7), cfg, p0)
	b.ResetTimer()
	for b.Loop() {
		if ok, to, err := Linearizable(h, 30*time.Second, "", nil); !ok || to || err != nil {
			b.Fatal(ok, to, err)
		}
	}
}
