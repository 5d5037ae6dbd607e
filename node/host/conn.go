package host

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"sync"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/wire"
)

// conn is one Kafka client connection: a reader goroutine that turns bytes
// into whole frames for the loop, and a writer goroutine that writes the
// node's responses in order. The loop never blocks on either: responses go
// into a queue that the admission rule below keeps short.
//
// Admission: the reader hands a frame to the loop only while the connection
// has fewer than requestsInFlightMax requests whose answers are not written,
// and the bytes it holds (each unanswered request's reservation, see
// answerReserve, plus answers not yet written) leave room for the new one
// within Config.ConnHeldBytes; a connection holding nothing always gets one
// request through. Otherwise the reader stops reading the socket until the
// writer catches up: a client that sends faster than it reads its answers is
// pushed back by TCP, as Kafka mutes a channel.
type conn struct {
	h  *Host
	id node.ConnID
	nc net.Conn

	mu        sync.Mutex
	cond      *sync.Cond      // signalled when requests or held bytes drop, and on shutdown
	closed    bool            // set by shutdown
	requests  int             // admitted, answer not yet written
	reserves  []reserve       // per unanswered request, oldest first
	reserved  int             // sum of their bytes
	unsized   int             // unanswered requests whose answer size is a guess
	unwritten int             // bytes of answers queued for the writer or being written
	queue     []node.Response // responses the writer has not taken yet
	wake      chan struct{}   // capacity 1: "queue is not empty"

	done     chan struct{} // closed by shutdown
	doneOnce sync.Once
}

func newConn(h *Host, id node.ConnID, nc net.Conn) *conn {
	c := &conn{
		h:    h,
		id:   id,
		nc:   nc,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// shutdown closes the socket, which ends both goroutines; safe to call from
// anywhere, any number of times.
func (c *conn) shutdown() {
	c.doneOnce.Do(func() {
		close(c.done)
		c.nc.Close()
		c.mu.Lock()
		c.closed = true
		c.cond.Broadcast()
		c.mu.Unlock()
	})
}

// reserve is what an unanswered request has set aside.
type reserve struct {
	bytes   int
	key     int16
	unsized bool
}

// admit waits until the connection may take one more request, and counts
// it; false if the connection is shutting down.
func (c *conn) admit(r reserve) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.closed && !c.mayAdmit(r) {
		c.cond.Wait()
	}
	if c.closed {
		return false
	}
	c.requests++
	c.reserves = append(c.reserves, r)
	c.reserved += r.bytes
	if r.unsized {
		c.unsized++
	}
	return true
}

// mayAdmit is the admission rule; c.mu is held.
func (c *conn) mayAdmit(r reserve) bool {
	if c.requests == 0 {
		return true // a connection holding nothing always gets one request through
	}
	return c.requests < requestsInFlightMax &&
		c.reserved+c.unwritten+r.bytes <= c.h.cfg.ConnHeldBytes &&
		(!r.unsized || c.unsized < requestsUnsizedMax)
}

// enqueue is called by the loop; it must not block. The answers' real size
// replaces the reservations of the requests they answer.
func (c *conn) enqueue(r node.Response) {
	c.mu.Lock()
	for i := range r.Answers {
		if len(c.reserves) == 0 {
			break // more answers than requests would be a node bug
		}
		res := c.reserves[0]
		c.reserves = c.reserves[1:]
		c.reserved -= res.bytes
		if res.unsized {
			c.unsized--
		}
		if i == 0 && r.Answers == 1 {
			c.h.noteAnswer(res.key, len(r.Data))
		}
	}
	if len(c.reserves) == 0 {
		c.reserves = nil // let the backing array go
	}
	c.unwritten += len(r.Data)
	c.queue = append(c.queue, r)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// written releases what a written batch of responses held.
func (c *conn) written(batch []node.Response) {
	c.mu.Lock()
	for _, r := range batch {
		c.unwritten -= len(r.Data)
		// One Response may answer several requests (node.Response.Answers);
		// releasing one per Response would leak requests until the
		// connection was down to one at a time.
		c.requests = max(c.requests-r.Answers, 0)
	}
	c.cond.Broadcast()
	c.mu.Unlock()
}

// reserveFor is what a request frame sets aside until answered: its own
// bytes, plus its answer's expected size. A Fetch says how much it may get
// (MaxBytes); for other requests the host remembers the largest answer of
// that API it has written (a Metadata answer grows with the cluster's
// partitions), and until an answer is seen the request counts as unsized, of
// which a connection may have only requestsUnsizedMax unanswered: a burst of
// pipelined Metadata requests cannot all be admitted before the first answer
// shows how big they are.
func (h *Host) reserveFor(frame []byte) reserve {
	r := reserve{bytes: answerReserve(frame, h.messageBytesMax), key: -1}
	if len(frame) < 2 {
		return r
	}
	r.key = int16(binary.BigEndian.Uint16(frame))
	if _, fetch := fetchMaxBytes(frame); fetch || r.key == produceKey {
		return r
	}
	r.unsized = true
	if r.key >= 0 && int(r.key) < len(h.answerBytes) {
		if seen := int(h.answerBytes[r.key].Load()); seen > 0 {
			r.bytes += seen
			r.unsized = false
		}
	}
	return r
}

// noteAnswer remembers the largest answer seen of an API.
func (h *Host) noteAnswer(key int16, size int) {
	if key < 0 || int(key) >= len(h.answerBytes) {
		return
	}
	a := &h.answerBytes[key]
	for {
		old := a.Load()
		if int64(size) <= old || a.CompareAndSwap(old, int64(size)) {
			return
		}
	}
}

func (c *conn) read() {
	defer c.h.wg.Done()
	defer func() {
		c.shutdown()
		c.h.send(input{kind: inClosed, c: c})
		c.h.forget(c)
	}()
	br := bufio.NewReaderSize(c.nc, readBufferBytes)
	for {
		frame, err := readFrame(br, c.h.frameBytesMax)
		if err != nil {
			switch {
			case errors.Is(err, wire.ErrBadFrameSize) || errors.Is(err, wire.ErrFrameTooLarge):
				c.h.log.Debug("closing connection: bad frame", "conn", c.id, "err", err)
			case !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed):
				c.h.log.Debug("connection read failed", "conn", c.id, "err", err)
			default:
				c.h.log.Debug("connection closed", "conn", c.id)
			}
			return
		}
		if !c.admit(c.h.reserveFor(frame)) {
			return
		}
		if !c.h.send(input{kind: inFrame, c: c, frame: frame}) {
			return
		}
	}
}

// readFrame reads one Kafka frame (a 4-byte big-endian size, then that
// many bytes) into a buffer of its own, which the node may keep. A large
// frame is read straight into it from the socket, not reassembled and
// copied again (a produce of a thousand partitions' batches is megabytes).
// The declared size is checked against frameBytesMax, but memory grows
// only as bytes arrive (at most twice what came), so a client cannot make
// the host allocate by lying about a size.
func readFrame(br *bufio.Reader, frameBytesMax int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(hdr[:]))
	switch {
	case size < 0:
		return nil, wire.ErrBadFrameSize
	case int64(size) > int64(frameBytesMax):
		return nil, wire.ErrFrameTooLarge
	}
	n := int(size)
	frame := make([]byte, 0, min(n, max(readBufferBytes, br.Buffered())))
	for len(frame) < n {
		if len(frame) == cap(frame) {
			frame = slices.Grow(frame, min(n, 2*cap(frame))-len(frame))
		}
		k, err := br.Read(frame[len(frame):min(n, cap(frame))])
		frame = frame[:len(frame)+k]
		if err != nil && len(frame) < n {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return frame, nil
}

func (c *conn) write() {
	defer c.h.wg.Done()
	var batch []node.Response
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		c.mu.Lock()
		batch, c.queue = c.queue, batch[:0]
		c.mu.Unlock()

		// One writev for everything queued; close after the first Close.
		bufs := make(net.Buffers, 0, len(batch))
		closeAfter := false
		for _, r := range batch {
			if len(r.Data) > 0 {
				bufs = append(bufs, r.Data)
			}
			if r.Close {
				closeAfter = true
				break
			}
		}
		if len(bufs) > 0 {
			if _, err := bufs.WriteTo(c.nc); err != nil {
				c.h.log.Debug("connection write failed", "conn", c.id, "err", err)
				c.shutdown()
				return
			}
		}
		if closeAfter {
			c.h.log.Debug("closing connection: asked by node", "conn", c.id)
			c.shutdown()
			return
		}
		c.written(batch)
		clear(batch)
	}
}
