package host_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/node/host"
	"github.com/ketch-dev/ketch/wal"
)

// TestHostStopsOnDiskFailure checks the host's one fatal path: when the disk
// fails, the node must not carry on with a hole in its log, so the host stops,
// Done is closed and Err says why (cmd/node then exits non-zero).
func TestHostStopsOnDiskFailure(t *testing.T) {
	errInjected := errors.New("injected disk failure")
	var failing atomic.Bool
	fs := wal.NewMemFS()
	// The hook runs on the loop goroutine; the test only flips the flag.
	fs.SetFault(func(op, name string) error {
		if failing.Load() && (op == "write" || op == "sync") {
			return errInjected
		}
		return nil
	})
	h, err := host.Start(host.Config{
		Listen:  "127.0.0.1:0",
		DataDir: "data",
		FS:      fs,
		Node:    node.Config{ID: 1},
		Logger:  slog.New(slog.NewTextHandler(tlogWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.Addr()), kgo.DefaultProduceTopic("t"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, kgo.StringRecord("before")).FirstErr(); err != nil {
		t.Fatalf("produce before the failure: %v", err)
	}
	select {
	case <-h.Done():
		t.Fatalf("host stopped before the failure: %v", h.Err())
	default:
	}

	failing.Store(true)
	acked := make(chan error, 1)
	cl.Produce(ctx, kgo.StringRecord("during"), func(_ *kgo.Record, err error) { acked <- err })
	select {
	case <-h.Done():
	case <-ctx.Done():
		t.Fatalf("host still running %v after its disk failed", ioTimeout)
	}
	if err := h.Err(); err == nil {
		t.Fatal("host stopped with a nil Err after a disk failure")
	} else {
		t.Logf("host stopped: %v", err)
	}
	if err := h.Close(); err == nil {
		t.Fatal("Close after a disk failure returned nil")
	}
	select {
	case err := <-acked:
		if err == nil {
			t.Fatal("a record produced while the disk failed was acknowledged")
		}
	default:
		// Still retrying against a dead broker: not acknowledged, which is
		// all that matters.
	}
}
