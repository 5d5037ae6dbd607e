package scenarios

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ketch-dev/ketch/sim"
)

// Shrinking a failing run to a smaller one that fails the same way.
//
// The schedule is explicit data (sim.FormatKnobs, sim.FormatFaults), so the
// shrinker edits it directly and runs each candidate in full: delta debugging
// (ddmin) over the fault list, then each fault's length and start, the fault
// period, the clients, and the world's extras (network chaos, clock skew,
// five nodes). The steps that make every later run cheaper come first (the
// quiet period, fewer topics and partitions, no overload phases or topic
// churn), and the passes repeat while one finds something smaller. Every candidate keeps the seed, so the world's streams
// (network, disk, workload, the targets a fault draws) come from the same
// seed as before; what moves is only what the schedule says.
//
// Delta debugging rather than rapid drawing the schedule: the schedule a
// seed draws is the failing input we start from, and ddmin reduces that
// input as found; a rapid-drawn schedule would shrink towards rapid's
// choice sequence, not towards this seed's world, and would make every
// scenario's draw depend on rapid's encoding.
//
// "Fails the same way" is: the candidate fails with the same
// sim.Result.FirstCheck as the original run, and, when a bug is planted,
// the same candidate with no bug passes. The second run keeps the shrinker
// honest: a run cut too short to recover (a quiet period shorter than an
// election) fails liveness on a correct broker too, and a run that fails
// without the bug (say, a stale read found first, then a liveness failure
// of the short run) is not a clean reproduction of the bug.

// ShrinkBudgetDefault is how many simulated runs a shrink may take (each
// candidate, and the bug-less run of each candidate that reproduced). A
// swarm run takes 1-2s wall on the shared machine and shrunk ones far less.
const ShrinkBudgetDefault = 120

// ShrinkOptions tunes Shrink.
type ShrinkOptions struct {
	Budget   int       // simulated runs at most (ShrinkBudgetDefault if 0)
	Progress io.Writer // a line per step and per smaller run found (nil: quiet)
}

// Shrunk is what Shrink found.
type Shrunk struct {
	Start  sim.Config // the failing run shrinking began from
	Config sim.Config // the smallest run found failing the same way
	Result sim.Result // Config's run
	Check  string     // the FirstCheck both fail with

	Candidates   int  // candidate runs tried (with the bug)
	Runs         int  // every simulated run, the bug-less checks included
	StoppedEarly bool // the budget ran out before a pass changed nothing
	// PassesWithoutBug: with a planted bug, the shrunk run with no bug
	// passes (so it reproduces the bug, not a run too short to recover).
	PassesWithoutBug bool
	Wall             time.Duration
}

// Command is the shrunk run as one command line.
func (s Shrunk) Command() string { return ReproSchedule(s.Config) }

// ReproSchedule is the one-line command that reruns cfg with its schedule
// spelled out: the seed's streams, cfg's knobs and faults.
func ReproSchedule(cfg sim.Config) string {
	return fmt.Sprintf("%s -knobs '%s' -faults '%s'", Repro(cfg.Scenario, cfg.Seed, cfg.Bug),
		sim.FormatKnobs(cfg), sim.FormatFaults(cfg.Faults, "; "))
}

// Shrink searches for a smaller run than cfg that fails the same way; first
// is cfg's result (Shrink does not rerun it). It stops when a whole pass
// finds nothing smaller, or when the budget is spent.
func Shrink(cfg sim.Config, first sim.Result, opts ShrinkOptions) (Shrunk, error) {
	if first.OK {
		return Shrunk{}, errors.New("the run passed: nothing to shrink")
	}
	if opts.Budget <= 0 {
		opts.Budget = ShrinkBudgetDefault
	}
	cfg.Trace, cfg.VizPath = nil, ""
	s := &shrinker{opts: opts, start: time.Now(), want: first.FirstCheck(),
		best: clone(cfg), bestResult: first}
	s.out = Shrunk{Start: clone(cfg), Check: s.want}
	s.logf("shrink: %s fails with %s; %d faults, %s; budget %d runs", Repro(cfg.Scenario, cfg.Seed, cfg.Bug), s.want, len(cfg.Faults), size(cfg), opts.Budget)
	for round := 1; !s.spent(); round++ {
		before := s.accepted
		// What makes every later candidate cheaper goes first: a shorter
		// quiet period, fewer topics and partitions, no overload phases.
		s.span("quiet", s.best.Quiet, quietMin, quietMin, func(c *sim.Config, d time.Duration) { c.Quiet = d })
		s.world()
		s.faults()
		s.lengths()
		s.starts()
		s.duration()
		s.clients()
		s.extras()
		if s.accepted == before {
			break
		}
		s.logf("shrink: round %d done: %d faults, %s (%d runs so far)", round, len(s.best.Faults), size(s.best), s.runs)
	}
	s.out.Config, s.out.Result = s.best, s.bestResult
	if cfg.Bug != "" {
		// Every smaller run accepted passed without the bug; the first
		// run is the seed's own, checked here (one run past the budget).
		cr := s.clean(s.best)
		s.out.PassesWithoutBug = cr.OK
		if !cr.OK {
			s.logf("shrink: warning: the shrunk run fails without the bug too (%s)", cr.FirstCheck())
		}
	}
	s.out.Candidates, s.out.Runs, s.out.StoppedEarly = s.candidates, s.runs, s.stopped
	s.out.Wall = time.Since(s.start)
	how := "nothing smaller left to try"
	if s.stopped {
		how = fmt.Sprintf("stopped early: budget of %d runs spent", opts.Budget)
	}
	s.logf("shrink: faults %d -> %d, %s -> %s; %d candidates, %d runs, %v (%s)", len(s.out.Start.Faults), len(s.best.Faults),
		size(s.out.Start), size(s.best), s.candidates, s.runs, s.out.Wall.Round(time.Millisecond), how)
	return s.out, nil
}

type shrinker struct {
	opts  ShrinkOptions
	start time.Time
	want  string
	out   Shrunk

	best       sim.Config
	bestResult sim.Result

	candidates, runs, accepted int
	stopped                    bool
}

func (s *shrinker) logf(format string, args ...any) {
	if s.opts.Progress != nil {
		fmt.Fprintf(s.opts.Progress, format+"\n", args...)
	}
}

func (s *shrinker) spent() bool {
	if s.runs >= s.opts.Budget {
		s.stopped = true
	}
	return s.stopped
}

// try runs a candidate; if it fails the same way it becomes the best run so
// far. With a planted bug, the candidate must also pass with no bug.
func (s *shrinker) try(step string, c sim.Config) bool {
	if s.spent() || sim.ValidateSchedule(c) != nil {
		return false
	}
	s.candidates++
	s.runs++
	r := sim.Run(clone(c))
	if r.OK || r.FirstCheck() != s.want {
		return false
	}
	if c.Bug != "" {
		if s.spent() {
			return false
		}
		if cr := s.clean(c); !cr.OK {
			s.logf("shrink:   [%s] fails without the bug too (%s): not the bug's failure", step, cr.FirstCheck())
			return false
		}
	}
	s.best, s.bestResult = clone(c), r
	s.accepted++
	s.logf("shrink:   [%s] run %d: still %s with %d faults, %s", step, s.runs, s.want, len(c.Faults), size(c))
	return true
}

// clean runs c with no bug planted.
func (s *shrinker) clean(c sim.Config) sim.Result {
	c = clone(c)
	c.Bug = ""
	s.runs++
	return sim.Run(c)
}

// faults: delta debugging (Zeller's ddmin) over the fault list, after
// trying no fault at all.
func (s *shrinker) faults() {
	cur := s.best.Faults
	if len(cur) == 0 {
		return
	}
	with := func(fs []sim.Fault) sim.Config {
		c := clone(s.best)
		c.Faults = cloneFaults(fs)
		return c
	}
	if s.try("no faults", with(nil)) {
		return
	}
	n := 2
	for len(cur) >= 2 && !s.spent() {
		chunks := split(cur, n)
		reduced := false
		for i := range chunks {
			if s.try(fmt.Sprintf("ddmin: keep %d of %d faults", len(chunks[i]), len(cur)), with(chunks[i])) {
				cur, n, reduced = chunks[i], 2, true
				break
			}
		}
		if !reduced && n > 2 {
			for i := range chunks {
				rest := complement(chunks, i)
				if s.try(fmt.Sprintf("ddmin: drop %d of %d faults", len(chunks[i]), len(cur)), with(rest)) {
					cur, n, reduced = rest, max(n-1, 2), true
					break
				}
			}
		}
		if !reduced {
			if n >= len(cur) {
				break
			}
			n = min(2*n, len(cur))
		}
	}
}

// lengths shortens each fault's For (and a clock jump's size with it):
// the shortest first, then by bisection.
func (s *shrinker) lengths() {
	for i := 0; i < len(s.best.Faults) && !s.spent(); i++ {
		f := s.best.Faults[i]
		if f.For < 2*faultForMin {
			continue
		}
		s.span(fmt.Sprintf("fault %d (%s) for", i, f.Kind), f.For, faultForMin, faultForMin, func(c *sim.Config, d time.Duration) {
			g := &c.Faults[i]
			if g.Kind == sim.ClockJump && g.For > 0 {
				g.Jump = time.Duration(float64(g.Jump) * float64(d) / float64(g.For)).Round(time.Millisecond)
			}
			g.For = d
		})
	}
}

// faultForMin: a fault shorter than this is one tick of the nodes' clocks
// (10ms); shrinking it further says nothing more.
const faultForMin = 10 * time.Millisecond

// faultAtMin: the cluster needs about a second to elect and create the
// topics; faults earlier than that find nothing to break.
const faultAtMin = time.Second

// starts moves the faults earlier: the whole schedule at once (keeping the
// faults' spacing), then each group of faults starting together (a
// composite shape) towards the one before it.
func (s *shrinker) starts() {
	if len(s.best.Faults) == 0 {
		return
	}
	earliest := s.best.Faults[0].At
	for _, f := range s.best.Faults {
		earliest = min(earliest, f.At)
	}
	shift := (earliest - faultAtMin).Truncate(time.Millisecond)
	for tries := 0; tries < 3 && shift >= 100*time.Millisecond && !s.spent(); tries, shift = tries+1, shift/2 {
		c := clone(s.best)
		for i := range c.Faults {
			c.Faults[i].At -= shift
		}
		if s.try(fmt.Sprintf("every fault %v earlier", shift), c) {
			break
		}
	}
	// Groups in time order; a group moves towards the previous group's start.
	for g := 0; !s.spent(); g++ {
		ats := distinctAts(s.best.Faults)
		if g >= len(ats) {
			break
		}
		prev := faultAtMin
		if g > 0 {
			prev = ats[g-1]
		}
		at := ats[g]
		for _, to := range []time.Duration{prev, prev + (at-prev)/2} {
			to = to.Round(time.Millisecond)
			if at-to < 100*time.Millisecond {
				continue
			}
			c := clone(s.best)
			for i := range c.Faults {
				if c.Faults[i].At == at {
					c.Faults[i].At = to
				}
			}
			if s.try(fmt.Sprintf("faults at %v moved to %v", at, to), c) {
				break
			}
		}
	}
}

// clients: fewer consumers, fewer plain producers, fewer idempotent ones.
// A run keeps at least one client (with none, Run would use its defaults).
func (s *shrinker) clients() {
	c := s.best
	s.count("consumers", c.Consumers, boolInt(c.Producers == 0), func(c *sim.Config, v int) { c.Consumers = v })
	c = s.best
	s.count("plain producers", c.Producers-c.IdempotentProducers, boolInt(c.Consumers == 0 && c.IdempotentProducers == 0),
		func(c *sim.Config, v int) { c.Producers = c.IdempotentProducers + v })
	c = s.best
	s.count("idempotent producers", c.IdempotentProducers, boolInt(c.Consumers == 0 && c.Producers == c.IdempotentProducers),
		func(c *sim.Config, v int) { c.Producers += v - c.IdempotentProducers; c.IdempotentProducers = v })
}

// duration: the fault period down to just past the last fault's end.
func (s *shrinker) duration() {
	lastAt, lastEnd := time.Duration(0), time.Duration(0)
	for _, f := range s.best.Faults {
		lastAt, lastEnd = max(lastAt, f.At), max(lastEnd, f.At+f.For)
	}
	// A fault must fire inside the fault period (one firing in the quiet
	// period would never be healed); past its end, its length is cut.
	lo := max(lastAt+durationStep, 2*time.Second)
	s.span("duration", s.best.Duration, lo, min(lastEnd+durationStep, s.best.Duration), func(c *sim.Config, d time.Duration) { c.Duration = d })
}

// durationStep is the grain durations are shrunk to; quietMin is one
// election and a client's request timeout.
const (
	durationStep = 100 * time.Millisecond
	quietMin     = 2 * time.Second
)

// world: fewer topics and partitions, no overload phases or topic churn.
func (s *shrinker) world() {
	s.flip("no overload phases", s.best.Overload, func(c *sim.Config) { c.Overload, c.ParkedFetches, c.FetchWaitsMax = false, 0, 0 })
	s.flip("no topic churn", s.best.TopicChurn, func(c *sim.Config) { c.TopicChurn = false })
	s.flip("no topic configs", s.best.TopicConfigs, func(c *sim.Config) { c.TopicConfigs = false })
	s.flip("no retention workload", s.best.Retention.Enabled, func(c *sim.Config) { c.Retention = sim.RetentionConfig{} })
	// Topics after the first (the first names "the leader" of a fault).
	s.count("topics", len(s.best.Topics), 1, func(c *sim.Config, v int) { c.Topics = c.Topics[:v] })
	for i := 0; i < len(s.best.Topics) && !s.spent(); i++ {
		s.count(fmt.Sprintf("partitions of %s", s.best.Topics[i].Name), int(s.best.Topics[i].Partitions), 1,
			func(c *sim.Config, v int) { c.Topics[i].Partitions = int32(v) })
	}
}

// extras: the world's imperfections the failure may not need.
func (s *shrinker) extras() {
	b := s.best
	s.flip("no network loss, duplication or reordering", b.Net.Loss+b.Net.Dup+b.Net.Reorder > 0, func(c *sim.Config) { c.Net.Loss, c.Net.Dup, c.Net.Reorder = 0, 0, 0 })
	s.flip("no clock skew or drift", s.best.Clock != (sim.ClockConfig{}), func(c *sim.Config) { c.Clock = sim.ClockConfig{} })
	fits := true
	for _, f := range s.best.Faults {
		fits = fits && f.Node <= 3 && f.Peer <= 3
		for _, g := range f.Group {
			fits = fits && g <= 3
		}
	}
	s.flip("3 nodes", s.best.Nodes > 3 && fits, func(c *sim.Config) { c.Nodes = 3 })
}

// flip tries one change, if on says it would change anything.
func (s *shrinker) flip(step string, on bool, set func(c *sim.Config)) {
	if on && !s.spent() {
		c := clone(s.best)
		set(&c)
		s.try(step, c)
	}
}

// count finds, by bisection, the smallest v in [lo, cur] the run still fails
// with (trying lo first), assuming that fewer rarely fails where more did not.
func (s *shrinker) count(what string, cur, lo int, set func(c *sim.Config, v int)) {
	if cur <= lo {
		return
	}
	try := func(v int) bool {
		c := clone(s.best)
		set(&c, v)
		return s.try(fmt.Sprintf("%s %d", what, v), c)
	}
	if try(lo) {
		return
	}
	for lo+1 < cur && !s.spent() {
		mid := lo + (cur-lo)/2
		if try(mid) {
			cur = mid
		} else {
			lo = mid
		}
	}
}

// span bisects a duration like count, trying first first (when it is below
// cur), down to a grain of durationStep or an eighth of what is left,
// whichever is coarser: a few runs per knob, not a precise minimum.
func (s *shrinker) span(what string, cur, lo, first time.Duration, set func(c *sim.Config, d time.Duration)) {
	try := func(d time.Duration) bool {
		c := clone(s.best)
		set(&c, d)
		return s.try(fmt.Sprintf("%s %v", what, d), c)
	}
	if first < cur && first >= lo {
		if try(first) {
			return
		}
		lo = first
	}
	for cur-lo > max(durationStep, cur/8) && !s.spent() {
		mid := (lo + (cur-lo)/2).Round(time.Millisecond)
		if try(mid) {
			cur = mid
		} else {
			lo = mid
		}
	}
}

// size describes a run's workload and length, for progress lines.
func size(c sim.Config) string {
	parts := 0
	for _, t := range c.Topics {
		parts += int(t.Partitions)
	}
	return fmt.Sprintf("%d producers (%d idempotent), %d consumers, %d nodes, %d topics/%d partitions, %v+%v",
		c.Producers, c.IdempotentProducers, c.Consumers, c.Nodes, len(c.Topics), parts, c.Duration, c.Quiet)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// split cuts fs into n nearly equal consecutive chunks.
func split(fs []sim.Fault, n int) [][]sim.Fault {
	var out [][]sim.Fault
	for i := 0; i < n; i++ {
		lo, hi := i*len(fs)/n, (i+1)*len(fs)/n
		if hi > lo {
			out = append(out, fs[lo:hi])
		}
	}
	return out
}

func complement(chunks [][]sim.Fault, skip int) []sim.Fault {
	var out []sim.Fault
	for i, c := range chunks {
		if i != skip {
			out = append(out, c...)
		}
	}
	return out
}

func distinctAts(fs []sim.Fault) []time.Duration {
	var ats []time.Duration
	for _, f := range fs {
		seen := false
		for _, a := range ats {
			seen = seen || a == f.At
		}
		if !seen {
			ats = append(ats, f.At)
		}
	}
	for i := 1; i < len(ats); i++ { // few: insertion sort
		for j := i; j > 0 && ats[j] < ats[j-1]; j-- {
			ats[j], ats[j-1] = ats[j-1], ats[j]
		}
	}
	return ats
}

// clone copies the slices a candidate edits, so no two candidates share
// them (Run also fills in topics' defaults in place).
func clone(c sim.Config) sim.Config {
	c.Topics = append([]sim.TopicSpec(nil), c.Topics...)
	c.Faults = cloneFaults(c.Faults)
	return c
}

func cloneFaults(fs []sim.Fault) []sim.Fault {
	if fs == nil {
		return nil
	}
	out := make([]sim.Fault, len(fs))
	for i, f := range fs {
		if f.Group != nil {
			f.Group = append([]int(nil), f.Group...)
		}
		out[i] = f
	}
	return out
}
