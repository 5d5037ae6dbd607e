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
	// delivery, if set, is a peer message the event delivers instead of
	// calling fn (World.deliver).
	delivery *delivery
}

// eventQueue is a binary min-heap ordered by (at, seq). seq is unique, so
// the order is total and any correct heap pops the same sequence. The heap
// holds small keys and the events sit in a slab reused through a free list:
// no allocation per event, no interface calls (container/heap's Less/Swap
// through an interface were a tenth of a run's time), and sifting moves 24
// bytes, not a whole event.
type eventQueue struct {
	heap []eventKey
	slab []event
	free []int32
}

type eventKey struct {
	at   int64
	seq  uint64
	slot int32
}

func (k eventKey) before(o eventKey) bool {
	if k.at != o.at {
		return k.at < o.at
	}
	return k.seq < o.seq
}

func (q *eventQueue) Len() int { return len(q.heap) }

// next returns when the earliest event is due (the queue must not be empty).
func (q *eventQueue) next() int64 { return q.heap[0].at }

func (q *eventQueue) push(e event) {
	var slot int32
	if n := len(q.free); n > 0 {
		slot = q.free[n-1]
		q.free = q.free[:n-1]
		q.slab[slot] = e
	} else {
		slot = int32(len(q.slab))
		q.slab = append(q.slab, e)
	}
	k := eventKey{at: e.at, seq: e.seq, slot: slot}
	h := append(q.heap, k)
	i := len(h) - 1
	for i > 0 { // move parents down into the hole until k fits
		parent := (i - 1) / 2
		if !k.before(h[parent]) {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = k
	q.heap = h
}

// pop removes and returns the earliest event.
func (q *eventQueue) pop() event {
	h := q.heap
	top := h[0]
	last := h[len(h)-1]
	h = h[:len(h)-1]
	if n := len(h); n > 0 {
		i := 0
		for { // move children up into the hole until last fits
			l := 2*i + 1
			if l >= n {
				break
			}
			m := l
			if r := l + 1; r < n && h[r].before(h[l]) {
				m = r
			}
			if !h[m].before(last) {
				break
			}
			h[i] = h[m]
			i = m
		}
		h[i] = last
	}
	q.heap = h
	e := q.slab[top.slot]
	q.slab[top.slot] = event{} // drop the closure for the collector
	q.free = append(q.free, top.slot)
	return e
}
