package sim

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

// before is the queue's order: time, then scheduling order. seq is unique,
// so the order is total and any correct heap pops the same sequence.
func (e *event) before(o *event) bool {
	if e.at != o.at {
		return e.at < o.at
	}
	return e.seq < o.seq
}

// eventQueue is a binary min-heap of events held by value: no allocation
// per event and no interface calls (container/heap's Less/Swap through an
// interface were a tenth of a run's time).
type eventQueue []event

func (q eventQueue) Len() int { return len(q) }

func (q *eventQueue) push(e event) {
	h := append(*q, e)
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !h[i].before(&h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
	*q = h
}

// pop removes and returns the earliest event.
func (q *eventQueue) pop() event {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = event{} // drop the closure for the collector
	h = h[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= last {
			break
		}
		m := l
		if r := l + 1; r < last && h[r].before(&h[l]) {
			m = r
		}
		if !h[m].before(&h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}
