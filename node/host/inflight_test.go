package host

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/wire"
)

// TestPipelinedAnswersReleaseSlots pipelines more requests than the
// per-connection in-flight bound in one write. Many are answered by one
// Process, so their answers leave as one node.Response; once every answer is
// read, every slot must be free again. Counting one slot per Response leaked
// them, and a connection that had leaked requestsInFlightMax slots was down
// to one request at a time: a pipelining producer (franz-go keeps five in
// flight) was serialised.
func TestPipelinedAnswersReleaseSlots(t *testing.T) {
	h, err := Start(Config{
		Listen:  "127.0.0.1:0",
		DataDir: t.TempDir(),
		Node:    node.Config{ID: 1},
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nc, err := net.DialTimeout("tcp", h.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))

	const reqs = 3 * requestsInFlightMax
	var out []byte
	for i := range reqs {
		out = wire.AppendRequest(out, int32(i), nil, &kmsg.ApiVersionsRequest{Version: 0})
	}
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	fr := wire.NewFrameReader(0)
	buf := make([]byte, 64<<10)
	for got := 0; got < reqs; {
		if _, ok, err := fr.Next(); err != nil {
			t.Fatal(err)
		} else if ok {
			got++
			continue
		}
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("after %d of %d answers: %v", got, reqs, err)
		}
		fr.Feed(buf[:n])
	}

	// The writer releases slots right after writing; give it a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		held := 0
		h.mu.Lock()
		for c := range h.live {
			c.mu.Lock()
			held += c.requests
			c.mu.Unlock()
		}
		h.mu.Unlock()
		if held == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d in-flight slots still held after every answer was read", held)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
