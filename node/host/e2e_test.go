package host_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/node/host"
)

// tlogWriter sends the host's log lines to the test log, so they show only
// when a test fails (or with -v).
type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// startHost starts a real host on a free localhost port over the OS disk.
func startHost(t testing.TB, dir string, nodeCfg node.Config) *host.Host {
	t.Helper()
	if nodeCfg.ID == 0 {
		nodeCfg.ID = 1
	}
	h, err := host.Start(host.Config{
		Listen:  "127.0.0.1:0",
		DataDir: dir,
		Node:    nodeCfg,
		Logger:  slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatalf("start host: %v", err)
	}
	return h
}

func closeHost(t testing.TB, h *host.Host) {
	t.Helper()
	if err := h.Close(); err != nil {
		t.Fatalf("close host: %v", err)
	}
}

func e2eValue(i int) string { return fmt.Sprintf("value-%06d", i) }

// TestE2EProduceConsumeRestart is what a user does first: an idempotent
// franz-go producer at default options writes to a topic that does not exist
// yet, a consumer reads everything back in order, and after a restart on the
// same data directory everything is still there.
func TestE2EProduceConsumeRestart(t *testing.T) {
	const (
		topic   = "e2e"
		records = 10_000
	)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	h := startHost(t, dir, node.Config{})
	func() {
		// Default options (idempotent, acks=all) but for topic creation:
		// Kafka, and ketch, create a topic from Metadata v4+ only when the
		// client asks, and franz-go does not by default.
		cl, err := kgo.NewClient(kgo.SeedBrokers(h.Addr()), kgo.AllowAutoTopicCreation())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			failed   int
			firstErr error
		)
		for i := range records {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(e2eValue(i))}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					mu.Lock()
					failed++
					if firstErr == nil {
						firstErr = fmt.Errorf("record %q: %w", r.Value, err)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if failed > 0 {
			t.Fatalf("%d of %d produces failed; first: %v", failed, records, firstErr)
		}
	}()

	consumeAll(ctx, t, h.Addr(), topic, records)
	closeHost(t, h)

	h = startHost(t, dir, node.Config{})
	defer closeHost(t, h)
	consumeAll(ctx, t, h.Addr(), topic, records)
}

// consumeAll reads topic from the start with a group-less consumer and checks
// that it holds exactly e2eValue(0..n-1) at offsets 0..n-1.
func consumeAll(ctx context.Context, t *testing.T, addr, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	next := 0
	for next < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: read %d of %d records before the deadline: %v", topic, next, n, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("consume %s[%d] after %d records: %v", topic, p, next, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if next >= n {
				t.Fatalf("consume %s: record beyond the %d produced: offset %d %q", topic, n, r.Offset, r.Value)
			}
			if want := e2eValue(next); string(r.Value) != want || r.Offset != int64(next) {
				t.Fatalf("consume %s: record %d is offset %d %q, want offset %d %q", topic, next, r.Offset, r.Value, next, want)
			}
			next++
		})
	}
}
