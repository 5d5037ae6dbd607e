package host

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/ketch-dev/ketch/node"
)

func raftMsg(from, to uint64, typ raftpb.MessageType, data string) *raftpb.Message {
	return &raftpb.Message{From: &from, To: &to, Type: typ.Enum(), Entries: []*raftpb.Entry{{Data: []byte(data)}}}
}

func TestPeerFrameRoundTrip(t *testing.T) {
	in := node.PeerMessage{Group: 7, To: 2, Msg: raftMsg(1, 2, raftpb.MsgApp, "hello")}
	f, err := encodePeerFrame(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodePeerFrame(2, f[4:])
	if err != nil {
		t.Fatal(err)
	}
	if out.Group != 7 || string(out.Msg.GetEntries()[0].GetData()) != "hello" || out.Msg.GetFrom() != 1 {
		t.Fatalf("round trip: %+v", out)
	}
	fw := node.PeerMessage{Group: 0, To: 2, Forward: []byte("proposal")}
	f, _ = encodePeerFrame(fw)
	out, err = decodePeerFrame(2, f[4:])
	if err != nil || string(out.Forward) != "proposal" || out.Msg != nil {
		t.Fatalf("forward round trip: %+v %v", out, err)
	}
	for _, bad := range [][]byte{{}, {1}, {9, 0, 1}, {1, 0, 0xff, 0xff}} {
		if _, err := decodePeerFrame(2, bad); err == nil {
			t.Errorf("frame %x decoded", bad)
		}
	}
	// A raft message addressed to another node is refused.
	f, _ = encodePeerFrame(node.PeerMessage{Group: 1, To: 3, Msg: raftMsg(1, 3, raftpb.MsgApp, "x")})
	if _, err := decodePeerFrame(2, f[4:]); err == nil {
		t.Error("a message for node 3 was accepted by node 2")
	}
}

type testPeers struct {
	ts    map[uint64]*Transport
	got   chan node.PeerMessage
	unrch chan uint64
}

func startPeers(t *testing.T, ids ...uint64) *testPeers {
	t.Helper()
	tp := &testPeers{ts: map[uint64]*Transport{}, got: make(chan node.PeerMessage, 1024), unrch: make(chan uint64, 1024)}
	// Reserve addresses first: every transport must know them all.
	addrs := map[uint64]string{}
	for _, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[id] = ln.Addr().String()
		ln.Close()
	}
	log := slog.New(slog.DiscardHandler)
	for _, id := range ids {
		tr, err := NewTransport(id, addrs[id], addrs, log,
			func(ms []node.PeerMessage) {
				// Never block a reader: Close waits for the readers.
				for _, m := range ms {
					select {
					case tp.got <- m:
					default:
					}
				}
			},
			func(p uint64) {
				select {
				case tp.unrch <- p:
				default:
				}
			})
		if err != nil {
			t.Fatal(err)
		}
		tp.ts[id] = tr
		t.Cleanup(tr.Close)
	}
	return tp
}

// expect waits for a message with the given payload, resending msg until it
// arrives (the connection may still be coming up: raft resends too).
func (tp *testPeers) expect(t *testing.T, from uint64, msg node.PeerMessage, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	resend := time.NewTicker(20 * time.Millisecond)
	defer resend.Stop()
	tp.ts[from].Send([]node.PeerMessage{msg})
	for {
		select {
		case m := <-tp.got:
			if m.Msg != nil && string(m.Msg.GetEntries()[0].GetData()) == want || string(m.Forward) == want {
				return
			}
		case <-resend.C:
			tp.ts[from].Send([]node.PeerMessage{msg})
		case <-deadline:
			t.Fatalf("%q from node %d never arrived", want, from)
		}
	}
}

func TestTransportDeliversBothWays(t *testing.T) {
	tp := startPeers(t, 1, 2, 3)
	tp.expect(t, 1, node.PeerMessage{Group: 1, To: 2, Msg: raftMsg(1, 2, raftpb.MsgApp, "1->2")}, "1->2")
	tp.expect(t, 2, node.PeerMessage{Group: 1, To: 1, Msg: raftMsg(2, 1, raftpb.MsgAppResp, "2->1")}, "2->1")
	tp.expect(t, 3, node.PeerMessage{Group: 0, To: 1, Forward: []byte("3->1")}, "3->1")
	tp.expect(t, 2, node.PeerMessage{Group: 4, To: 3, Msg: raftMsg(2, 3, raftpb.MsgHeartbeat, "2->3")}, "2->3")
}

// A burst of frames arrives as deliveries of several messages each, read
// through one reused buffer: every message must keep its own bytes, in
// order, whatever the frames read after it (large ones among them).
func TestTransportBurstKeepsEveryMessage(t *testing.T) {
	tp := startPeers(t, 1, 2)
	tp.expect(t, 1, node.PeerMessage{Group: 1, To: 2, Msg: raftMsg(1, 2, raftpb.MsgApp, "up")}, "up")
	const burst = 600 // under tp.got's capacity
	var msgs []node.PeerMessage
	want := make([]string, burst)
	for i := range burst {
		want[i] = fmt.Sprintf("m%04d-", i) + strings.Repeat(string(rune('a'+i%26)), i%7*1000)
		if i%100 == 50 {
			want[i] += strings.Repeat("z", peerReadBufferSize) // past the reused buffer
		}
		if i%2 == 0 {
			msgs = append(msgs, node.PeerMessage{Group: uint64(i), To: 2, Msg: raftMsg(1, 2, raftpb.MsgApp, want[i])})
		} else {
			msgs = append(msgs, node.PeerMessage{Group: uint64(i), To: 2, Forward: []byte(want[i])})
		}
	}
	tp.ts[1].Send(msgs)
	deadline := time.After(10 * time.Second)
	var got []node.PeerMessage
	for len(got) < burst {
		select {
		case m := <-tp.got:
			got = append(got, m)
		case <-deadline:
			t.Fatalf("%d of %d messages arrived", len(got), burst)
		}
	}
	for i, m := range got {
		data := string(m.Forward)
		if m.Msg != nil {
			data = string(m.Msg.GetEntries()[0].GetData())
		}
		if m.Group != uint64(i) || data != want[i] {
			t.Fatalf("message %d: group %d, %.12q (%d bytes); want group %d, %.12q (%d bytes)", i, m.Group, data, len(data), i, want[i], len(want[i]))
		}
	}
}

func TestTransportReconnects(t *testing.T) {
	tp := startPeers(t, 1, 2)
	tp.expect(t, 1, node.PeerMessage{Group: 1, To: 2, Msg: raftMsg(1, 2, raftpb.MsgApp, "before")}, "before")
	// Break the connection under both ends: the dialler (node 1) redials.
	p := tp.ts[2].peers[1]
	c, gen := p.current()
	if c == nil {
		t.Fatal("no connection on node 2 after a delivery")
	}
	p.detach(gen)
	tp.expect(t, 2, node.PeerMessage{Group: 1, To: 1, Msg: raftMsg(2, 1, raftpb.MsgApp, "after")}, "after")
}

func TestTransportRefusesStrangers(t *testing.T) {
	tp := startPeers(t, 1, 2)
	c, err := net.Dial("tcp", tp.ts[2].Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Node 5 is not a peer: the hello is refused and the connection closed.
	if err := writeHello(c, 5, 2); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a stranger's connection stayed open and sent data")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a stranger's connection was not closed")
	}
}

func TestTransportDropsToUnreachablePeer(t *testing.T) {
	tp := startPeers(t, 1, 2)
	tp.ts[2].Close() // node 2 is gone: node 1 cannot connect
	msgs := make([]node.PeerMessage, peerQueueMax+10)
	for i := range msgs {
		msgs[i] = node.PeerMessage{Group: 1, To: 2, Msg: raftMsg(1, 2, raftpb.MsgApp, "x")}
	}
	tp.ts[1].Send(msgs)
	select {
	case p := <-tp.unrch:
		if p != 2 {
			t.Fatalf("unreachable %d, want 2", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a full queue to a dead peer was never reported unreachable")
	}
}

// TestTransportBoundsQueuedBytes: a peer whose writer does not drain holds
// at most peerQueueBytesMax of frames; past it messages are dropped and the
// peer reported unreachable, though far fewer than peerQueueMax are queued.
func TestTransportBoundsQueuedBytes(t *testing.T) {
	var unreach []uint64
	link := &peerLink{id: 2, out: make(chan []byte, peerQueueMax)}
	tr := &Transport{self: 1, log: slog.New(slog.DiscardHandler), peers: map[uint64]*peerLink{2: link},
		unreach: func(p uint64) { unreach = append(unreach, p) }}
	link.t = tr
	big := strings.Repeat("x", 1<<20)
	msgs := make([]node.PeerMessage, 100) // 100 MiB of appends, no writer draining
	for i := range msgs {
		msgs[i] = node.PeerMessage{Group: 1, To: 2, Msg: raftMsg(1, 2, raftpb.MsgApp, big)}
	}
	tr.Send(msgs)
	if q := link.queued.Load(); q > peerQueueBytesMax {
		t.Fatalf("%d bytes queued for one peer, bound %d", q, peerQueueBytesMax)
	}
	if n := len(link.out); n == 0 || n >= len(msgs) {
		t.Fatalf("%d of %d frames queued: want the bytes bound to stop it between", n, len(msgs))
	}
	if len(unreach) != 1 || unreach[0] != 2 {
		t.Fatalf("unreachable reports %v, want [2]", unreach)
	}
}

// Peer deliveries of many messages each keep the loop's queue to
// inputsQueuedMax messages: a reader waits for room (and gives up when the
// host stops), though the channel has room for thousands of deliveries.
func TestPeerDeliveriesBoundedByMessages(t *testing.T) {
	h := &Host{inputs: make(chan input, inputsQueuedMax), quit: make(chan struct{})}
	h.peerCond = sync.NewCond(&h.peerMu)
	batch := make([]node.PeerMessage, peerDeliverMax)
	full := inputsQueuedMax / peerDeliverMax
	for range full {
		h.deliverPeer(batch)
	}
	done := make(chan struct{})
	go func() {
		h.deliverPeer(batch) // no room: waits
		close(done)
	}()
	waitForWaiter(t, h)
	if got := len(h.inputs); got != full {
		t.Fatalf("%d deliveries queued, want %d", got, full)
	}
	in := <-h.inputs // the loop takes one delivery: room for the waiting one
	h.peerTaken(len(in.msgs))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a reader waiting for room was not let in when the loop took a delivery")
	}
	if got := len(h.inputs); got != full {
		t.Fatalf("%d deliveries queued, want %d", got, full)
	}
	// Full again: a waiting reader leaves when the host stops, delivering nothing.
	done = make(chan struct{})
	go func() {
		h.deliverPeer(batch)
		close(done)
	}()
	waitForWaiter(t, h)
	close(h.quit)
	h.wakePeerWaiters()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a reader waiting for room did not see the host stop")
	}
	if got := len(h.inputs); got != full {
		t.Fatalf("%d deliveries queued after the stop, want %d: a waiting reader got in past the bound", got, full)
	}
}

// waitForWaiter waits until a reader waits for room in h's queue.
func waitForWaiter(t *testing.T, h *Host) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.peerMu.Lock()
		w := h.peerWaits
		h.peerMu.Unlock()
		if w == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no reader waits for room, though the queue holds inputsQueuedMax messages")
		}
		runtime.Gosched()
	}
}
