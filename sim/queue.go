package sim

import "container/heap"

// event is something that happens at a simulated time. Ties are broken by
// the order events were scheduled, so the run is a pure function of the seed.
type event struct {
	at  int64 // simulated nanoseconds since the start
	seq uint64
	// What happens, for the trace: a fixed label and up to three numbers,
	// so that describing an event costs nothing unless a trace file is
	// being written (the hash takes the label and the numbers as they are).
	label   string
	a, b, c int64
	fn      func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

var _ heap.Interface = (*eventQueue)(nil)
