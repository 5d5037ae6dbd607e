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
// into a queue that the in-flight bound keeps short.
type conn struct {
	h  *Host
	id node.ConnID
	nc net.Conn

	// slots holds one token per request that will be answered and is not
	// answered yet: the reader puts, the writer takes after writing.
	slots chan struct{}

	mu    sync.Mutex
	queue []node.Response // responses the writer has not taken yet
	wake  chan struct{}   // capacity 1: "queue is not empty"

	done     chan struct{} // closed by shutdown
	doneOnce sync.Once
}

func newConn(h *Host, id node.ConnID, nc net.Conn) *conn {
	return &conn{
		h:     h,
		id:    id,
		nc:    nc,
		slots: make(chan struct{}, requestsInFlightMax),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

// shutdown closes the socket, which ends both goroutines; safe to call from
// anywhere, any number of times.
func (c *conn) shutdown() {
	c.doneOnce.Do(func() {
		close(c.done)
		c.nc.Close()
	})
}

// enqueue is called by the loop; it must not block.
func (c *conn) enqueue(r node.Response) {
	c.mu.Lock()
	c.queue = append(c.queue, r)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
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
				if expectsResponse(frame) {
					select {
					case c.slots <- struct{}{}:
					case <-c.done:
						return
					}
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
		// One Response may answer several requests (node.Response.Answers);
		// releasing one slot per Response would leak slots until the
		// in-flight bound let one request through at a time.
		for _, r := range batch {
			for range r.Answers {
				select {
				case <-c.slots:
				default:
					// More answers than counted requests would be a node
					// bug; never block on it.
				}
			}
		}
		clear(batch)
	}
}
