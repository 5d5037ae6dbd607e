package host

import (
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/wire"
)

// TestAdmission walks the reader's admission rule: pipelined requests whose
// answers are not written are admitted only within the connection's bytes
// budget, a Metadata burst only up to requestsUnsizedMax before its first
// answer shows its size, and a connection holding nothing always gets one
// request through.
func TestAdmission(t *testing.T) {
	const budget = 64 << 10
	h := &Host{cfg: Config{ConnHeldBytes: budget}, messageBytesMax: 1 << 20}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newConn(h, 1, a)
	held := func() int { return c.reserved + c.unwritten }
	frame := func(req kmsg.Request) []byte { return wire.AppendRequest(nil, 1, nil, req)[4:] }
	meta := frame(&kmsg.MetadataRequest{Version: 12})

	r := h.reserveFor(meta)
	if !r.unsized {
		t.Fatal("a Metadata request counts as sized before any Metadata answer was seen")
	}
	for i := range requestsUnsizedMax {
		if !c.mayAdmit(r) {
			t.Fatalf("unsized request %d refused", i)
		}
		c.admit(r)
	}
	if c.mayAdmit(r) {
		t.Fatalf("admitted a %dth Metadata request before any answer showed its size", requestsUnsizedMax+1)
	}
	// The first answer is large: it is remembered, and what it holds
	// counts until written.
	answer := node.Response{Conn: 1, Data: make([]byte, 100<<10), Answers: 1}
	c.enqueue(answer)
	r = h.reserveFor(meta)
	if r.unsized || r.bytes < len(answer.Data) {
		t.Fatalf("after a %d-byte answer a Metadata request reserves %d bytes (unsized %v)", len(answer.Data), r.bytes, r.unsized)
	}
	if c.mayAdmit(r) {
		t.Fatalf("admitted with %d bytes held against a budget of %d", held(), budget)
	}
	c.written([]node.Response{answer})
	if c.mayAdmit(r) {
		t.Fatalf("admitted a %d-byte reservation with %d requests unanswered and a budget of %d", r.bytes, c.requests, budget)
	}
	for range requestsUnsizedMax - 1 {
		small := node.Response{Conn: 1, Data: make([]byte, 100), Answers: 1}
		c.enqueue(small)
		c.written([]node.Response{small})
	}
	if c.requests != 0 || held() != 0 {
		t.Fatalf("%d requests and %d bytes held after every answer was written", c.requests, held())
	}
	if !c.mayAdmit(r) {
		t.Fatal("a connection holding nothing refused a request")
	}

	// A Fetch reserves its MaxBytes: with a budget below it, one at a time.
	f := h.reserveFor(frame(&kmsg.FetchRequest{Version: 12, MaxBytes: 8 << 20}))
	if f.bytes < 8<<20 || f.unsized {
		t.Fatalf("a fetch of 8 MiB reserves %d bytes", f.bytes)
	}
	c.admit(f)
	if c.mayAdmit(f) {
		t.Fatal("a second 8 MiB fetch admitted against a 64 KiB budget")
	}
	// acks=0 produces count as requests: the in-flight bound holds for them.
	h2 := &Host{cfg: Config{ConnHeldBytes: connHeldBytesDefault}, messageBytesMax: 1 << 20}
	c2 := newConn(h2, 2, b)
	p := h2.reserveFor(frame(&kmsg.ProduceRequest{Version: 9, Acks: 0}))
	for i := range requestsInFlightMax {
		if !c2.mayAdmit(p) {
			t.Fatalf("acks=0 produce %d refused", i)
		}
		c2.admit(p)
	}
	if c2.mayAdmit(p) {
		t.Fatalf("admitted a %dth acks=0 produce", requestsInFlightMax+1)
	}
	c2.enqueue(node.Response{Conn: 2, Answers: 1}) // an acks=0 done: no bytes
	if c2.written([]node.Response{{Conn: 2, Answers: 1}}); !c2.mayAdmit(p) {
		t.Fatal("a handled acks=0 produce did not free its place")
	}
}
