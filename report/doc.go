// Package report writes the page a person reads when a simulated run fails:
// one self-contained HTML file (inline CSS and SVG, no script of its own, no
// network) holding
//
//   - the run's header: scenario, seed, planted bug, knobs, verdict, the
//     violations and the checkers' findings, and the command that
//     reproduces the run;
//   - the fault timeline: each injected fault as a span over simulated time,
//     on the row of the node it hit (faults of the whole network on a row
//     of their own);
//   - each node's role in each raft group over time (sim.Result.Roles):
//     leader spans coloured and labelled with their terms, candidates,
//     followers, and the node down, paused or stopped on a disk error;
//   - the operations around the violation: the history in a window around
//     the first violation's time, or around the operations a history check
//     named (for a linearizability failure, the operation porcupine could
//     not place), those marked;
//   - porcupine's own visualisation of the partition whose linearizability
//     check failed, embedded (iframe srcdoc), or a line saying none failed.
//
// cmd/sim writes one for every failing run:
//
//	report.WriteFile(path, result, report.Options{Bug: bug, Repro: repro})
//
// The visualisation is read from the file the checker wrote
// (sim.Config.VizPath, result.Check.VizPaths), so a run must have one set
// for the page to embed it.
package report
