package host

import (
	"errors"
	"io"
	"net"
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
	reserves  []int           // per unanswered request, oldest first: its reservation
	reserved  int             // sum of reserves
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

// admit waits until the connection may take one more request reserving res
// bytes, and counts it; false if the connection is shutting down.
func (c *conn) admit(res int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.closed && c.requests > 0 &&
		(c.requests >= requestsInFlightMax || c.reserved+c.unwritten+res > c.h.cfg.ConnHeldBytes) {
		c.cond.Wait()
	}
	if c.closed {
		return false
	}
	c.requests++
	c.reserves = append(c.reserves, res)
	c.reserved += res
	return true
}

// enqueue is called by the loop; it must not block. The answers' real size
// replaces the reservations of the requests they answer.
func (c *conn) enqueue(r node.Response) {
	c.mu.Lock()
	for range r.Answers {
		if len(c.reserves) == 0 {
			break // more answers than requests would be a node bug
		}
		c.reserved -= c.reserves[0]
		c.reserves = c.reserves[1:]
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

func (c *conn) read() {
	defer c.h.wg.Done()
	defer func() {
		c.shutdown()
		c.h.send(input{kind: inClosed, c: c})
		c.h.forget(c)
	}()
	fr := wire.NewFrameReader(c.h.frameBytesMax)
	buf := make([]byte, readBufferBytes)
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			fr.Feed(buf[:n])
			for {
				f, ok, ferr := fr.Next()
				if ferr != nil {
					c.h.log.Debug("closing connection: bad frame", "conn", c.id, "err", ferr)
					return
				}
				if !ok {
					break
				}
				// The frame is only valid until the next Feed/Next, and the
				// node may keep it.
				frame := append([]byte(nil), f...)
				if !c.admit(answerReserve(frame, c.h.messageBytesMax)) {
					return
				}
				if !c.h.send(input{kind: inFrame, c: c, frame: frame}) {
					return
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.h.log.Debug("connection read failed", "conn", c.id, "err", err)
			} else {
				c.h.log.Debug("connection closed", "conn", c.id)
			}
			return
		}
	}
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
