package host_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/node/host"
	"github.com/ketch-dev/ketch/wire"
)

// What one client can make the host hold is bounded: these tests drive the
// cases a pen-tester found growing the broker by gigabytes.

func startHostConfig(t *testing.T, cfg host.Config) *host.Host {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	if cfg.Node.ID == 0 {
		cfg.Node.ID = 1
	}
	cfg.Logger = slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h, err := host.Start(cfg)
	if err != nil {
		t.Fatalf("start host: %v", err)
	}
	return h
}

// fillTopic creates topic and produces batches of valueBytes each.
func fillTopic(t *testing.T, addr, topic string, batches, valueBytes int) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
		kgo.ProducerBatchMaxBytes(int32(valueBytes+1024)), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	for range batches {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, valueBytes)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return cl
}

// fetchFrom is a Fetch v11 of one partition from offset 0 with no wait.
func fetchFrom(topic string, maxBytes int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxBytes = maxBytes
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = maxBytes
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// watchHeld samples what the host's connections hold until stop is closed
// and returns the most bytes and requests one connection was seen holding
// (the other client's connections are not counted against the unread one).
func watchHeld(h *host.Host, stop <-chan struct{}) <-chan [2]int {
	out := make(chan [2]int, 1)
	go func() {
		var most [2]int
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			reqs, bytes := h.HeldMost()
			most[0], most[1] = max(most[0], bytes), max(most[1], reqs)
			select {
			case <-stop:
				out <- most
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// TestE2EUnreadAnswersBounded pipelines 64 fetches of 8 MiB each and does
// not read the answers. Before, the host built and queued all of them (512
// MiB for one connection); now it stops reading the connection once what it
// holds for it passes ConnHeldBytes, so it holds about one answer. Every
// answer still arrives once the client reads: backpressure, not loss. Another
// client is served meanwhile.
func TestE2EUnreadAnswersBounded(t *testing.T) {
	const (
		topic      = "unread"
		heldBytes  = 2 << 20
		valueBytes = 512 << 10
		batches    = 16 // 8 MiB of records
		fetches    = 64
		answerMax  = batches*(valueBytes+1024) + 64<<10
	)
	h := startHostConfig(t, host.Config{ConnHeldBytes: heldBytes})
	defer closeHost(t, h)
	cl := fillTopic(t, h.Addr(), topic, batches, valueBytes)
	defer cl.Close()

	c := dialRaw(t, h.Addr())
	defer c.nc.Close()
	req := fetchFrom(topic, answerMax)
	var out []byte
	for i := range fetches {
		out = wire.AppendRequest(out, int32(i), nil, req)
	}
	stop := make(chan struct{})
	most := watchHeld(h, stop)
	c.write(out)
	// The first answers fill the socket buffers; then one stays queued.
	deadline := time.Now().Add(ioTimeout)
	for {
		if _, _, bytes := h.Held(); bytes >= batches*valueBytes {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no fetch answer held: the client's socket took them all?")
		}
		time.Sleep(time.Millisecond)
	}
	// While the client reads nothing, another client is served, and the
	// host holds no more than the budget plus about one answer.
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	for range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("other client")}).FirstErr(); err != nil {
			t.Fatalf("another client was not served: %v", err)
		}
	}
	close(stop)
	m := <-most
	t.Logf("held at most %d bytes, %d requests, for %d unread fetches of up to %d bytes", m[0], m[1], fetches, answerMax)
	if m[0] > heldBytes+2*answerMax || m[1] > 2 {
		t.Fatalf("held %d bytes and %d requests for one connection that reads nothing, want at most %d bytes and 2 requests",
			m[0], m[1], heldBytes+2*answerMax)
	}
	for i := range fetches {
		corr, resp := c.readResponse(req)
		if corr != int32(i) {
			t.Fatalf("answer %d has correlation id %d", i, corr)
		}
		p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || len(p.RecordBatches) < batches*valueBytes {
			t.Fatalf("answer %d: code %d, %d record bytes, want all %d", i, p.ErrorCode, len(p.RecordBatches), batches*valueBytes)
		}
	}
}

// TestE2EAcksZeroFloodLands floods one connection with acks=0 batches as
// fast as TCP takes them. Each holds its place until handled, so the host
// stops reading while the connection has requestsInFlightMax or
// ConnHeldBytes outstanding, and every batch lands: before, the flood went
// past raft's uncommitted-bytes limit, a dropped proposal closed the
// connection, and the batches behind it were lost.
func TestE2EAcksZeroFloodLands(t *testing.T) {
	const (
		topic      = "flood"
		batches    = 1500
		valueBytes = 64 << 10
	)
	h := startHostConfig(t, host.Config{})
	defer closeHost(t, h)
	cl := fillTopic(t, h.Addr(), topic, 1, 10)
	defer cl.Close()

	c := dialRaw(t, h.Addr())
	defer c.nc.Close()
	version := c.produceVersion()
	stop := make(chan struct{})
	most := watchHeld(h, stop)
	wrote := make(chan error, 1)
	go func() {
		var out []byte
		for i := range batches {
			req := kmsg.NewPtrProduceRequest()
			req.Version = version
			req.Acks = 0
			req.TimeoutMillis = 30_000
			req.Topics = []kmsg.ProduceRequestTopic{{
				Topic:      topic,
				Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: testBatch(valueBytes)}},
			}}
			out = wire.AppendRequest(out[:0], int32(1000+i), nil, req)
			if err := c.nc.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
				wrote <- err
				return
			}
			if _, err := c.nc.Write(out); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	if err := <-wrote; err != nil {
		t.Fatalf("writing the flood: %v", err)
	}
	// Answered only after every acks=0 batch before it was handled.
	c.roundTrip(&kmsg.ApiVersionsRequest{Version: 0})
	close(stop)
	m := <-most
	_, resp := c.roundTrip(fetchFrom(topic, 1))
	hw := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0].HighWatermark
	t.Logf("%d of %d acks=0 batches landed; held at most %d bytes, %d requests", hw-1, batches, m[0], m[1])
	if hw != 1+batches {
		t.Fatalf("high watermark %d: %d of %d acks=0 batches landed", hw, hw-1, batches)
	}
	if m[1] > 64+1 {
		t.Fatalf("%d requests held for one connection, want at most the in-flight bound", m[1])
	}
}

// TestE2EConnectionsBounded: past ConnectionsMax a new connection is closed
// at once; closing one makes room again.
func TestE2EConnectionsBounded(t *testing.T) {
	const most = 4
	h := startHostConfig(t, host.Config{ConnectionsMax: most})
	defer closeHost(t, h)
	var open []*rawConn
	for range most {
		c := dialRaw(t, h.Addr())
		defer c.nc.Close()
		c.roundTrip(&kmsg.ApiVersionsRequest{Version: 0})
		open = append(open, c)
	}
	extra := dialRaw(t, h.Addr())
	defer extra.nc.Close()
	extra.write(wire.AppendRequest(nil, 1, nil, &kmsg.ApiVersionsRequest{Version: 0}))
	extra.expectClosed()

	open[0].nc.Close()
	deadline := time.Now().Add(ioTimeout)
	for {
		if conns, _, _ := h.Held(); conns < most {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection still counts against the bound")
		}
		time.Sleep(5 * time.Millisecond)
	}
	again := dialRaw(t, h.Addr())
	defer again.nc.Close()
	again.roundTrip(&kmsg.ApiVersionsRequest{Version: 0})
	for _, c := range open[1:] {
		c.roundTrip(&kmsg.ApiVersionsRequest{Version: 0})
	}
}
