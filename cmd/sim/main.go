// Command sim runs ketch's deterministic simulator: a named scenario on one
// seed or a range of seeds, printing the knobs each seed drew, the verdict,
// the trace hash and the command that reproduces it.
//
//	sim -scenario failover -seed 7
//	sim -scenario swarm -seed 1 -seeds 100
//	sim -scenario partition -seed 1 -bug stale-read -viz /tmp/viz.html
//	sim -scenario partition -seed 1 -bug stale-read -report /tmp/run.html
//	sim -scenario swarm -seed 1 -seeds 50 -catch-table   # every -bug over the range
//	sim -scenario swarm -seed 7 -knobs 'consumers=1 duration=9s' -faults 'crash@3s+1s node=leader'
//	sim -scenario swarm -seed 1 -bug no-dedupe -shrink    # a smaller run failing the same way
//	sim -scenario swarm -seed 1 -seeds 50 -shrink-table   # each bug's first catch, shrunk
//
// Exit status: 0 every run passed, 1 a check failed, 2 bad usage.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/scenarios"
	"github.com/ketch-dev/ketch/sim"
)

func main() {
	// The simulator allocates briskly and keeps little: trade memory for
	// fewer collections.
	debug.SetGCPercent(400)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Int64("seed", 1, "the seed (the first one, with -seeds)")
	seeds := fs.Int("seeds", 1, "run this many seeds: seed .. seed+seeds-1")
	name := fs.String("scenario", "failover", "scenario to run (see -list)")
	list := fs.Bool("list", false, "print the scenario names, one a line")
	listBugs := fs.Bool("list-bugs", false, "print the plantable bugs, one a line")
	bug := fs.String("bug", "", "plant this bug in every node (see -list-bugs)")
	tracePath := fs.String("trace", "", "write the event trace to this file (single seed)")
	vizPath := fs.String("viz", "", "write porcupine's HTML visualisation here when linearizability fails")
	reportFlag := fs.String("report", reportAuto, "write a failing run's HTML page here, the seed before the extension for a range (auto: ketch-sim-<scenario>-<seed>[-<bug>].html in the temp dir; '' for none)")
	verbose := fs.Bool("v", false, "print every anomaly and violation, and the fault schedule")
	linSteps := fs.Int("lin-steps", 0, "bound porcupine's search per partition at this many model steps (0: the checker's default); a give-up fails the run")
	catchTable := fs.Bool("catch-table", false, "run every plantable bug (or -bug) over the seed range and print the catch-rate table")
	parallel := fs.Int("parallel", runtime.NumCPU(), "-catch-table, -shrink-table: measure this many bugs at once, each in its own process")
	sched := addScheduleFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sim: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *list {
		for _, n := range scenarios.Names() {
			fmt.Fprintln(stdout, n)
		}
		return 0
	}
	if *listBugs {
		for _, b := range node.Bugs() {
			fmt.Fprintln(stdout, b)
		}
		return 0
	}
	sc, ok := scenarios.Get(*name)
	if !ok {
		fmt.Fprintf(stderr, "sim: no scenario %q; have: %s\n", *name, strings.Join(scenarios.Names(), ", "))
		return 2
	}
	var bugList []string // -catch-table takes a comma-separated list
	if *bug != "" {
		bugList = strings.Split(*bug, ",")
		if len(bugList) > 1 && !*catchTable && !sched.table {
			fmt.Fprintln(stderr, "sim: several bugs at once only with -catch-table or -shrink-table")
			return 2
		}
	}
	for _, b := range bugList {
		if !contains(node.Bugs(), b) {
			fmt.Fprintf(stderr, "sim: no bug %q; have: %s\n", b, strings.Join(node.Bugs(), ", "))
			return 2
		}
	}
	if *seeds < 1 {
		fmt.Fprintln(stderr, "sim: -seeds must be at least 1")
		return 2
	}
	if *tracePath != "" && *seeds > 1 {
		fmt.Fprintln(stderr, "sim: -trace needs a single seed")
		return 2
	}

	oneBug := *bug // for what takes one bug
	if len(bugList) > 1 {
		oneBug = bugList[0]
	}
	if _, err := seedConfig(sc, sched, *seed, oneBug); err != nil {
		fmt.Fprintf(stderr, "sim: %v\n", err)
		return 2
	}
	if sched.print {
		cfg, _ := seedConfig(sc, sched, *seed, *bug)
		fmt.Fprint(stdout, sim.FormatSchedule(cfg))
		return 0
	}
	if sched.shrink {
		return runShrink(stdout, sc, sched, *bug, *seed, *seeds)
	}
	if sched.table {
		bugs := node.Bugs()
		if len(bugList) > 0 {
			bugs = bugList
		}
		if *parallel > 1 && len(bugs) > 1 {
			if err := printShrinkTableParallel(stdout, stderr, sc, sched.budget, bugs, *seed, *seeds, min(*parallel, len(bugs))); err != nil {
				fmt.Fprintf(stderr, "sim: %v\n", err)
				return 1
			}
			return 0
		}
		if err := printShrinkTable(stdout, stderr, sc, sched, bugs, *seed, *seeds); err != nil {
			fmt.Fprintf(stderr, "sim: %v\n", err)
			return 1
		}
		return 0
	}

	if *catchTable {
		bugs := node.Bugs()
		if len(bugList) > 0 {
			bugs = bugList
		}
		if *parallel > 1 && len(bugs) > 1 {
			if err := printCatchTableParallel(stdout, stderr, sc, bugs, *seed, *seeds, min(*parallel, len(bugs))); err != nil {
				fmt.Fprintf(stderr, "sim: %v\n", err)
				return 1
			}
			return 0
		}
		printCatchTable(stdout, sc, bugs, *seed, *seeds)
		return 0
	}

	failed := 0
	var firstFail int64 = -1
	stats := map[string]int{}
	var gaps []gapSeen
	start := time.Now()
	var simTotal time.Duration
	rep := newReporter(*reportFlag, *vizPath, sc.Name, *bug, *seeds)
	prog := newProgress(stderr, *seeds, time.Now)
	for i := 0; i < *seeds; i++ {
		s := *seed + int64(i)
		cfg, err := seedConfig(sc, sched, s, *bug)
		if err != nil {
			fmt.Fprintf(stderr, "sim: seed %d: %v\n", s, err)
			return 2
		}
		cfg.VizPath = rep.vizPath(s)
		cfg.LinearizabilitySteps = *linSteps
		var traceFile *os.File
		if *tracePath != "" {
			f, err := os.Create(*tracePath)
			if err != nil {
				fmt.Fprintf(stderr, "sim: %v\n", err)
				return 2
			}
			traceFile = f
			cfg.Trace = f
		}
		schedule := scenarios.ReproSchedule(cfg) // before the run, which fills in defaults
		r := sim.Run(cfg)
		if traceFile != nil {
			traceFile.Close()
		}
		simTotal += r.SimTime
		for k, v := range r.Stats {
			stats[k] += v
		}
		gaps = append(gaps, gapSeen{s, r.AckGap})
		shown := *seeds == 1 || *verbose || !r.OK
		if shown {
			printRun(stdout, sc.Name, *bug, r, *seeds == 1 || *verbose)
		}
		if !r.OK {
			rep.write(stdout, r) // the page's path right under the repro line
		}
		if shown {
			fmt.Fprintf(stdout, "schedule: %s\n", schedule)
		}
		if !r.OK {
			failed++
			if firstFail < 0 {
				firstFail = s
			}
		}
		if *seeds > 1 {
			prog.seed(r.OK)
		}
	}
	if *seeds > 1 {
		wall := time.Since(start)
		fmt.Fprintf(stdout, "summary: scenario %s, seeds %d..%d: %d passed, %d failed; %v simulated in %v (%.0fx)\n",
			sc.Name, *seed, *seed+int64(*seeds)-1, *seeds-failed, failed, simTotal, wall.Round(time.Millisecond), simTotal.Seconds()/wall.Seconds())
		fmt.Fprintf(stdout, "stats: %s\n", formatStats(stats))
		fmt.Fprintf(stdout, "ack gap (longest stretch a partition acknowledged nothing with no fault on): %s\n", gapDistribution(gaps))
		if failed > 0 {
			fmt.Fprintf(stdout, "first failure: %s\n", scenarios.Repro(sc.Name, firstFail, *bug))
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func printRun(w io.Writer, name, bug string, r sim.Result, knobs bool) {
	if knobs {
		fmt.Fprintln(w, "knobs:")
		for _, k := range r.Knobs {
			fmt.Fprintf(w, "  %s\n", k)
		}
	}
	fmt.Fprintf(w, "seed %d: %s — %d ops, %d events, %v simulated in %v (checks %v), trace %s\n",
		r.Seed, verdict(r.OK), len(r.History), r.Events, r.SimTime, r.Wall.Round(time.Millisecond), r.CheckWall.Round(time.Millisecond), r.TraceHash)
	if !r.OK {
		for i, v := range r.Violations {
			if i == 10 && !knobs {
				fmt.Fprintf(w, "  ... %d more violations\n", len(r.Violations)-i)
				break
			}
			fmt.Fprintf(w, "  violation: %s\n", v)
		}
		fmt.Fprintf(w, "  check: %s\n", indent(r.Check.String()))
	}
	if knobs {
		fmt.Fprintf(w, "stats: %s\n", formatStats(r.Stats))
		fmt.Fprintf(w, "ack gap: %s\n", r.AckGap)
	}
	fmt.Fprintf(w, "reproduce: %s\n", scenarios.Repro(name, r.Seed, bug))
}

type gapSeen struct {
	seed int64
	gap  sim.AckGap
}

// gapDistribution summarises the seeds' ack gaps: median, 90th and 99th
// percentile, and the longest with its seed.
func gapDistribution(gaps []gapSeen) string {
	sort.SliceStable(gaps, func(i, j int) bool { return gaps[i].gap.Len() < gaps[j].gap.Len() })
	at := func(q float64) time.Duration {
		return gaps[min(len(gaps)-1, int(q*float64(len(gaps))))].gap.Len().Round(time.Millisecond)
	}
	top := gaps[len(gaps)-1]
	return fmt.Sprintf("p50 %v, p90 %v, p99 %v, max %v (seed %d: %s)", at(0.5), at(0.9), at(0.99), top.gap.Len().Round(time.Millisecond), top.seed, top.gap)
}

// formatStats prints counters as name=count, sorted by name.
func formatStats(stats map[string]int) string {
	names := make([]string, 0, len(stats))
	for k := range stats {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s=%d", k, stats[k])
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, " ")
}

const (
	catchHeader = "| bug | source | seeds tried | seeds that caught it | check that fired first (seeds) | smallest catching seed |"
	catchRule   = "|---|---|---|---|---|---|"
)

// printCatchTable runs each bug on every seed of the range and prints one
// row per bug: how many seeds caught it, which checks fired first (with how
// many seeds each), and the smallest catching seed, as a Markdown table.
func printCatchTable(w io.Writer, sc scenarios.Scenario, bugs []string, first int64, seeds int) {
	last := first + int64(seeds) - 1
	fmt.Fprintf(w, "catch rates: scenario %s, seeds %d..%d (go run ./cmd/sim -scenario %s -seed %d -seeds %d -catch-table)\n\n",
		sc.Name, first, last, sc.Name, first, seeds)
	fmt.Fprintln(w, catchHeader)
	fmt.Fprintln(w, catchRule)
	start := time.Now()
	for _, b := range bugs {
		caught := 0
		smallest := int64(-1)
		firsts := map[string]int{}
		for s := first; s <= last; s++ {
			cfg := sc.Config(s)
			cfg.Bug = b
			r := sim.Run(cfg)
			if r.OK {
				continue
			}
			caught++
			if smallest < 0 {
				smallest = s
			}
			firsts[r.FirstCheck()]++
		}
		names := make([]string, 0, len(firsts))
		for k := range firsts {
			names = append(names, k)
		}
		sort.Slice(names, func(i, j int) bool {
			if firsts[names[i]] != firsts[names[j]] {
				return firsts[names[i]] > firsts[names[j]]
			}
			return names[i] < names[j]
		})
		var parts []string
		for _, k := range names {
			parts = append(parts, fmt.Sprintf("%s (%d)", k, firsts[k]))
		}
		checks, small := "-", "-"
		if caught > 0 {
			checks, small = strings.Join(parts, ", "), fmt.Sprint(smallest)
		}
		fmt.Fprintf(w, "| `%s` | %s | %d | %d | %s | %s |\n", b, node.BugSource(b), seeds, caught, checks, small)
	}
	fmt.Fprintf(w, "\n(%v wall)\n", time.Since(start).Round(time.Second))
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n  ") }

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
