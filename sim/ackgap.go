package sim

import (
	"fmt"
	"sort"
	"time"

	"github.com/ketch-dev/ketch/checker"
)

// The ack gap: the longest stretch in which a partition acknowledged no
// produce while no fault touched it and some producer was asking it to.
//
//   - A fault touches every partition while it lasts (a pause of a follower
//     can still cost the leader its quorum when another fault is on), and for
//     ackGapGrace after it heals: the cluster may need a new election then.
//     The start of the run counts as a fault that ends at 0 (the cluster
//     elects and creates the topic).
//   - Only time in which some produce to the partition was outstanding
//     counts: a partition nobody writes to acknowledges nothing and is fine.
//   - The stretch ends at the first acknowledgement after it (or where the
//     fault-free time or the asking ends).
//
// ackGapGrace: the longest a correct cluster may need after a heal before a
// partition has a serving leader again is one election: a randomized
// election timeout of [ElectionTicks, 2*ElectionTicks) ticks, 1s to 2s at 10
// x 100ms, stretched by a node clock that runs up to 30% slow (DriftMax in
// the partition scenario) to 2.9s, plus a pre-vote and a vote round trip and
// the first entry of the new term. Three seconds.
//
// ackGapMax: once a leader serves, the clients still have to find it. A
// produce that went to a node that died with it waits out its request
// timeout (3s) before the connection is closed and the client refreshes
// metadata (100ms backoff, then a round trip); the first request then goes to
// the new leader. So a producer may be silent for up to ~3.2s after the grace
// ends, and the bound is that plus the measured margin (see docs/zoo.md: over
// a few hundred seeds of failover and swarm the longest stretch seen was well
// below it).
const (
	ackGapGrace = 3 * time.Second
	ackGapMax   = 5 * time.Second
)

// AckGap is the longest stretch without an acknowledgement on one partition
// while no fault touched it (see ackGapGrace).
type AckGap struct {
	Partition string
	From, To  int64 // simulated nanoseconds
}

// Len is the stretch's length.
func (g AckGap) Len() time.Duration { return time.Duration(g.To - g.From) }

func (g AckGap) String() string {
	if g.Partition == "" {
		return "none"
	}
	return fmt.Sprintf("%v on %s (%v..%v)", g.Len().Round(time.Millisecond), g.Partition,
		time.Duration(g.From).Round(time.Millisecond), time.Duration(g.To).Round(time.Millisecond))
}

type span struct{ from, to int64 }

// union merges spans into sorted disjoint ones.
func union(s []span) []span {
	sort.Slice(s, func(i, j int) bool { return s[i].from < s[j].from })
	var out []span
	for _, x := range s {
		if x.to <= x.from {
			continue
		}
		if n := len(out); n > 0 && x.from <= out[n-1].to {
			out[n-1].to = max(out[n-1].to, x.to)
			continue
		}
		out = append(out, x)
	}
	return out
}

// intersect intersects two sorted disjoint span lists.
func intersect(a, b []span) []span {
	var out []span
	for i, j := 0, 0; i < len(a) && j < len(b); {
		from, to := max(a[i].from, b[j].from), min(a[i].to, b[j].to)
		if from < to {
			out = append(out, span{from, to})
		}
		if a[i].to < b[j].to {
			i++
		} else {
			j++
		}
	}
	return out
}

// longestAckGap computes the ack gap of a history. stop is when the clients
// stopped starting operations.
func longestAckGap(h checker.History, faults []checker.Annotation, stop int64) AckGap {
	touched := []span{{0, int64(ackGapGrace)}}
	for _, f := range faults {
		touched = append(touched, span{f.Start, f.End + int64(ackGapGrace)})
	}
	touched = union(touched)
	var free []span
	at := int64(0)
	for _, t := range touched {
		if t.from > at {
			free = append(free, span{at, min(t.from, stop)})
		}
		at = max(at, t.to)
	}
	if at < stop {
		free = append(free, span{at, stop})
	}
	free = union(free)

	asking := map[string][]span{}
	acks := map[string][]int64{}
	for i := range h {
		op := &h[i]
		if op.Kind != checker.Produce {
			continue
		}
		end := op.Return
		if end < op.Call {
			end = stop // still outstanding when the run ended
		}
		asking[op.Partition] = append(asking[op.Partition], span{op.Call, end})
		if op.OK {
			acks[op.Partition] = append(acks[op.Partition], op.Return)
		}
	}
	names := make([]string, 0, len(asking))
	for p := range asking {
		names = append(names, p)
	}
	sort.Strings(names)
	var best AckGap
	for _, p := range names {
		a := acks[p]
		sort.Slice(a, func(i, j int) bool { return a[i] < a[j] })
		for _, s := range intersect(free, union(asking[p])) {
			// Split s at the acknowledgements inside it.
			k := sort.Search(len(a), func(i int) bool { return a[i] > s.from })
			from := s.from
			for ; k < len(a) && a[k] < s.to; k++ {
				if a[k]-from > best.To-best.From {
					best = AckGap{p, from, a[k]}
				}
				from = a[k]
			}
			if s.to-from > best.To-best.From {
				best = AckGap{p, from, s.to}
			}
		}
	}
	return best
}
