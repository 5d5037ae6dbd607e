package node

import (
	"cmp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Deadlines. A Tick must not visit every request the node holds to find the
// few whose time has come: proposals and fetches wait in min-heaps by
// deadline. Entries are not removed when their request finishes early;
// they are skipped when they come up, and a heap holding more finished
// entries than live ones is rebuilt, so it stays within a small factor of
// what the node holds.

// timer is one heap entry. For a proposal, id is its request id; for a
// fetch, fw is it and grace tells its deadline plus fetchBarrierGrace (give
// up on its confirmation; set when the fetch is first held) from its
// deadline (re-arm it if parked; set when it first parks, so a fetch
// answered at once asks for no Tick at its deadline).
type timer struct {
	at    time.Time
	seq   uint64 // ties: in the order scheduled
	id    uint64
	fw    *fetchWait
	grace bool
	name  string // a coordinator timer's group (coordinator.go)
}

func timerLess(a, b *timer) bool {
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.seq < b.seq
}

// timerHeap is a binary min-heap of timers (by value: no allocation per
// entry, no interface calls).
type timerHeap []timer

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !timerLess(&s[i], &s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *timerHeap) pop() timer {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = timer{}
	s = s[:last]
	*h = s
	h.down(0)
	return top
}

func (h timerHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && timerLess(&h[r], &h[l]) {
			m = r
		}
		if !timerLess(&h[m], &h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// keep drops the entries live rejects and restores the heap order.
func (h *timerHeap) keep(live func(*timer) bool) {
	s := *h
	k := 0
	for i := range s {
		if live(&s[i]) {
			s[k] = s[i]
			k++
		}
	}
	clear(s[k:])
	s = s[:k]
	for i := len(s)/2 - 1; i >= 0; i-- {
		s.down(i)
	}
	*h = s
}

// timersSlackMin is how many finished entries a heap may hold beyond twice
// its live ones before it is rebuilt.
const timersSlackMin = 64

func (n *Node) schedulePending(id uint64, deadline time.Time) {
	n.timerSeq++
	n.pendingTimers.push(timer{at: deadline, seq: n.timerSeq, id: id})
	if len(n.pendingTimers) > 2*len(n.pending)+timersSlackMin {
		n.pendingTimers.keep(func(t *timer) bool { return n.pending[t.id] != nil })
	}
}

func (n *Node) scheduleFetch(fw *fetchWait, at time.Time, grace bool) {
	n.timerSeq++
	n.fetchTimers.push(timer{at: at, seq: n.timerSeq, fw: fw, grace: grace})
	if len(n.fetchTimers) > 2*n.fetches+timersSlackMin {
		n.fetchTimers.keep(func(t *timer) bool { return !t.fw.done })
	}
}

// expire answers requests whose deadline passed.
func (n *Node) expire() {
	var ids []uint64
	for len(n.pendingTimers) > 0 && !n.now.Before(n.pendingTimers[0].at) {
		t := n.pendingTimers.pop()
		if n.pending[t.id] != nil {
			ids = append(ids, t.id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := n.pending[id]
		delete(n.pending, id)
		if g, ok := n.groups[p.group]; ok {
			delete(g.pending, id)
		}
		p.fail(kerr.RequestTimedOut.Code)
	}
	n.expireFetches()
}

// expireFetches re-arms parked fetches whose deadline passed (their answer
// still needs a confirmation), and gives up on confirmations that did not
// come within fetchBarrierGrace after it.
func (n *Node) expireFetches() {
	var late []*fetchWait
	// Those whose grace ran out while their barrier was still queued:
	// issued since, by the Process after that Tick.
	recheck := n.graceRecheck
	n.graceRecheck = nil
	for _, fw := range recheck {
		switch {
		case fw.done:
		case fw.queued || fw.parked:
			n.graceRecheck = append(n.graceRecheck, fw)
		default:
			late = append(late, fw)
		}
	}
	for len(n.fetchTimers) > 0 && !n.now.Before(n.fetchTimers[0].at) {
		t := n.fetchTimers.pop()
		fw := t.fw
		if fw.done {
			continue
		}
		if !t.grace {
			if fw.parked {
				n.armFetch(fw)
			}
			continue
		}
		if fw.queued || fw.parked {
			// Its barrier is not even issued yet: look again at the next
			// Tick, whenever that is (it asks for no Tick of its own).
			n.graceRecheck = append(n.graceRecheck, fw)
			continue
		}
		late = append(late, fw)
	}
	if len(late) == 0 {
		return
	}
	slices.SortStableFunc(late, func(a, b *fetchWait) int {
		if c := cmp.Compare(a.cn.id, b.cn.id); c != 0 {
			return c
		}
		return cmp.Compare(a.corr, b.corr)
	})
	for _, fw := range late {
		n.failFetch(fw, kerr.NotLeaderForPartition.Code)
	}
}

// nextDeadline is the earliest time a proposal or fetch the node holds
// needs a Tick (zero if none). Finished entries at the top are dropped.
func (n *Node) nextDeadline() time.Time {
	for len(n.pendingTimers) > 0 && n.pending[n.pendingTimers[0].id] == nil {
		n.pendingTimers.pop()
	}
	for len(n.fetchTimers) > 0 && n.fetchTimers[0].fw.done {
		n.fetchTimers.pop()
	}
	var next time.Time
	if len(n.pendingTimers) > 0 {
		next = n.pendingTimers[0].at
	}
	if len(n.fetchTimers) > 0 && (next.IsZero() || n.fetchTimers[0].at.Before(next)) {
		next = n.fetchTimers[0].at
	}
	return next
}
