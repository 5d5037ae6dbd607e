package main

import (
	"fmt"
	"io"
	"time"
)

// progressEvery is how much wall time passes between two progress lines of
// a seed range: often enough to see a soak move, rarely enough to read.
const progressEvery = 5 * time.Second

// progress prints, to stderr, how a seed range goes: seeds done of the
// total, failures so far, seeds per minute and the time left at that rate.
// One line every progressEvery of wall time, and one when the range ends.
type progress struct {
	w            io.Writer
	total        int
	now          func() time.Time
	start, last  time.Time
	done, failed int
}

func newProgress(w io.Writer, total int, now func() time.Time) *progress {
	t := now()
	return &progress{w: w, total: total, now: now, start: t, last: t}
}

// seed notes one seed finished.
func (p *progress) seed(ok bool) {
	p.done++
	if !ok {
		p.failed++
	}
	t := p.now()
	if p.done < p.total && t.Sub(p.last) < progressEvery {
		return
	}
	p.last = t
	elapsed := t.Sub(p.start)
	perMin, eta := 0.0, time.Duration(0)
	if elapsed > 0 {
		perMin = float64(p.done) / elapsed.Minutes()
		eta = time.Duration(float64(elapsed) / float64(p.done) * float64(p.total-p.done))
	}
	fmt.Fprintf(p.w, "progress: %d/%d seeds, %d failed, %.1f seeds/min, %v elapsed, ETA %v\n",
		p.done, p.total, p.failed, perMin, elapsed.Round(time.Second), eta.Round(time.Second))
}
