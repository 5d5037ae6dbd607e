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
// ackGapGrace: after a heal the cluster may need one election before a
// partition has a serving leader: a randomized election timeout of
// [ElectionTicks, 2*ElectionTicks) ticks, at most 2s at 10 x 100ms, plus a
// pre-vote and a vote round trip and the first entry of the new term. So the
// stretch starts counting 2s after a fault heals.
//
// ackGapMax: what a correct cluster may still take after the grace. A node
// clock running 30% slow (the partition and swarm scenarios' drift)
// stretches the election timeout to 2.9s, 0.9s past the grace; and a
// producer whose request went to a node that a fault took away waits out its
// request timeout (3s) before it closes the connection, backs off (100ms)
// and asks for metadata again. Hence 3.5s. Measured before choosing (counted
// from the heal itself, no grace, 200 seeds each): failover's longest
// stretch was 317ms (p99 316ms), swarm's 1.72s (p50 214ms, p90 893ms, p99
// 1.43s); see docs/zoo.md.
const (
	ackGapGrace = 2 * time.Second
	ackGapMax   = 3500 * time.Millisecond
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
