package sim

import (
	"math/rand/v2"
	"sort"
	"testing"
)

// TestEventQueueOrder: interleaved pushes and pops come out in (at, seq)
// order, ties by scheduling order, as a sort of everything pushed would
// have them; slots are reused without mixing events up.
func TestEventQueueOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var q eventQueue
	var seq uint64
	var pending, got []event
	var last event
	for round := 0; round < 5_000; round++ {
		if q.Len() == 0 || r.IntN(3) > 0 {
			seq++
			e := event{at: last.at + r.Int64N(50), seq: seq, a: int64(seq)}
			q.push(e)
			pending = append(pending, e)
			continue
		}
		e := q.pop()
		if e.a != int64(e.seq) {
			t.Fatalf("event %d came back with payload %d", e.seq, e.a)
		}
		if len(got) > 0 && (e.at < last.at || (e.at == last.at && e.seq < last.seq)) {
			t.Fatalf("popped (%d,%d) after (%d,%d)", e.at, e.seq, last.at, last.seq)
		}
		// It is the least of what is pending.
		sort.Slice(pending, func(i, j int) bool {
			return pending[i].at < pending[j].at || (pending[i].at == pending[j].at && pending[i].seq < pending[j].seq)
		})
		if pending[0].seq != e.seq {
			t.Fatalf("popped %d, the earliest pending is %d", e.seq, pending[0].seq)
		}
		pending = pending[1:]
		got = append(got, e)
		last = e
	}
	if len(q.slab) > len(pending)+len(got) || len(q.slab)-len(q.free) != q.Len() {
		t.Fatalf("slab %d, free %d, queued %d", len(q.slab), len(q.free), q.Len())
	}
}
