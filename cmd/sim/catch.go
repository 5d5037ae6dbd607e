package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ketch-dev/ketch/scenarios"
)

// perBug is what one child process measured for one bug: its table row and
// any shrunk commands it printed.
type perBug struct {
	row      string
	commands []string
}

// measurePerBug runs one child process per bug, jobs at a time, each with
// the arguments argsFor gives, and returns their rows in the bugs' order.
// Processes, not goroutines: a simulation swaps the process-wide
// crypto/rand.Reader for its seeded streams (sim/doc.go), so at most one
// runs per process. Each row is the one a single process prints: every run
// is deterministic.
func measurePerBug(progress io.Writer, what string, bugs []string, jobs int, argsFor func(bug string) []string) ([]perBug, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	outs := make([]perBug, len(bugs))
	errs := make([]error, len(bugs))
	start := time.Now()
	var mu sync.Mutex
	done := 0
	next := make(chan int)
	var wg sync.WaitGroup
	for j := 0; j < jobs; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				outs[i], errs[i] = childRow(exe, argsFor(bugs[i]), bugs[i])
				mu.Lock()
				done++
				fmt.Fprintf(progress, "%s: %d/%d bugs done (%s), %v elapsed\n", what, done, len(bugs), bugs[i], time.Since(start).Round(time.Second))
				mu.Unlock()
			}
		}()
	}
	for i := range bugs {
		next <- i
	}
	close(next)
	wg.Wait()
	// A child that failed still leaves the others' rows: its row says why.
	var failed error
	for i, e := range errs {
		if e != nil {
			outs[i] = perBug{row: fmt.Sprintf("| `%s` | not measured: %v |", bugs[i], e)}
			failed = fmt.Errorf("bug %s: %w", bugs[i], e)
		}
	}
	return outs, failed
}

// childRow runs one child and picks its row and shrunk commands out of
// its output.
func childRow(exe string, args []string, bug string) (perBug, error) {
	cmd := exec.Command(exe, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if _, exit := err.(*exec.ExitError); !exit || out.Len() == 0 {
			return perBug{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(errOut.String()))
		}
	}
	var pb perBug
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		switch l := sc.Text(); {
		case strings.HasPrefix(l, "| `"+bug+"`"):
			pb.row = l
		case strings.HasPrefix(l, "go run ./cmd/sim "):
			pb.commands = append(pb.commands, l)
		}
	}
	if pb.row == "" {
		return perBug{}, fmt.Errorf("no row in the child's output: %q %s", out.String(), strings.TrimSpace(errOut.String()))
	}
	return pb, nil
}

// printCatchTableParallel is the catch-rate table with its bugs measured in
// jobs child processes at once (each `sim -catch-table -bug B` over the
// same range), the rows printed in the bugs' order.
func printCatchTableParallel(w, progress io.Writer, sc scenarios.Scenario, bugs []string, first int64, seeds, jobs int) error {
	start := time.Now()
	outs, err := measurePerBug(progress, "catch-table", bugs, jobs, func(bug string) []string {
		return []string{"-scenario", sc.Name, "-seed", strconv.FormatInt(first, 10),
			"-seeds", strconv.Itoa(seeds), "-catch-table", "-bug", bug, "-parallel", "1"}
	})
	last := first + int64(seeds) - 1
	fmt.Fprintf(w, "catch rates: scenario %s, seeds %d..%d (go run ./cmd/sim -scenario %s -seed %d -seeds %d -catch-table)\n\n",
		sc.Name, first, last, sc.Name, first, seeds)
	fmt.Fprintln(w, catchHeader)
	fmt.Fprintln(w, catchRule)
	for _, o := range outs {
		fmt.Fprintln(w, o.row)
	}
	fmt.Fprintf(w, "\n(%v wall, %d processes)\n", time.Since(start).Round(time.Second), jobs)
	return err // a child that failed: its row says so, the others stand
}

// printShrinkTableParallel is -shrink-table with its bugs shrunk in jobs
// child processes at once.
func printShrinkTableParallel(w, progress io.Writer, sc scenarios.Scenario, budget int, bugs []string, first int64, seeds, jobs int) error {
	start := time.Now()
	outs, err := measurePerBug(progress, "shrink-table", bugs, jobs, func(bug string) []string {
		return []string{"-scenario", sc.Name, "-seed", strconv.FormatInt(first, 10),
			"-seeds", strconv.Itoa(seeds), "-shrink-table", "-shrink-budget", strconv.Itoa(budget), "-bug", bug, "-parallel", "1"}
	})
	last := first + int64(seeds) - 1
	fmt.Fprintf(w, shrinkTitle+"\n\n", sc.Name, first, last, budget, sc.Name, first, seeds)
	fmt.Fprintln(w, shrinkHeader)
	fmt.Fprintln(w, shrinkRule)
	var commands []string
	for _, o := range outs {
		fmt.Fprintln(w, o.row)
		commands = append(commands, o.commands...)
	}
	fmt.Fprintf(w, "\n(%v wall, %d processes)\n\n", time.Since(start).Round(time.Second), jobs)
	for _, c := range commands {
		fmt.Fprintln(w, c)
	}
	return err // a child that failed: its row says so, the others stand
}
