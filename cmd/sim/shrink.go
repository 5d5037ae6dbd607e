package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ketch-dev/ketch/scenarios"
	"github.com/ketch-dev/ketch/sim"
)

// scheduleFlags are the flags that replace what a scenario drew from the
// seed with an explicit schedule (sim/schedule.go), and the shrinker's.
type scheduleFlags struct {
	knobs, faults, file string
	faultsSet           bool
	print               bool
	shrink, table       bool
	budget              int
}

func addScheduleFlags(fs *flag.FlagSet) *scheduleFlags {
	sf := &scheduleFlags{}
	fs.StringVar(&sf.knobs, "knobs", "", "override the knobs the scenario drew: 'producers=2 consumers=1 duration=8s ...' (see -print-schedule)")
	fs.Func("faults", "replace the scenario's fault list: 'crash@3s+1s node=leader; isolate@5s+2s node=2' ('none': no fault)", func(s string) error {
		sf.faults, sf.faultsSet = s, true
		return nil
	})
	fs.StringVar(&sf.file, "schedule", "", "read knobs and faults from this file (the form -print-schedule writes)")
	fs.BoolVar(&sf.print, "print-schedule", false, "print the run's schedule (knobs, one fault a line) and exit without running")
	fs.BoolVar(&sf.shrink, "shrink", false, "shrink the first failing run of the range to a smaller one failing the same way")
	fs.BoolVar(&sf.table, "shrink-table", false, "for every plantable bug (or -bug), shrink its first catching seed of the range; print the table")
	fs.IntVar(&sf.budget, "shrink-budget", scenarios.ShrinkBudgetDefault, "simulated runs one shrink may take")
	return sf
}

// apply puts the explicit schedule, if any, on a seed's configuration: the
// file first, then -knobs, then -faults.
func (sf *scheduleFlags) apply(cfg *sim.Config) error {
	if sf.file != "" {
		text, err := os.ReadFile(sf.file)
		if err != nil {
			return err
		}
		if err := sim.ParseSchedule(cfg, string(text)); err != nil {
			return fmt.Errorf("%s: %v", sf.file, err)
		}
	}
	if err := sim.ApplyKnobs(cfg, sf.knobs); err != nil {
		return fmt.Errorf("-knobs: %v", err)
	}
	if sf.faultsSet {
		f, err := sim.ParseFaults(sf.faults)
		if err != nil {
			return fmt.Errorf("-faults: %v", err)
		}
		cfg.Faults = f
	}
	return sim.ValidateSchedule(*cfg)
}

// runShrink runs the seeds until one fails, shrinks it and prints the
// shrunk run's command. Exit 1 when a run failed (shrunk or not), 0 when
// none did.
func runShrink(w io.Writer, sc scenarios.Scenario, sf *scheduleFlags, bug string, first int64, seeds int) int {
	for s := first; s < first+int64(seeds); s++ {
		cfg, err := seedConfig(sc, sf, s, bug)
		if err != nil {
			fmt.Fprintf(w, "sim: %v\n", err)
			return 2
		}
		r := sim.Run(cfg)
		if r.OK {
			fmt.Fprintf(w, "seed %d: PASS\n", s)
			continue
		}
		fmt.Fprintf(w, "seed %d: FAIL (%s) with %d faults\n", s, r.FirstCheck(), len(cfg.Faults))
		out, err := scenarios.Shrink(cfg, r, scenarios.ShrinkOptions{Budget: sf.budget, Progress: w})
		if err != nil {
			fmt.Fprintf(w, "sim: %v\n", err)
			return 1
		}
		fmt.Fprintf(w, "shrunk: %d faults -> %d (%s); %d candidates, %d runs in %v%s; trace %s\n", len(out.Start.Faults), len(out.Config.Faults),
			out.Check, out.Candidates, out.Runs, out.Wall.Round(time.Millisecond), stoppedNote(out), out.Result.TraceHash)
		if bug != "" && !out.PassesWithoutBug {
			fmt.Fprintln(w, "warning: the shrunk run fails without the bug too")
		}
		fmt.Fprintf(w, "shrunk run: %s\n", sim.FormatKnobs(out.Config))
		for _, f := range out.Config.Faults {
			fmt.Fprintf(w, "  %s\n", sim.FormatFaults([]sim.Fault{f}, ""))
		}
		fmt.Fprintf(w, "reproduce shrunk: %s\n", out.Command())
		return 1
	}
	fmt.Fprintf(w, "no seed of %d..%d failed: nothing to shrink\n", first, first+int64(seeds)-1)
	return 0
}

func stoppedNote(out scenarios.Shrunk) string {
	if out.StoppedEarly {
		return " (stopped early: budget spent)"
	}
	return ""
}

func seedConfig(sc scenarios.Scenario, sf *scheduleFlags, seed int64, bug string) (sim.Config, error) {
	cfg := sc.Config(seed)
	cfg.Bug = bug
	return cfg, sf.apply(&cfg)
}

const (
	shrinkTitle  = "shrinking: scenario %s, each bug's first catching seed in %d..%d, budget %d runs (go run ./cmd/sim -scenario %s -seed %d -seeds %d -shrink-table)"
	shrinkHeader = "| bug | seed | check | faults before | faults after | clients before → after | duration before → after | candidates (runs) | wall |"
	shrinkRule   = "|---|---|---|---|---|---|---|---|---|"
)

// printShrinkTable finds each bug's first catching seed in the range,
// shrinks that run, and prints one row per bug, then each shrunk command.
func printShrinkTable(w, progress io.Writer, sc scenarios.Scenario, sf *scheduleFlags, bugs []string, first int64, seeds int) error {
	last := first + int64(seeds) - 1
	fmt.Fprintf(w, shrinkTitle+"\n\n", sc.Name, first, last, sf.budget, sc.Name, first, seeds)
	fmt.Fprintln(w, shrinkHeader)
	fmt.Fprintln(w, shrinkRule)
	start := time.Now()
	var commands []string
	for _, b := range bugs {
		found := false
		for s := first; s <= last && !found; s++ {
			cfg, err := seedConfig(sc, sf, s, b)
			if err != nil {
				return err
			}
			r := sim.Run(cfg)
			if r.OK {
				continue
			}
			found = true
			fmt.Fprintf(progress, "shrink-table: %s: seed %d fails (%s) with %d faults; shrinking\n", b, s, r.FirstCheck(), len(cfg.Faults))
			out, err := scenarios.Shrink(cfg, r, scenarios.ShrinkOptions{Budget: sf.budget})
			if err != nil {
				return err
			}
			fmt.Fprintf(progress, "shrink-table: %s: %d faults -> %d in %d runs, %v\n", b, len(out.Start.Faults), len(out.Config.Faults), out.Runs, out.Wall.Round(time.Second))
			note := ""
			if !out.PassesWithoutBug {
				note = " (fails without the bug too)"
			}
			clients := func(c sim.Config) int { return c.Producers + c.Consumers }
			fmt.Fprintf(w, "| `%s` | %d | %s | %d | %d | %d → %d | %v → %v | %d (%d)%s | %v |\n", b, s, out.Check,
				len(out.Start.Faults), len(out.Config.Faults), clients(out.Start), clients(out.Config),
				(out.Start.Duration + out.Start.Quiet).Round(time.Millisecond), (out.Config.Duration + out.Config.Quiet).Round(time.Millisecond),
				out.Candidates, out.Runs, stoppedNote(out), out.Wall.Round(time.Second))
			commands = append(commands, out.Command()+note)
		}
		if !found {
			fmt.Fprintf(w, "| `%s` | - | not caught in %d..%d | - | - | - | - | - | - |\n", b, first, last)
		}
	}
	fmt.Fprintf(w, "\n(%v wall)\n\n", time.Since(start).Round(time.Second))
	for _, c := range commands {
		fmt.Fprintln(w, c)
	}
	if len(commands) == 0 {
		return errors.New("no bug was caught in the range")
	}
	return nil
}
