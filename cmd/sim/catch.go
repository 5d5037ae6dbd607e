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

// printCatchTableParallel is the catch-rate table with its bugs measured in
// jobs child processes at once (each `sim -catch-table -bug B` over the same
// range), the rows printed in the bugs' order. Processes, not goroutines: a
// simulation swaps the process-wide crypto/rand.Reader for its seeded
// streams (sim/doc.go), so at most one runs per process. Each row is the
// same a one-process run prints: every run is deterministic.
func printCatchTableParallel(w, progress io.Writer, sc scenarios.Scenario, bugs []string, first int64, seeds, jobs int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	rows := make([]string, len(bugs))
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
				rows[i], errs[i] = catchRow(exe, sc.Name, bugs[i], first, seeds)
				mu.Lock()
				done++
				fmt.Fprintf(progress, "catch-table: %d/%d bugs done (%s), %v elapsed\n", done, len(bugs), bugs[i], time.Since(start).Round(time.Second))
				mu.Unlock()
			}
		}()
	}
	for i := range bugs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, e := range errs {
		if e != nil {
			return fmt.Errorf("bug %s: %w", bugs[i], e)
		}
	}
	last := first + int64(seeds) - 1
	fmt.Fprintf(w, "catch rates: scenario %s, seeds %d..%d (go run ./cmd/sim -scenario %s -seed %d -seeds %d -catch-table)\n\n",
		sc.Name, first, last, sc.Name, first, seeds)
	fmt.Fprintln(w, catchHeader)
	fmt.Fprintln(w, catchRule)
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	fmt.Fprintf(w, "\n(%v wall, %d processes)\n", time.Since(start).Round(time.Second), jobs)
	return nil
}

// catchRow runs one bug's table in a child process and returns its row.
func catchRow(exe, scenario, bug string, first int64, seeds int) (string, error) {
	cmd := exec.Command(exe, "-scenario", scenario, "-seed", strconv.FormatInt(first, 10),
		"-seeds", strconv.Itoa(seeds), "-catch-table", "-bug", bug, "-parallel", "1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errOut.String()))
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "| `"+bug+"`") {
			return l, nil
		}
	}
	return "", fmt.Errorf("no row in the child's output: %q", out.String())
}
