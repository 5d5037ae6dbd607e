package host

// The peer transport: raft messages (and forwarded metadata proposals)
// between the nodes of a cluster, over TCP.
//
// One connection per pair of nodes: the node with the lower id dials, the
// other accepts, and both send over it. A connection opens with a hello
// naming both ends, so a misdirected dial is refused. Messages travel in
// length-prefixed frames tagged with their raft group:
//
//	frame := length u32 (of what follows) | kind u8 | group uvarint | payload
//	kind 1: payload is a marshalled raftpb.Message
//	kind 2: payload is a forwarded metadata proposal (node.PeerMessage.Forward)
//	kind 3: as kind 1, a heartbeat asking the follower to quiesce (PeerMessage.Quiesce)
//	kind 4: the node-level liveness heartbeat (group 0): from uvarint | incarnation uvarint
//
// Each peer has a bounded send queue drained by one writer goroutine that
// batches whatever is queued into one write. When the queue is full, or there
// is no connection, messages are dropped and raft is told the peer is
// unreachable: raft retries on its own (heartbeats, probes, elections), so a
// dropped message costs time, never safety. The dialling side reconnects with
// backoff.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ketch-dev/ketch/node"
)

const (
	peerMagic         = "KTCHRAFT"
	peerVersion       = 1
	peerFrameBytesMax = 64 << 20 // a raft message is at most ~1 MiB (MaxSizePerMsg); snapshots are small
	// peerQueueMax is the messages queued per peer before dropping. Far
	// above what one tick sends when thousands of partition groups are
	// awake at once (just created, or woken by a failure: a heartbeat per
	// group, and a forwarded leadership report each): dropping those
	// would drop the metadata group's messages with them. The bytes bound
	// below is what bounds memory.
	peerQueueMax = 1 << 16
	// peerQueueBytesMax bounds the bytes queued per peer as well: 4,096
	// appends of raft's 1 MiB would otherwise be 4 GiB held for one slow
	// or dead peer.
	peerQueueBytesMax  = 64 << 20
	peerBatchBytesMax  = 4 << 20 // bytes gathered into one write
	peerDialTimeout    = 2 * time.Second
	peerBackoffMin     = 50 * time.Millisecond
	peerBackoffMax     = 2 * time.Second
	peerHelloTimeout   = 5 * time.Second
	peerKindRaft       = 1
	peerKindForward    = 2
	peerKindQuiesce    = 3
	peerKindAlive      = 4
	peerReadBufferSize = 256 << 10
	// peerDeliverMax bounds the messages one delivery (one input of the
	// host's loop) carries, so the loop's bound on inputs per Process
	// still bounds what one Process takes in.
	peerDeliverMax = 256
)

// Transport carries node.PeerMessages between the nodes of a cluster.
type Transport struct {
	self    uint64
	log     *slog.Logger
	deliver func([]node.PeerMessage) // called from reader goroutines, in arrival order
	unreach func(peer uint64)        // called from any goroutine
	ln      net.Listener
	peers   map[uint64]*peerLink

	quit chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

type peerLink struct {
	t    *Transport
	id   uint64
	addr string // where to dial (only used when self < id)
	out  chan []byte
	// queued is the bytes of the frames in out (Send adds, the writer
	// takes away), bounded by peerQueueBytesMax.
	queued atomic.Int64

	mu     sync.Mutex
	conn   net.Conn // the current connection, nil when there is none
	gen    uint64   // bumped with each new connection
	closed bool     // the transport is closing: attach nothing more
}

// NewTransport listens on listen for peers and starts one writer per peer.
// peers maps every other node's id to the address this node dials. deliver
// gets every message received; unreachable is told when messages to a peer
// were dropped. Both are called from the transport's goroutines and must not
// block for ever (Close waits for those goroutines): the host's versions give
// up when the host stops.
func NewTransport(self uint64, listen string, peers map[uint64]string, log *slog.Logger,
	deliver func([]node.PeerMessage), unreachable func(uint64)) (*Transport, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("peer listener: %w", err)
	}
	t := &Transport{self: self, log: log, deliver: deliver, unreach: unreachable, ln: ln,
		peers: map[uint64]*peerLink{}, quit: make(chan struct{})}
	for id, addr := range peers {
		if id == self {
			continue
		}
		t.peers[id] = &peerLink{t: t, id: id, addr: addr, out: make(chan []byte, peerQueueMax)}
	}
	ids := make([]uint64, 0, len(t.peers))
	for id := range t.peers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		p := t.peers[id]
		t.wg.Add(1)
		go p.writer()
		if self < id {
			t.wg.Add(1)
			go p.dialer()
		}
	}
	t.wg.Add(1)
	go t.accept()
	return t, nil
}

// Addr is the bound peer address.
func (t *Transport) Addr() string { return t.ln.Addr().String() }

// Close stops everything and waits for the goroutines.
func (t *Transport) Close() {
	t.once.Do(func() {
		close(t.quit)
		t.ln.Close()
		for _, p := range t.peers {
			p.mu.Lock()
			p.closed = true
			if p.conn != nil {
				p.conn.Close()
			}
			p.mu.Unlock()
		}
	})
	t.wg.Wait()
}

// Send queues messages for their peers. It never blocks: a full queue drops
// the message and reports the peer unreachable. Messages are encoded here,
// on the caller's goroutine, so nothing the node owns is read concurrently.
func (t *Transport) Send(msgs []node.PeerMessage) {
	var dropped map[uint64]bool
	for _, m := range msgs {
		p := t.peers[m.To]
		if p == nil {
			continue
		}
		frame, err := encodePeerFrame(m)
		if err != nil {
			t.log.Error("peer: cannot encode a message", "to", m.To, "err", err)
			continue
		}
		full := p.queued.Add(int64(len(frame))) > peerQueueBytesMax
		if !full {
			select {
			case p.out <- frame:
			default:
				full = true
			}
		}
		if full {
			p.queued.Add(-int64(len(frame)))
			if dropped == nil {
				dropped = map[uint64]bool{}
			}
			dropped[m.To] = true
		}
	}
	for id := range dropped {
		t.unreach(id)
	}
}

func encodePeerFrame(m node.PeerMessage) ([]byte, error) {
	var kind byte
	var payload []byte // all but a raft message, which is marshalled in place
	size := 0
	switch {
	case m.Alive != nil:
		kind = peerKindAlive
		payload = binary.AppendUvarint(nil, m.Alive.From)
		payload = binary.AppendUvarint(payload, m.Alive.Incarnation)
		size = len(payload)
	case m.Msg != nil:
		kind, size = peerKindRaft, proto.Size(m.Msg)
		if m.Quiesce {
			kind = peerKindQuiesce
		}
	default:
		kind, payload = peerKindForward, m.Forward
		size = len(payload)
	}
	if 1+binary.MaxVarintLen64+size > peerFrameBytesMax {
		return nil, fmt.Errorf("message of %d bytes over the %d-byte frame limit", size, peerFrameBytesMax)
	}
	// One allocation and one copy of the entries: marshalled straight into
	// the frame (a MsgApp carries up to MaxSizePerMsg of them).
	frame := make([]byte, 4, 4+1+binary.MaxVarintLen64+size)
	frame = append(frame, kind)
	frame = binary.AppendUvarint(frame, m.Group)
	if m.Msg != nil {
		var err error
		if frame, err = (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(frame, m.Msg); err != nil {
			return nil, err
		}
	} else {
		frame = append(frame, payload...)
	}
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	return frame, nil
}

func decodePeerFrame(self uint64, b []byte) (node.PeerMessage, error) {
	if len(b) < 2 {
		return node.PeerMessage{}, errors.New("short frame")
	}
	kind := b[0]
	group, n := binary.Uvarint(b[1:])
	if n <= 0 {
		return node.PeerMessage{}, errors.New("bad group")
	}
	payload := b[1+n:]
	switch kind {
	case peerKindRaft, peerKindQuiesce:
		var msg raftpb.Message
		if err := proto.Unmarshal(payload, &msg); err != nil {
			return node.PeerMessage{}, fmt.Errorf("raft message: %w", err)
		}
		if msg.GetTo() != self {
			return node.PeerMessage{}, fmt.Errorf("raft message for node %d", msg.GetTo())
		}
		return node.PeerMessage{Group: group, Msg: &msg, To: self, Quiesce: kind == peerKindQuiesce}, nil
	case peerKindForward:
		return node.PeerMessage{Group: group, To: self, Forward: append([]byte(nil), payload...)}, nil
	case peerKindAlive:
		from, k := binary.Uvarint(payload)
		inc, j := binary.Uvarint(payload[max(k, 0):])
		if k <= 0 || j <= 0 {
			return node.PeerMessage{}, errors.New("bad liveness heartbeat")
		}
		return node.PeerMessage{To: self, Alive: &node.Alive{From: from, Incarnation: inc}}, nil
	}
	return node.PeerMessage{}, fmt.Errorf("unknown frame kind %d", kind)
}

// hello is the first thing on a connection: magic, version, from, to.
func writeHello(c net.Conn, from, to uint64) error {
	b := append([]byte(peerMagic), peerVersion)
	b = binary.BigEndian.AppendUint64(b, from)
	b = binary.BigEndian.AppendUint64(b, to)
	_, err := c.Write(b)
	return err
}

func readHello(r io.Reader) (from, to uint64, err error) {
	var b [len(peerMagic) + 1 + 16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, 0, err
	}
	if string(b[:len(peerMagic)]) != peerMagic || b[len(peerMagic)] != peerVersion {
		return 0, 0, errors.New("not a ketch peer (bad magic or version)")
	}
	rest := b[len(peerMagic)+1:]
	return binary.BigEndian.Uint64(rest), binary.BigEndian.Uint64(rest[8:]), nil
}

func (t *Transport) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.quit:
				return
			default:
			}
			t.log.Debug("peer accept", "err", err)
			select {
			case <-t.quit:
				return
			case <-time.After(acceptRetryInterval):
			}
			continue
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			c.SetReadDeadline(time.Now().Add(peerHelloTimeout))
			br := bufio.NewReaderSize(c, peerReadBufferSize)
			from, to, err := readHello(br)
			if err == nil && to != t.self {
				err = fmt.Errorf("hello for node %d, this is node %d", to, t.self)
			}
			p := t.peers[from]
			if err == nil && (p == nil || from > t.self) {
				err = fmt.Errorf("unexpected dial from node %d", from)
			}
			if err != nil {
				t.log.Warn("peer connection refused", "remote", c.RemoteAddr().String(), "err", err)
				c.Close()
				return
			}
			c.SetReadDeadline(time.Time{})
			gen := p.attach(c)
			t.log.Debug("peer connected", "peer", from)
			p.read(c, br, gen)
		}()
	}
}

// dialer keeps a connection to a higher-numbered peer open.
func (p *peerLink) dialer() {
	defer p.t.wg.Done()
	backoff := peerBackoffMin
	for {
		select {
		case <-p.t.quit:
			return
		default:
		}
		c, err := net.DialTimeout("tcp", p.addr, peerDialTimeout)
		if err == nil {
			if err = writeHello(c, p.t.self, p.id); err != nil {
				c.Close()
			}
		}
		if err != nil {
			p.t.log.Debug("peer dial", "peer", p.id, "addr", p.addr, "err", err)
			select {
			case <-p.t.quit:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, peerBackoffMax)
			continue
		}
		gen := p.attach(c)
		p.t.log.Debug("peer connected", "peer", p.id)
		since := time.Now()
		p.read(c, bufio.NewReaderSize(c, peerReadBufferSize), gen) // returns when the connection breaks
		// A connection that breaks at once (a proxy or balancer in front of a
		// dead peer accepts, then closes) must not make the dialer spin: back
		// off as for a failed dial unless the connection lived a while.
		if time.Since(since) > peerBackoffMax {
			backoff = peerBackoffMin
			continue
		}
		select {
		case <-p.t.quit:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, peerBackoffMax)
	}
}

// attach makes c the peer's connection, closing any older one. After Close
// it closes c instead (a dial or accept that raced with Close).
func (p *peerLink) attach(c net.Conn) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return 0
	}
	if p.conn != nil {
		p.conn.Close()
	}
	p.conn = c
	p.gen++
	return p.gen
}

func (p *peerLink) detach(gen uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen == gen && p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

func (p *peerLink) current() (net.Conn, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn, p.gen
}

// read delivers the connection's frames until it breaks: every frame
// already buffered goes in one delivery (one input of the host's loop, not
// one per message), up to peerDeliverMax messages. The frame buffer is
// reused: decodePeerFrame copies what it keeps.
func (p *peerLink) read(c net.Conn, br *bufio.Reader, gen uint64) {
	if gen == 0 {
		return // attached after Close
	}
	defer p.detach(gen)
	var hdr [4]byte
	var buf []byte
	var batch []node.PeerMessage
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			p.t.log.Debug("peer connection closed", "peer", p.id, "err", err)
			return
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size == 0 || size > peerFrameBytesMax {
			p.t.log.Warn("peer sent a bad frame size; closing", "peer", p.id, "bytes", size)
			return
		}
		if int(size) > cap(buf) {
			buf = make([]byte, size)
		}
		if _, err := io.ReadFull(br, buf[:size]); err != nil {
			p.t.log.Debug("peer connection closed mid-frame", "peer", p.id, "err", err)
			return
		}
		m, err := decodePeerFrame(p.t.self, buf[:size])
		if cap(buf) > peerReadBufferSize {
			buf = nil // a one-off large frame is not kept
		}
		if err != nil {
			p.t.log.Warn("peer sent a bad frame; closing", "peer", p.id, "err", err)
			return
		}
		if m.Msg != nil && m.Msg.GetFrom() != p.id || m.Alive != nil && m.Alive.From != p.id {
			p.t.log.Warn("peer sent a message from another node; closing", "peer", p.id)
			return
		}
		batch = append(batch, m)
		if len(batch) < peerDeliverMax && framed(br) {
			continue // the next frame is here already: deliver them together
		}
		p.t.deliver(batch)
		batch = nil // the loop owns it now
	}
}

// framed says whether br holds a whole next frame, so reading it cannot
// block.
func framed(br *bufio.Reader) bool {
	if br.Buffered() < 4 {
		return false
	}
	hdr, _ := br.Peek(4)
	return br.Buffered()-4 >= int(binary.BigEndian.Uint32(hdr))
}

// writer sends queued frames over the current connection, batching what is
// queued into one write; with no connection they are dropped (and raft told).
func (p *peerLink) writer() {
	defer p.t.wg.Done()
	var batch []byte
	for {
		var first []byte
		select {
		case <-p.t.quit:
			return
		case first = <-p.out:
		}
		p.queued.Add(-int64(len(first)))
		batch = append(batch[:0], first...)
	gather:
		for len(batch) < peerBatchBytesMax {
			select {
			case f := <-p.out:
				p.queued.Add(-int64(len(f)))
				batch = append(batch, f...)
			default:
				break gather
			}
		}
		c, gen := p.current()
		if c == nil {
			p.t.unreach(p.id)
			continue
		}
		c.SetWriteDeadline(time.Now().Add(peerDialTimeout))
		if _, err := c.Write(batch); err != nil {
			p.t.log.Debug("peer write failed", "peer", p.id, "err", err)
			p.detach(gen)
			p.t.unreach(p.id)
		}
		if cap(batch) > 2*peerBatchBytesMax {
			batch = nil
		}
	}
}
