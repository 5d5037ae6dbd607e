package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOverloadedDeposedLeaderServesNothingStale: a leader holding
// FetchWaitsMax parked fetches stalls (a long pause: no ticks, no messages),
// the others elect a new leader that acknowledges more records, and the old
// leader wakes up cut off, still believing it leads. A fetch it receives then,
// over the limit, must not be answered from its unconfirmed state: no stale
// high watermark, no records missing what the new leader acknowledged.
func TestOverloadedDeposedLeaderServesNothingStale(t *testing.T) {
	const limit = 2
	h := newHarness(t, 3, func(c *Config) { c.FetchWaitsMax = limit })
	old := uint64(waitTopic(t, h, 1, "orders"))
	h.until(10*time.Second, "a served produce", func() bool {
		return produceOne(t, h, old, "orders", nil, "v0").ErrorCode == 0
	})
	hw := int64(1)
	for i := 1; i < 3; i++ {
		if p := produceOne(t, h, old, "orders", nil, fmt.Sprintf("v%d", i)); p.ErrorCode != 0 {
			t.Fatalf("produce %d: code %d", i, p.ErrorCode)
		}
		hw++
	}
	// Park limit fetches at the log end: they wait for MinBytes.
	for i := 0; i < limit; i++ {
		h.send(old, fetchReq("orders", 0, hw, 30_000, 1))
	}
	on := h.nodes[old].n
	h.until(time.Second, "the fetches parked", func() bool { return on.fetches == limit })

	// The leader stalls; the rest elect a new leader and write on.
	h.nodes[old].down = true
	delete(h.inbox, old)
	var leader uint64
	h.until(20*time.Second, "a new leader serving", func() bool {
		for _, id := range h.ids {
			if id == old {
				continue
			}
			for _, st := range h.nodes[id].n.Status() {
				if st.Topic == "orders" && st.Serving {
					leader = id
					return true
				}
			}
		}
		return false
	})
	for i := 3; i < 6; i++ {
		if p := produceOne(t, h, leader, "orders", nil, fmt.Sprintf("v%d", i)); p.ErrorCode != 0 {
			t.Fatalf("produce %d on the new leader %d: code %d", i, leader, p.ErrorCode)
		}
	}
	newHW := hw + 3

	// The old leader wakes up cut off from its peers and is asked at once.
	h.isolate(old)
	h.nodes[old].down = false
	for _, st := range on.Status() {
		if st.Topic == "orders" && !st.Serving {
			t.Fatalf("the stalled leader %d stopped serving before it ran: the test no longer reaches the case", old)
		}
	}
	resp, ok := h.tryDo(old, fetchReq("orders", 0, 0, 0, 0), 10*time.Second)
	if !ok {
		return // never answered before it stepped down: nothing served
	}
	p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if p.ErrorCode == 0 {
		t.Fatalf("deposed leader %d over the fetch limit served high watermark %d and %v; the new leader %d had acknowledged up to %d",
			old, p.HighWatermark, values(t, p.RecordBatches), leader, newHW)
	}
	if p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("deposed leader %d answered code %d, want NOT_LEADER_OR_FOLLOWER", old, p.ErrorCode)
	}
}

// TestFetchOverOverloadLimit: past FetchWaitsMax a fetch is not parked but
// is answered as soon as its barrier completes, with the data there is; past
// twice the limit it is answered NOT_LEADER_OR_FOLLOWER without reading
// anything. Once the load is gone, fetches park again.
func TestFetchOverOverloadLimit(t *testing.T) {
	const limit = 2
	h := newHarness(t, 1, func(c *Config) { c.FetchWaitsMax = limit })
	waitTopic(t, h, 1, "t")
	h.until(10*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "t", nil, "a").ErrorCode == 0
	})
	n := h.nodes[1].n
	var parked []ConnID
	for i := 0; i < limit; i++ {
		c, _ := h.send(1, fetchReq("t", 0, 1, 30_000, 1))
		parked = append(parked, c)
	}
	h.until(time.Second, "the fetches parked", func() bool { return n.fetches == limit })
	// Over the limit: answered after its barrier, with the record, though it
	// asked to wait 30s for more bytes than there are.
	start := h.now
	c, _ := h.send(1, fetchReq("t", 0, 0, 30_000, 1<<20))
	h.until(time.Second, "the fetch over the limit answered", func() bool { return len(h.nodes[1].got[c]) > 0 })
	if waited := h.now.Sub(start); waited > 500*time.Millisecond {
		t.Fatalf("the fetch over the limit was held %v", waited)
	}
	_, r, err := parseFetch(t, h.nodes[1].got[c][0])
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.HighWatermark != 1 || len(values(t, p.RecordBatches)) != 1 {
		t.Fatalf("fetch over the limit: code %d hw %d records %v", p.ErrorCode, p.HighWatermark, values(t, p.RecordBatches))
	}
	// Twice the limit held (the two parked and two confirming, sent in one
	// go before the node processes): the next is shed.
	var conns []ConnID
	for i := 0; i < limit+1; i++ {
		c, _ := h.send(1, fetchReq("t", 0, 0, 0, 0))
		conns = append(conns, c)
	}
	if n.fetches != 2*limit {
		t.Fatalf("%d fetches held, want %d", n.fetches, 2*limit)
	}
	h.until(time.Second, "the fetches answered", func() bool { return len(h.nodes[1].got[conns[limit]]) > 0 })
	for i, c := range conns {
		_, r, err := parseFetch(t, h.nodes[1].got[c][0])
		if err != nil {
			t.Fatal(err)
		}
		p := r.Topics[0].Partitions[0]
		want := int16(0)
		if i == limit {
			want = kerr.NotLeaderForPartition.Code
		}
		if p.ErrorCode != want {
			t.Fatalf("fetch %d over the limit: code %d, want %d", i, p.ErrorCode, want)
		}
		if want != 0 && (p.HighWatermark != -1 || len(p.RecordBatches) != 0) {
			t.Fatalf("shed fetch carried hw %d and %d bytes", p.HighWatermark, len(p.RecordBatches))
		}
	}
	// The parked ones are still parked and answer when data comes.
	if p := produceOne(t, h, 1, "t", nil, "b"); p.ErrorCode != 0 {
		t.Fatalf("produce: %d", p.ErrorCode)
	}
	h.until(time.Second, "the parked fetches answered", func() bool {
		return len(h.nodes[1].got[parked[0]]) > 0 && len(h.nodes[1].got[parked[1]]) > 0
	})
	if n.fetches != 0 {
		t.Fatalf("%d fetches still held", n.fetches)
	}
}
