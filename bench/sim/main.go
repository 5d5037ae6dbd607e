// Command sim measures the simulator: simulated seconds per wall second for
// a scenario under load, events per second, seeds per minute, and the share
// of wall time the checkers (porcupine and the queue checks) take; then the
// same ratio, and events per simulated second, for an idle three-node
// cluster (one topic of 2, then of 1,000 partitions, no clients after the
// admin created it). It is a report, not a test: the machine is shared and
// its numbers move.
//
//	go run ./bench/sim -scenario failover -seeds 10
//	go run ./bench/sim -seeds 4 -cpuprofile /tmp/cpu.out   # go tool pprof
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/scenarios"
	"github.com/ketch-dev/ketch/sim"
)

func main() {
	name := flag.String("scenario", "failover", "scenario to measure")
	seeds := flag.Int("seeds", 8, "seeds to run (1..seeds)")
	idle := flag.Duration("idle", 10*time.Minute, "simulated length of the idle run (0: skip it)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole measurement here")
	memProfile := flag.String("memprofile", "", "write an allocation profile here at the end")
	flag.Parse()
	// The simulator allocates briskly and keeps little: trade memory for
	// fewer collections, as cmd/sim does.
	debug.SetGCPercent(400)
	sc, ok := scenarios.Get(*name)
	if !ok {
		fmt.Fprintf(os.Stderr, "no scenario %q\n", *name)
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 64 << 10
		defer func() {
			f, err := os.Create(*memProfile)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return
			}
			defer f.Close()
			pprof.Lookup("allocs").WriteTo(f, 0)
		}()
	}
	var simTime, wall, check, lin, cpu time.Duration
	events, ops, failed := 0, 0, 0
	var allocs, allocBytes uint64
	var ms runtime.MemStats
	start := time.Now()
	for s := 1; s <= *seeds; s++ {
		runtime.ReadMemStats(&ms)
		mallocs0, bytes0 := ms.Mallocs, ms.TotalAlloc
		cpu0 := cpuTime()
		r := sim.Run(sc.Config(int64(s)))
		cpu += cpuTime() - cpu0
		runtime.ReadMemStats(&ms)
		allocs += ms.Mallocs - mallocs0
		allocBytes += ms.TotalAlloc - bytes0
		simTime += r.SimTime
		wall += r.Wall
		check += r.CheckWall
		events += r.Events
		ops += len(r.History)
		if !r.OK {
			failed++
		}
		// Porcupine's part of the checking, timed on its own: the same
		// per-partition linearizability check Run just did.
		byPart := map[string][]checker.Op{}
		var names []string
		for _, op := range r.History {
			if _, ok := byPart[op.Partition]; !ok {
				names = append(names, op.Partition)
			}
			byPart[op.Partition] = append(byPart[op.Partition], op)
		}
		for _, name := range names {
			t0 := time.Now()
			checker.Linearizable(byPart[name], 20*time.Second, "", nil)
			lin += time.Since(t0)
		}
	}
	total := time.Since(start)
	if *seeds > 0 {
		report(sc.Name, *seeds, failed, ops, events, simTime, wall, cpu, check, lin, total)
		// Unlike time, these barely move with the machine's load: a change
		// that allocates less shows here even when the timings are noise.
		fmt.Printf("  allocations         %8.1f   per event (%.0f MB per seed, %d objects in all)\n",
			float64(allocs)/float64(events), float64(allocBytes)/float64(*seeds)/(1<<20), allocs)
	}
	if *idle > 0 {
		// An idle cluster: three nodes, one topic that the admin creates at
		// the start, no producers or consumers. What is left is ticks,
		// heartbeats and their fsync-free processing; with quiescence
		// (node/quiesce.go) it should not grow with the partitions.
		for _, parts := range []int32{2, 1000} {
			r := sim.Run(sim.Config{Seed: 1, Scenario: "idle", Nodes: 3, Idle: true,
				Topics:   []sim.TopicSpec{{Name: "idle", Partitions: parts}},
				Duration: *idle, Quiet: time.Second})
			verdict := "ok"
			if !r.OK {
				verdict = "FAILED"
			}
			fmt.Printf("idle, 3 nodes, 1 topic of %d partitions, no clients (%s)\n", parts, verdict)
			fmt.Printf("  simulated/wall      %8.1fx   (%v simulated in %v, %d events)\n",
				r.SimTime.Seconds()/r.Wall.Seconds(), r.SimTime, r.Wall.Round(time.Millisecond), r.Events)
			fmt.Printf("  events per simulated second %8.0f\n", float64(r.Events)/r.SimTime.Seconds())
		}
	}
}

// report prints the rows of the run under load.
func report(name string, seeds, failed, ops, events int, simTime, wall, cpu, check, lin, total time.Duration) {
	fmt.Printf("simulator, scenario %s, %d seeds (%d failed), 3 nodes under load (%d client ops, %.0f ops per simulated second)\n",
		name, seeds, failed, ops, float64(ops)/simTime.Seconds())
	fmt.Printf("  simulated/wall      %8.1fx   (%v simulated in %v)\n", simTime.Seconds()/wall.Seconds(), simTime, wall.Round(time.Millisecond))
	fmt.Printf("  simulated/CPU       %8.1fx   (%v of this process's CPU time, user and system, over the runs: on a shared machine it moves less than wall time)\n",
		simTime.Seconds()/cpu.Seconds(), cpu.Round(time.Millisecond))
	fmt.Printf("  events per second   %8.0f   (%d events)\n", float64(events)/wall.Seconds(), events)
	fmt.Printf("  seeds per minute    %8.1f\n", float64(seeds)/total.Minutes())
	fmt.Printf("  checkers' share     %7.1f%%   (%v of wall: porcupine and the queue checks)\n", 100*check.Seconds()/wall.Seconds(), check.Round(time.Millisecond))
	fmt.Printf("  porcupine's share   %7.1f%%   (%v, timed again on its own)\n", 100*lin.Seconds()/wall.Seconds(), lin.Round(time.Millisecond))
}

// cpuTime is the CPU time this process has used so far, user and system,
// every thread counted (porcupine checks partitions on several).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
