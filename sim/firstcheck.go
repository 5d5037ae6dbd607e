package sim

import "strings"

// checkNames maps a violation's wording to the check that raised it, for the
// catch-rate table ("which check fired first"). A violation no entry matches
// is "invariant".
var checkNames = []struct{ substr, name string }{
	{"one leader epoch has two leaders", "one-leader-per-epoch"},
	{"has two leaders", "one-leader-per-term"},
	{"another replica applied", "same-entry-per-index"},
	{"high watermark went back", "hw-never-back"},
	{"starts serving", "serve-from-hw"},
	{"stopped on an error no fault caused", "no-unexplained-stop"},
	{"panicked", "no-panic"},
	{"cannot recover", "recovery"},
	{"cannot start", "recovery"},
	{"something spins", "events-bound"},
	{"but this client was already told", "client-hw-never-back"},
	{"undecodable records", "client-decodes-records"},
	{"stream is bad", "client-stream"},
	{"bad response stream", "client-stream"},
	{"an answer nobody asked for", "client-stream"},
	{"bad answer to", "client-stream"},
	{"above max.message.bytes", "max-message-bytes"},
	{"answered no batch: a consumer never reaches the end", "fetch-reaches-end"},
	{"convergence", "convergence"},
	{"coordinator log", "coordinator-log"},
	{"liveness", "liveness"},
	{"ack gap", "ack-gap"},
}

// FirstCheck names the check that fired first in a failed run: the first
// violation raised while the run went (they are in simulated-time order),
// then the end-of-run checks on the nodes (convergence, liveness, ack gap),
// then the history checks (a queue anomaly's kind, or "linearizability").
// It is "" for a run that passed.
func (r Result) FirstCheck() string {
	if len(r.Violations) > 0 {
		for _, c := range checkNames {
			if strings.Contains(r.Violations[0], c.substr) {
				return c.name
			}
		}
		return "invariant"
	}
	if r.Check.OK {
		return ""
	}
	if len(r.Check.Anomalies) > 0 {
		return r.Check.Anomalies[0].Kind
	}
	for _, ok := range r.Check.Linearizable {
		if !ok {
			return "linearizability"
		}
	}
	return "checker"
}
