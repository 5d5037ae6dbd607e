package node_test

import (
	"testing"
	"time"

	"github.com/ketch-dev/ketch/scenarios"
	"github.com/ketch-dev/ketch/sim"
)

// BenchmarkSimFailover runs the failover scenario on seeds 1..4 (as
// bench/sim does) and reports simulated seconds per wall second: the node's
// share of the simulator's cost shows in a CPU profile of it,
//
//	go test ./node -run '^$' -bench SimFailover -benchtime 1x -cpuprofile /tmp/cpu.out
func BenchmarkSimFailover(b *testing.B) {
	sc, ok := scenarios.Get("failover")
	if !ok {
		b.Fatal("no failover scenario")
	}
	var simTime, wall time.Duration
	events := 0
	for b.Loop() {
		for s := int64(1); s <= 4; s++ {
			r := sim.Run(sc.Config(s))
			if !r.OK {
				b.Fatalf("seed %d failed: %v %v", s, r.Violations, r.Check)
			}
			simTime += r.SimTime
			wall += r.Wall
			events += r.Events
		}
	}
	b.ReportMetric(simTime.Seconds()/wall.Seconds(), "sim-x")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}
