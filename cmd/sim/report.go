package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ketch-dev/ketch/report"
	"github.com/ketch-dev/ketch/scenarios"
	"github.com/ketch-dev/ketch/sim"
)

// reportAuto is -report's default: a page per failing seed in the temp dir.
const reportAuto = "auto"

// reportsMax bounds the pages one command writes: a bug caught by every
// seed of a long range would otherwise fill the disk (a page embeds
// porcupine's drawing, megabytes for a long history).
const reportsMax = 10

// reporter writes the HTML page of each failing run (package report).
type reporter struct {
	flag     string // -report: reportAuto, a path, or "" for none
	viz      string // -viz, if given
	scenario string
	bug      string
	seeds    int
	written  int
	told     bool
}

func newReporter(flag, viz, scenario, bug string, seeds int) *reporter {
	return &reporter{flag: flag, viz: viz, scenario: scenario, bug: bug, seeds: seeds}
}

func (rp *reporter) on() bool { return rp.flag != "" && rp.written < reportsMax }

// path is where seed's page goes: ketch-sim-<scenario>-<seed>[-<bug>].html
// in the temp dir, or -report's path (with the seed before the extension
// for a range).
func (rp *reporter) path(seed int64) string {
	if rp.flag != reportAuto {
		if rp.seeds == 1 {
			return rp.flag
		}
		ext := filepath.Ext(rp.flag)
		return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(rp.flag, ext), seed, ext)
	}
	name := fmt.Sprintf("ketch-sim-%s-%d", rp.scenario, seed)
	if rp.bug != "" {
		name += "-" + rp.bug
	}
	return filepath.Join(os.TempDir(), name+".html")
}

// vizPath is the run's sim.Config.VizPath: -viz if given, else, while pages
// are written, a file beside the page (which the page embeds and names).
func (rp *reporter) vizPath(seed int64) string {
	if rp.viz != "" || !rp.on() {
		return rp.viz
	}
	return strings.TrimSuffix(rp.path(seed), ".html") + "-porcupine.html"
}

// write writes a failing run's page and prints where it is.
func (rp *reporter) write(w io.Writer, r sim.Result) {
	if rp.flag == "" {
		return
	}
	if !rp.on() {
		if !rp.told {
			fmt.Fprintf(w, "report: %d pages written, no more for this range\n", reportsMax)
			rp.told = true
		}
		return
	}
	path := rp.path(r.Seed)
	err := report.WriteFile(path, r, report.Options{Bug: rp.bug, Repro: scenarios.Repro(rp.scenario, r.Seed, rp.bug)})
	if err != nil {
		fmt.Fprintf(w, "report: not written: %v\n", err)
		return
	}
	rp.written++
	fmt.Fprintf(w, "report: %s\n", path)
}
