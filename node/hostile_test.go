package node

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

// What a hostile or careless client can make the node hold, and how it
// answers requests that name things twice. Kafka's behaviour is the
// reference (see each test).

// TestClosedConnReleasesFetches parks fetches with a MaxWait of 24 days (the
// most the protocol allows) on connections that then close. The node must
// forget them at the close: before, they stayed counted until their
// deadline, and once fetchWaitsMax of them piled up every other client's
// long poll was answered at once, empty.
func TestClosedConnReleasesFetches(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "parked")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "parked", nil, "a").ErrorCode == 0
	})
	n := h.nodes[1].n
	const conns, perConn = 8, 50
	const forever = int32(24 * 24 * time.Hour / time.Millisecond) // about 2^31 ms
	var ids []ConnID
	for range conns {
		h.conn++
		ids = append(ids, h.conn)
		for range perConn {
			h.sendOn(1, h.conn, fetchReq("parked", 0, 1, forever, 1))
		}
	}
	h.run(100 * time.Millisecond)
	if n.fetches != conns*perConn {
		t.Fatalf("%d fetches waiting, want %d parked", n.fetches, conns*perConn)
	}
	for _, c := range ids {
		n.CloseConn(c)
	}
	if n.fetches != 0 {
		t.Fatalf("%d fetches still counted after their connections closed", n.fetches)
	}
	h.run(100 * time.Millisecond) // the parking places were swept at the close
	for _, g := range n.groups {
		if len(g.parked)+len(g.readWaits)+len(g.barrierQueue)+len(g.barriers) != 0 {
			t.Fatalf("group %d still holds %d parked, %d read waits, %d queued, %d barriers",
				g.id, len(g.parked), len(g.readWaits), len(g.barrierQueue), len(g.barriers))
		}
	}
	// Data arriving for the forgotten fetches answers nobody and breaks
	// nothing; a live consumer's long poll still waits and is woken.
	c, _ := h.send(1, fetchReq("parked", 0, 1, 2000, 1))
	h.run(200 * time.Millisecond)
	if len(h.nodes[1].got[c]) != 0 {
		t.Fatal("a live long poll was answered before data or its deadline")
	}
	produceOne(t, h, 1, "parked", nil, "b")
	h.until(time.Second, "the live fetch's answer", func() bool { return len(h.nodes[1].got[c]) > 0 })
	for _, id := range ids {
		if len(h.nodes[1].got[id]) != 0 {
			t.Fatalf("closed connection %d got %d answers", id, len(h.nodes[1].got[id]))
		}
	}
}

// TestAcksZeroHoldsItsPlace: an acks=0 produce sends nothing back, but the
// node reports it done (Response.Answers, with no bytes) only once its batch
// was handled, so the caller's bound on requests in flight covers acks=0 too.
// Kafka reads a connection's next request only after handling the previous
// one, so a fire-and-forget flood is slowed by TCP, not queued in the broker.
func TestAcksZeroHoldsItsPlace(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "zero")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "zero", nil, "a").ErrorCode == 0
	})
	tn := h.nodes[1]
	h.conn++
	c := h.conn
	const batches = 20
	for i := range batches {
		req := produceReq("zero", 0, nil, "z"+string(rune('a'+i)))
		req.Acks = 0
		h.sendOn(1, c, req)
	}
	if slots, _ := tn.n.ConnHeld(c); slots != batches {
		t.Fatalf("%d slots held before the batches were handled, want %d", slots, batches)
	}
	h.until(time.Second, "every acks=0 produce reported done", func() bool { return tn.answers[c] == batches })
	if len(tn.got[c]) != 0 || tn.closed[c] {
		t.Fatalf("acks=0 produces answered %d frames, closed %v: want silence", len(tn.got[c]), tn.closed[c])
	}
	if slots, _ := tn.n.ConnHeld(c); slots != 0 {
		t.Fatalf("%d slots still held after every batch applied", slots)
	}
	fp, _ := fetchAll(t, h, 1, "zero")
	if fp.HighWatermark != 1+batches {
		t.Fatalf("high watermark %d, want %d: every acks=0 batch lands", fp.HighWatermark, 1+batches)
	}
}

// TestProduceTimeoutZero: Kafka appends an acks=-1 batch whose timeout is 0
// or less and answers REQUEST_TIMED_OUT, its delayed produce expiring at
// once (the batch may still commit, and here does). acks=1 ignores the
// timeout in Kafka: the answer is the append's.
func TestProduceTimeoutZero(t *testing.T) {
	h := newHarness(t, 3)
	waitTopic(t, h, 1, "t0")
	leader, _ := h.partitionLeader(1, "t0", 0)
	id := uint64(leader)
	h.until(10*time.Second, "a served produce", func() bool {
		return produceOne(t, h, id, "t0", nil, "a").ErrorCode == 0
	})
	for _, tc := range []struct {
		acks    int16
		timeout int32
		code    int16
	}{
		{-1, 0, kerr.RequestTimedOut.Code},
		{-1, -5, kerr.RequestTimedOut.Code},
		{1, 0, 0},
		{1, -1, 0},
	} {
		req := produceReq("t0", 0, nil, "x")
		req.Acks, req.TimeoutMillis = tc.acks, tc.timeout
		p := h.do(id, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.ErrorCode != tc.code {
			t.Errorf("acks=%d timeout=%d: code %d, want %d", tc.acks, tc.timeout, p.ErrorCode, tc.code)
		}
	}
	h.run(time.Second)
	if fp, _ := fetchAll(t, h, id, "t0"); fp.HighWatermark != 5 {
		t.Fatalf("high watermark %d, want 5: a timed-out produce is still appended", fp.HighWatermark)
	}
}

// TestDuplicateNames sends requests naming one topic or partition many times.
// Kafka keys them: Produce and Fetch answer a partition once (Produce
// appends the last mention's records), Metadata answers a topic once,
// CreateTopics and DeleteTopics answer a duplicated topic once with
// INVALID_REQUEST and leave it alone. The answer costs what the distinct
// names cost, not what the mentions do.
func TestDuplicateNames(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "dup")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "dup", nil, "a").ErrorCode == 0
	})
	const mentions = 100_000

	t.Run("metadata", func(t *testing.T) {
		names := make([]string, mentions)
		for i := range names {
			names[i] = "dup"
		}
		req := metadataReq(names...)
		resp := h.do(1, req).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 || *resp.Topics[0].Topic != "dup" {
			t.Fatalf("%d topics answered, want dup once", len(resp.Topics))
		}
		if size := len(wire.AppendResponse(nil, 0, resp)); size > 4096 {
			t.Fatalf("answer of %d bytes to one topic named %d times", size, mentions)
		}
	})
	t.Run("fetch", func(t *testing.T) {
		req := fetchReq("dup", 0, 0, 0, 0)
		first := req.Topics[0].Partitions[0]
		for range mentions {
			req.Topics = append(req.Topics, kmsg.FetchRequestTopic{Topic: "dup", Partitions: []kmsg.FetchRequestTopicPartition{first}})
		}
		resp := h.do(1, req).(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("%d topics answered, want one partition once", len(resp.Topics))
		}
		if got := values(t, resp.Topics[0].Partitions[0].RecordBatches); !cmp.Equal(got, []string{"0:a"}) {
			t.Fatalf("records %v", got)
		}
	})
	t.Run("produce", func(t *testing.T) {
		req := produceReq("dup", 0, nil, "first")
		last := produceReq("dup", 0, nil, "last").Topics[0].Partitions[0]
		other := produceReq("dup", 0, nil, "other").Topics[0].Partitions[0]
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, other)
		req.Topics = append(req.Topics, kmsg.ProduceRequestTopic{Topic: "dup", Partitions: []kmsg.ProduceRequestTopicPartition{last}})
		resp := h.do(1, req).(*kmsg.ProduceResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("answer %+v, want partition 0 once, no error", resp.Topics)
		}
		if _, got := fetchAll(t, h, 1, "dup"); !cmp.Equal(got, []string{"0:a", "1:last"}) {
			t.Fatalf("log %v, want only the last mention appended", got)
		}
	})
	t.Run("create topics", func(t *testing.T) {
		req := createReq("twice", 1, 1)
		req.Topics = append(req.Topics, createReq("once", 1, 1).Topics[0], createReq("twice", 2, 1).Topics[0])
		resp := h.do(1, req).(*kmsg.CreateTopicsResponse)
		got := map[string]int16{}
		for _, rt := range resp.Topics {
			if _, ok := got[rt.Topic]; ok {
				t.Fatalf("%s answered twice", rt.Topic)
			}
			got[rt.Topic] = rt.ErrorCode
		}
		if want := map[string]int16{"once": 0, "twice": kerr.InvalidRequest.Code}; !cmp.Equal(got, want) {
			t.Fatalf("codes %v, want %v", got, want)
		}
		h.run(time.Second)
		if h.nodes[1].n.meta.topics["twice"] != nil {
			t.Fatal("a topic named twice was created")
		}
	})
	t.Run("delete topics", func(t *testing.T) {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Version = 6
		req.TimeoutMillis = 5000
		for _, name := range []string{"once", "once", "once"} {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
		resp := h.do(1, req).(*kmsg.DeleteTopicsResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("answer %+v, want once INVALID_REQUEST", resp.Topics)
		}
		h.run(time.Second)
		if h.nodes[1].n.meta.topics["once"] == nil {
			t.Fatal("a topic named twice was deleted")
		}
	})
}

// TestClosedConnDropsPendingAnswers: produces waiting for a commit that
// cannot come (the leader is cut off from its followers) are forgotten when
// their connection closes; the entries themselves stay in the log and may
// still commit.
func TestClosedConnDropsPendingAnswers(t *testing.T) {
	h := newHarness(t, 3)
	waitTopic(t, h, 1, "pending")
	leader, _ := h.partitionLeader(1, "pending", 0)
	id := uint64(leader)
	h.until(10*time.Second, "a served produce", func() bool {
		return produceOne(t, h, id, "pending", nil, "a").ErrorCode == 0
	})
	n := h.nodes[id].n
	before := len(n.pending)
	h.isolate(id)
	h.conn++
	c := h.conn
	const produces = 30
	for range produces {
		req := produceReq("pending", 0, nil, "b")
		req.TimeoutMillis = 1<<31 - 1 // 24 days
		h.sendOn(id, c, req)
	}
	h.step()
	if got := len(n.pending) - before; got != produces {
		t.Fatalf("%d produces pending, want %d", got, produces)
	}
	n.CloseConn(c)
	if got := len(n.pending) - before; got != 0 {
		t.Fatalf("%d produces still pending after their connection closed", got)
	}
	for _, g := range n.groups {
		if len(g.pending) > before {
			t.Fatalf("group %d still lists %d pending proposals", g.id, len(g.pending))
		}
	}
	h.heal()
	h.run(2 * time.Second)
	if len(h.nodes[id].got[c]) != 0 {
		t.Fatalf("a closed connection got %d answers", len(h.nodes[id].got[c]))
	}
}

// TestListOffsetsDuplicates: Kafka answers every mention of a partition
// named twice in ListOffsets v1+ INVALID_REQUEST, and the others as usual.
func TestListOffsetsDuplicates(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "lo")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "lo", nil, "a").ErrorCode == 0
	})
	waitTopic(t, h, 1, "lo2")
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 6
	req.ReplicaID = -1
	for _, name := range []string{"lo", "lo2", "lo"} {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = name
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp := h.do(1, req).(*kmsg.ListOffsetsResponse)
	type answer struct {
		Topic string
		Code  int16
	}
	var got []answer
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			got = append(got, answer{rt.Topic, p.ErrorCode})
			if p.ErrorCode == kerr.InvalidRequest.Code && p.Offset != -1 {
				t.Errorf("%s: INVALID_REQUEST with offset %d", rt.Topic, p.Offset)
			}
		}
	}
	inv := kerr.InvalidRequest.Code
	if want := []answer{{"lo", inv}, {"lo2", 0}, {"lo", inv}}; !cmp.Equal(got, want) {
		t.Fatalf("answers %v, want %v", got, want)
	}
}

// TestNodeClosedConnReleasesFetches: when the node itself closes a
// connection (here for a request it cannot parse), the fetches parked on it
// are released too, not left until their MaxWait.
func TestNodeClosedConnReleasesFetches(t *testing.T) {
	h := newHarness(t, 1)
	waitTopic(t, h, 1, "bad")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "bad", nil, "a").ErrorCode == 0
	})
	n := h.nodes[1].n
	h.conn++
	c := h.conn
	for range 10 {
		h.sendOn(1, c, fetchReq("bad", 0, 1, 1<<31-1, 1))
	}
	h.run(100 * time.Millisecond)
	if n.fetches != 10 {
		t.Fatalf("%d fetches parked, want 10", n.fetches)
	}
	n.HandleFrame(c, []byte{0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0xff, 0xff}) // api key 9999
	h.step()
	if !h.nodes[1].closed[c] {
		t.Fatal("the node did not close the connection")
	}
	if n.fetches != 0 {
		t.Fatalf("%d fetches still counted after the node closed their connection", n.fetches)
	}
}
