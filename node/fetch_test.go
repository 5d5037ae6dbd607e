package node

import (
	"fmt"
	"slices"
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

// fetchByID is a Fetch v13 (KIP-516: topics by ID) of one partition from offset 0.
func fetchByID(id [16]byte, partition int32) *kmsg.FetchRequest {
	r := fetchReq("", partition, 0, 0, 0)
	r.Version = 13
	r.Topics[0].TopicID = id
	return r
}

// produceByID is a Produce v13 (KIP-516: topics by ID) of values to one partition.
func produceByID(id [16]byte, partition int32, values ...string) *kmsg.ProduceRequest {
	r := produceReq("", partition, nil, values...)
	r.Version = 13
	r.Topics[0].TopicID = id
	return r
}

// TestTopicIDs: from v13 Fetch and Produce name a topic by ID. A broker cut
// off while the topic is deleted and created again under the same name still
// serves the old topic by name (Fetch v12, Produce v12: KIP-516's hazard, as
// in Kafka), but answers the new topic's ID UNKNOWN_TOPIC_ID instead of
// serving it the old log or appending to it; once it catches up, the old ID
// is unknown too.
func TestTopicIDs(t *testing.T) {
	h := newHarness(t, 3)
	h.until(10*time.Second, "solo created", func() bool {
		c := h.do(1, createReq("solo", 1, 1)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
		return c == 0 || c == kerr.TopicAlreadyExists.Code
	})
	x := uint64(waitTopic(t, h, 1, "solo")) // its one replica
	h.until(10*time.Second, "a served produce", func() bool {
		return produceOne(t, h, x, "solo", nil, "old").ErrorCode == 0
	})
	oldID := h.do(x, metadataReq("solo")).(*kmsg.MetadataResponse).Topics[0].TopicID
	one := func(id [16]byte) kmsg.FetchResponseTopicPartition {
		t.Helper()
		resp := h.do(x, fetchByID(id, 0)).(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].TopicID != id || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch by id %x: answer names %d topics (the first %x), want the one asked for", id, len(resp.Topics), resp.Topics[0].TopicID)
		}
		return resp.Topics[0].Partitions[0]
	}
	produce := func(id [16]byte, v string) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		resp := h.do(x, produceByID(id, 0, v)).(*kmsg.ProduceResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].TopicID != id || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("produce by id %x: answer names %d topics, want the one asked for", id, len(resp.Topics))
		}
		return resp.Topics[0].Partitions[0]
	}
	if p := produce(oldID, "byid"); p.ErrorCode != 0 || p.BaseOffset != 1 {
		t.Fatalf("produce by the topic's id: code %d, offset %d", p.ErrorCode, p.BaseOffset)
	}
	if p := one(oldID); p.ErrorCode != 0 || !slices.Equal(values(t, p.RecordBatches), []string{"0:old", "1:byid"}) {
		t.Fatalf("fetch by the topic's id: code %d, records %v", p.ErrorCode, values(t, p.RecordBatches))
	}
	if p := produce([16]byte{7}, "lost"); p.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("produce by an unknown id: code %d, want UNKNOWN_TOPIC_ID", p.ErrorCode)
	}
	for _, id := range [][16]byte{{}, {1, 2, 3}} {
		if p := one(id); p.ErrorCode != kerr.UnknownTopicID.Code {
			t.Fatalf("fetch by unknown id %x: code %d, want UNKNOWN_TOPIC_ID", id, p.ErrorCode)
		}
	}
	if p := h.do(x, func() *kmsg.FetchRequest {
		r := fetchByID(oldID, 0)
		r.Topics[0].Partitions[0].Partition = 1
		return r
	}()).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("fetch of a partition the topic lacks: code %d, want UNKNOWN_TOPIC_OR_PARTITION", p.ErrorCode)
	}

	// x is cut off; the others delete the topic and create it again.
	h.isolate(x)
	others := []uint64{x%3 + 1, (x+1)%3 + 1}
	y := others[0]
	// The controller may have been x: ask the others in turn until one is.
	next := func() uint64 { y = others[0] + others[1] - y; return y }
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version, del.TimeoutMillis = 6, 5000
	del.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr("solo")}}
	h.until(20*time.Second, "solo deleted", func() bool {
		c := h.do(next(), del).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode
		return c == 0 || c == kerr.UnknownTopicOrPartition.Code
	})
	var newID [16]byte
	h.until(20*time.Second, "solo created again", func() bool {
		r := h.do(y, createReq("solo", 1, 1)).(*kmsg.CreateTopicsResponse).Topics[0]
		newID = r.TopicID
		return r.ErrorCode == 0
	})
	if newID == oldID || newID == ([16]byte{}) {
		t.Fatalf("the new topic's id %x (old %x)", newID, oldID)
	}
	if fp, got := fetchAll(t, h, x, "solo"); fp.ErrorCode != 0 || !slices.Equal(got, []string{"0:old", "1:byid"}) {
		t.Fatalf("the cut-off broker by name: code %d, %v; the test no longer reaches KIP-516's case", fp.ErrorCode, got)
	}
	if p := one(newID); p.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("the cut-off broker asked for the new topic by id: code %d, records %v, want UNKNOWN_TOPIC_ID", p.ErrorCode, values(t, p.RecordBatches))
	}
	if p := produce(newID, "new"); p.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("the cut-off broker given a produce for the new topic by id: code %d offset %d, want UNKNOWN_TOPIC_ID", p.ErrorCode, p.BaseOffset)
	}
	if p := one(oldID); p.ErrorCode != 0 {
		t.Fatalf("the cut-off broker asked for the old topic by id: code %d", p.ErrorCode)
	}

	h.heal()
	h.until(20*time.Second, "x learns the old topic is gone", func() bool { return one(oldID).ErrorCode == kerr.UnknownTopicID.Code })
}
