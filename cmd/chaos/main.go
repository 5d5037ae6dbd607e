package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ketch-dev/ketch/chaos"
	"github.com/ketch-dev/ketch/node"
)

func main() {
	duration := flag.Duration("duration", 2*time.Minute, "how long faults are injected (then 10s healed, then a final read)")
	bug := flag.String("bug", "", fmt.Sprintf("build cmd/node with -tags chaos and plant this `BUG`: one of %v", node.Bugs()))
	seed := flag.Int64("seed", 1, "seed of the fault schedule (processes are not deterministic; the schedule is)")
	keep := flag.Bool("keep", false, "keep the run's directory (binaries, data, logs) even when it passes")
	verbose := flag.Bool("v", false, "nodes log at debug level")
	binary := flag.String("node", "", "use this prebuilt cmd/node `BINARY` instead of building one (with -bug, it must be a -tags chaos build)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "chaos: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}

	repro := fmt.Sprintf("go run ./cmd/chaos -duration %v -seed %d", *duration, *seed)
	if *bug != "" {
		repro += " -bug " + *bug
	}
	if *binary != "" {
		repro += " -node " + *binary
	}
	// Ctrl-C still tears the nodes down (Run's deferred Close) before exiting.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	dir, err := os.MkdirTemp("", "ketch-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	res, err := chaos.Run(ctx, chaos.Config{Duration: *duration, Seed: *seed, Bug: *bug, Dir: dir, Verbose: *verbose, Binary: *binary})
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: setup failed: %v\nrun directory kept: %s\nrerun: %s\n", err, dir, repro)
		os.Exit(2)
	}
	fmt.Print(res.Summary())
	fmt.Printf("rerun: %s\n", repro)
	if res.OK && !*keep {
		os.RemoveAll(dir)
		fmt.Println("run directory removed (-keep keeps it)")
	} else {
		fmt.Printf("run directory kept: %s\n", dir)
	}
	if !res.OK {
		os.Exit(1)
	}
}
