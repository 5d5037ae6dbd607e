package node

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTimerHeapOrder: timers come out by time, ties in the order they were
// scheduled, also after keep drops some of them.
func TestTimerHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(1_700_000_000, 0)
	var h timerHeap
	var want []timer
	for i := range 500 {
		tm := timer{at: base.Add(time.Duration(r.IntN(50)) * time.Millisecond), seq: uint64(i + 1), id: uint64(i)}
		h.push(tm)
		want = append(want, tm)
	}
	h.keep(func(t *timer) bool { return t.id%3 != 0 })
	want = slices.DeleteFunc(want, func(t timer) bool { return t.id%3 == 0 })
	slices.SortFunc(want, func(a, b timer) int {
		if !a.at.Equal(b.at) {
			return a.at.Compare(b.at)
		}
		return int(a.seq) - int(b.seq)
	})
	for i, w := range want {
		if len(h) == 0 {
			t.Fatalf("heap empty after %d of %d", i, len(want))
		}
		if got := h.pop(); got.id != w.id {
			t.Fatalf("pop %d: timer %d (at %v seq %d), want %d (at %v seq %d)", i, got.id, got.at, got.seq, w.id, w.at, w.seq)
		}
	}
	if len(h) != 0 {
		t.Fatalf("%d timers left", len(h))
	}
}

// TestDeadlineHeapsStayBounded: requests that finish long before their
// deadline (a produce with a 24-day timeout, a long poll woken by data) do
// not pile up in the deadline heaps: they hold at most about twice what the
// node still waits for.
func TestDeadlineHeapsStayBounded(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "bounded")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "bounded", nil, "a").ErrorCode == 0
	})
	n := h.nodes[1].n
	const forever = int32(24 * 24 * time.Hour / time.Millisecond)
	for i := range 300 {
		req := produceReq("bounded", 0, nil, "v")
		req.TimeoutMillis = forever
		if resp := h.do(1, req).(*kmsg.ProduceResponse); resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("produce %d answered %d", i, resp.Topics[0].Partitions[0].ErrorCode)
		}
		// A long poll at the end of the log, woken by the next produce.
		h.send(1, fetchReq("bounded", 0, int64(i+2), forever, 1))
		h.step()
		// At most two of each are live at a time here; a push rebuilds
		// a heap past twice its live entries plus timersSlackMin.
		const most = 2*2 + timersSlackMin + 1
		if got := len(n.pendingTimers); got > most {
			t.Fatalf("after %d produces: %d proposal deadlines held for %d proposals (at most %d)", i+1, got, len(n.pending), most)
		}
		if got := len(n.fetchTimers); got > most {
			t.Fatalf("after %d fetches: %d fetch deadlines held for %d fetches (at most %d)", i+1, got, n.fetches, most)
		}
	}
	if n.fetches != 1 {
		t.Fatalf("%d fetches waiting, want the last long poll", n.fetches)
	}
}

// TestNextTick: a node ticked only when NextTick says (and before each
// request) answers a long poll at its deadline, times out a proposal at its
// deadline, and still ticks raft every TickInterval.
func TestNextTick(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "next")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "next", nil, "a").ErrorCode == 0
	})
	h.run(3 * time.Second) // reports settle
	tn := h.nodes[1]
	n := tn.n
	now := h.now
	drive := func(until time.Time) (ticks int) {
		for {
			next := n.NextTick()
			if next.Before(now) {
				t.Fatalf("NextTick %v is before the last Tick %v", next, now)
			}
			if next.Sub(now) > n.TickEvery() {
				t.Fatalf("NextTick %v is more than TickEvery (%v) after %v", next, n.TickEvery(), now)
			}
			if next.After(until) {
				return ticks
			}
			now = next
			n.Tick(now)
			ticks++
			if again := n.NextTick(); !again.After(now) {
				t.Fatalf("right after a Tick at %v, NextTick asks for another at %v", now, again)
			}
			out, err := n.Process()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Responses {
				tn.got[r.Conn] = append(tn.got[r.Conn], r.Data)
			}
		}
	}
	// Idle: one Tick per raft tick, not one per 10ms.
	start := now
	if ticks := drive(start.Add(time.Second)); ticks > 11 {
		t.Fatalf("an idle node asked for %d ticks in a second, want about 10", ticks)
	}
	// A long poll with nothing to read is answered at its deadline.
	n.Tick(now)
	h.conn++
	c := h.conn
	h.sendOn(1, c, fetchReq("next", 0, 1, 250, 1))
	sent := now
	drive(sent.Add(249 * time.Millisecond))
	if len(tn.got[c]) != 0 {
		t.Fatalf("the long poll was answered %v before its deadline", sent.Add(250*time.Millisecond).Sub(now))
	}
	drive(sent.Add(250 * time.Millisecond))
	if len(tn.got[c]) != 1 || !now.Equal(sent.Add(250*time.Millisecond)) {
		t.Fatalf("at %v after sending: %d answers, want the long poll's at 250ms", now.Sub(sent), len(tn.got[c]))
	}
}
