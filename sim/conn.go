package sim

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/wire"
)

// encBufKeepBytes bounds the request scratch buffer the world keeps: a rare
// large request does not stay in memory.
const encBufKeepBytes = 1 << 20

// simConn is one client connection: two ordered byte streams carried by the
// simulated network through the real wire code on both ends.
type simConn struct {
	id          node.ConnID
	cl          *client
	sn          *simNode
	incarnation int
	open        bool
	toNode      int64 // last scheduled delivery each way: streams stay in order
	toClient    int64
	fr          *wire.FrameReader
	inflight    []*call
	corr        int32
	// The connection's one timeout event (armTimeouts): due at timerAt,
	// if timerSet; an event of an older timerGen does nothing.
	timerSet bool
	timerAt  int64
	timerGen int
	// blackholed: a ClientCut caught the connection; nothing it carries
	// arrives any more, either way (a whole stream is dropped, never part of
	// one, so framing stays intact).
	blackholed bool
	// unhandled lists, in order, the topic each request sent and not yet
	// handled by the node names (nil for none): the world must know when no
	// request naming a deleted topic can still reach a node (topics.go).
	unhandled []*topicState
}

// call is one request waiting for its answer.
type call struct {
	req    kmsg.Request
	corr   int32
	onResp func(kmsg.Response)
	onFail func()
	// answering is the topic whose unanswered count the call holds until
	// it is answered or fails (nil: none).
	answering *topicState
	done      bool
	// deadline is when the call times out, closing the connection (0:
	// never).
	deadline int64
}

// settle releases the topic count the call held, as its answer or failure
// is about to run.
func (cl *call) settle() {
	if cl.answering != nil {
		cl.answering.unanswered--
		cl.answering = nil
	}
}

// dial opens a connection to a node, or returns nil if it is down.
func (w *World) dial(cl *client, id uint64) *simConn {
	sn := w.node(id)
	if !sn.up {
		return nil
	}
	w.nextConn++
	c := &simConn{id: w.nextConn, cl: cl, sn: sn, incarnation: sn.incarnation, open: true,
		fr: wire.NewFrameReader(wire.FrameBytesMaxDefault), blackholed: sn.clientCut}
	sn.conns[c.id] = c
	sn.frames[c.id] = wire.NewFrameReader(wire.FrameBytesMaxDefault)
	return c
}

// send writes a request on the connection. Exactly one of onResp and onFail
// runs later: the answer, or a timeout / cut connection (after which the
// outcome is unknown).
func (w *World) send(c *simConn, req kmsg.Request, timeout int64, onResp func(kmsg.Response), onFail func()) {
	w.sendFor(c, nil, req, timeout, onResp, onFail)
}

// sendFor is send for a request naming topic ts (nil: none).
func (w *World) sendFor(c *simConn, ts *topicState, req kmsg.Request, timeout int64, onResp func(kmsg.Response), onFail func()) {
	if ts != nil {
		ts.unhandled++
	}
	c.unhandled = append(c.unhandled, ts)
	c.corr++
	acks0 := false
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		acks0 = true
	}
	if ts != nil && !acks0 {
		// Counted until answered or failed: an acknowledgement can come
		// after the node handled the request, and the admin's whole read
		// before a delete must come after every acknowledgement.
		ts.unanswered++
	}
	cl := &call{req: req, corr: c.corr, onResp: onResp, onFail: onFail}
	if ts != nil && !acks0 {
		cl.answering = ts
	}
	if !acks0 {
		c.inflight = append(c.inflight, cl)
	}
	// Encoded into the world's scratch buffer, then copied once at its
	// size: growing each request from nothing costs an allocation and a
	// copy per doubling.
	w.encBuf = wire.AppendRequest(w.encBuf[:0], c.corr, nil, req)
	data := append(make([]byte, 0, len(w.encBuf)), w.encBuf...)
	if cap(w.encBuf) > encBufKeepBytes {
		w.encBuf = nil
	}
	// Split the bytes so frames cross delivery boundaries, as TCP does.
	var chunks [2][]byte
	n := 1
	if len(data) > 8 && w.net.chance(0.3) {
		cut := int(w.net.between(1, int64(len(data)-1)))
		chunks[0], chunks[1], n = data[:cut], data[cut:], 2
	} else {
		chunks[0] = data
	}
	for _, ch := range chunks[:n] {
		t := max(c.toNode, w.now+w.latency())
		c.toNode = t
		w.at(t, "to-node(conn,node,bytes)", int64(c.id), int64(c.sn.id), int64(len(ch)), func() { w.toNode(c, ch) })
	}
	if timeout > 0 && !acks0 {
		cl.deadline = w.now + timeout
		if !c.timerSet || cl.deadline < c.timerAt {
			w.armTimeouts(c, cl.deadline)
		}
	}
}

// armTimeouts schedules the connection's one timeout event at t, replacing
// the one scheduled (a client's calls time out one by one, but one event per
// connection at the earliest deadline does the work of one per request:
// answers mostly come first).
func (w *World) armTimeouts(c *simConn, t int64) {
	c.timerGen++
	gen := c.timerGen
	c.timerSet, c.timerAt = true, t
	w.at(t, "request-timeout(conn)", int64(c.id), 0, 0, func() {
		if gen != c.timerGen {
			return // superseded by an earlier deadline
		}
		c.timerSet = false
		if !c.open {
			return
		}
		// The calls waiting are not done (an answer or a failure takes
		// them off); the first one due closes the connection.
		next := int64(0)
		for _, cl := range c.inflight {
			if cl.done || cl.deadline == 0 {
				continue
			}
			if cl.deadline <= w.now {
				w.record(fmt.Sprintf("c%d request corr %d timed out: closing conn%d", c.cl.id, cl.corr, c.id))
				w.stat("client.request-timeouts", 1)
				w.cutConn(c)
				return
			}
			if next == 0 || cl.deadline < next {
				next = cl.deadline
			}
		}
		if next > 0 {
			w.armTimeouts(c, next)
		}
	})
}

func (w *World) toNode(c *simConn, data []byte) {
	if !c.open || c.blackholed {
		return
	}
	sn := c.sn
	if !sn.up || sn.incarnation != c.incarnation {
		w.cutConn(c)
		return
	}
	if sn.paused {
		sn.input(func() { w.feedNode(c, data) })
		return
	}
	// As input does, with a closure that stays on the stack.
	withNode(sn, func() { w.feedNode(c, data) })
	if sn.takeDownIfPanicked() {
		return
	}
	sn.schedule()
}

// feedNode hands the node the request frames the bytes complete.
func (w *World) feedNode(c *simConn, data []byte) {
	sn := c.sn
	if !c.open {
		return
	}
	fr := sn.frames[c.id]
	if frame, ok := wholeFrame(fr, data); ok {
		// The common case: the bytes are one whole frame and nothing is
		// buffered. They are the node's to keep (nobody else holds them),
		// as the copy below would be.
		c.handled()
		sn.n.HandleFrame(c.id, frame)
		return
	}
	fr.Feed(data)
	for {
		frame, ok, err := fr.Next()
		if err != nil {
			w.violate("n%d conn%d: the client's own stream is bad: %v", sn.id, c.id, err)
			w.cutConn(c)
			return
		}
		if !ok {
			return
		}
		c.handled()
		sn.n.HandleFrame(c.id, append([]byte(nil), frame...))
	}
}

// toClient carries a node's answer bytes back to the client.
func (w *World) toClient(c *simConn, data []byte, closeAfter bool, delay int64) {
	t := max(c.toClient, w.now+delay+w.latency())
	c.toClient = t
	w.at(t, "to-client(conn,client,bytes)", int64(c.id), int64(c.cl.id), int64(len(data)), func() {
		if !c.open || c.blackholed {
			return
		}
		// One whole frame with nothing buffered (the common case) is
		// parsed where it lies, without a copy into the reader.
		single, one := wholeFrame(c.fr, data)
		if !one {
			c.fr.Feed(data)
		}
		for {
			var frame []byte
			var ok bool
			var err error
			if one {
				frame, ok, one = single, true, false
			} else {
				frame, ok, err = c.fr.Next()
			}
			if err != nil || !ok {
				if err != nil {
					w.violate("c%d conn%d: bad response stream: %v", c.cl.id, c.id, err)
					w.cutConn(c)
				}
				break
			}
			if len(c.inflight) == 0 {
				w.violate("c%d conn%d: an answer nobody asked for", c.cl.id, c.id)
				w.cutConn(c)
				return
			}
			cl := c.inflight[0]
			c.inflight = c.inflight[1:]
			corr, resp, err := wire.ParseResponse(frame, cl.req)
			if err != nil || corr != cl.corr {
				w.violate("c%d conn%d: bad answer to %s (corr %d, want %d): %v", c.cl.id, c.id, kmsg.NameForKey(cl.req.Key()), corr, cl.corr, err)
				w.cutConn(c)
				return
			}
			cl.done = true
			cl.settle()
			cl.onResp(resp)
		}
		if closeAfter {
			w.cutConn(c)
		}
	})
}

// wholeFrame returns the payload of data when data is exactly one whole
// frame within fr's limit and fr holds nothing buffered: then reading it
// through fr would only copy it. Anything else (a partial frame, several,
// an oversized or negative size) goes through fr, which judges it.
func wholeFrame(fr *wire.FrameReader, data []byte) ([]byte, bool) {
	if fr.Buffered() != 0 || len(data) < 4 {
		return nil, false
	}
	size := int64(int32(binary.BigEndian.Uint32(data)))
	if size < 0 || size > wire.FrameBytesMaxDefault || size != int64(len(data)-4) {
		return nil, false
	}
	return data[4:len(data):len(data)], true
}

// cutConn closes a connection on both ends; calls still waiting fail.
func (w *World) cutConn(c *simConn) {
	if !c.open {
		return
	}
	c.open = false
	w.record(fmt.Sprintf("conn%d c%d-n%d closed", c.id, c.cl.id, c.sn.id))
	sn := c.sn
	if sn.up && sn.incarnation == c.incarnation {
		delete(sn.conns, c.id)
		delete(sn.frames, c.id)
		withNode(sn, func() { sn.n.CloseConn(c.id) })
	}
	if c.cl.conns[c.sn.id] == c {
		delete(c.cl.conns, c.sn.id)
	}
	for len(c.unhandled) > 0 {
		c.handled() // dropped with the connection: no node will handle them
	}
	pending := c.inflight
	c.inflight = nil
	for _, cl := range pending {
		if !cl.done {
			cl.done = true
			cl.settle()
			cl.onFail()
		}
	}
}

// handled retires the oldest request not yet handled by the node.
func (c *simConn) handled() {
	if len(c.unhandled) == 0 {
		return
	}
	if ts := c.unhandled[0]; ts != nil {
		ts.unhandled--
	}
	c.unhandled[0] = nil
	c.unhandled = c.unhandled[1:]
}
