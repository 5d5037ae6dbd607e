package wire

import (
	"encoding/binary"
	"errors"
)

// FrameBytesMaxDefault is Kafka's socket.request.max.bytes default: the
// largest request a broker accepts before closing the connection.
const FrameBytesMaxDefault = 100 << 20

// frameBufKeepBytes is how much buffer capacity an idle reader may keep. A
// connection that once sent a 100 MiB frame should not pin 100 MiB forever.
const frameBufKeepBytes = 1 << 20

var (
	// ErrFrameTooLarge means a frame declared more bytes than the reader's
	// limit; the connection must be closed.
	ErrFrameTooLarge = errors.New("wire: frame larger than limit")
	// ErrBadFrameSize means a frame declared a negative size; the connection
	// must be closed.
	ErrBadFrameSize = errors.New("wire: negative frame size")
)

// FrameReader accumulates the bytes of one connection's stream and yields
// whole frames (Kafka's 4-byte big-endian size prefix, then that many bytes).
// It is not safe for concurrent use; each connection owns one.
type FrameReader struct {
	frameBytesMax int
	buf           []byte
	start         int // first unconsumed byte of buf
	err           error
}

// NewFrameReader returns a reader that rejects frames larger than
// frameBytesMax bytes (the size prefix excluded). A non-positive limit means
// FrameBytesMaxDefault.
func NewFrameReader(frameBytesMax int) *FrameReader {
	if frameBytesMax <= 0 {
		frameBytesMax = FrameBytesMaxDefault
	}
	return &FrameReader{frameBytesMax: frameBytesMax}
}

// Feed copies p into the reader. After an error the bytes are dropped: the
// connection is going away and buffering for it would only waste memory.
func (r *FrameReader) Feed(p []byte) {
	if r.err != nil || len(p) == 0 {
		return
	}
	r.compact()
	r.buf = append(r.buf, p...)
}

// Next returns the next whole frame's payload (without the size prefix). The
// slice aliases the reader's buffer and is valid until the next Feed or Next
// call. ok is false when more bytes are needed. A non-nil error is sticky:
// the stream cannot be resynchronised, so the connection must be closed.
//
// Memory grows only as bytes are fed; the declared size is checked against
// the limit but never pre-allocated, so a peer cannot make us allocate by
// lying about a size.
func (r *FrameReader) Next() (frame []byte, ok bool, err error) {
	if r.err != nil {
		return nil, false, r.err
	}
	if r.start == len(r.buf) {
		r.compact() // cheap: nothing to move, and big buffers get released
	}
	avail := r.buf[r.start:]
	if len(avail) < 4 {
		return nil, false, nil
	}
	size := int32(binary.BigEndian.Uint32(avail))
	switch {
	case size < 0:
		r.fail(ErrBadFrameSize)
		return nil, false, r.err
	case int64(size) > int64(r.frameBytesMax):
		r.fail(ErrFrameTooLarge)
		return nil, false, r.err
	}
	n := int(size)
	if len(avail)-4 < n {
		return nil, false, nil
	}
	r.start += 4 + n
	return avail[4 : 4+n : 4+n], true, nil
}

// Buffered returns how many fed bytes have not yet been returned in a frame.
// Hosts use it for backpressure (stop reading the socket above some bound).
func (r *FrameReader) Buffered() int {
	return len(r.buf) - r.start
}

func (r *FrameReader) fail(err error) {
	r.err = err
	r.buf = nil
	r.start = 0
}

// compact drops consumed bytes. It runs only at the start of Feed/Next, which
// is what makes a returned frame valid until the following call. Next only
// compacts an empty buffer so that draining many small frames from one Feed
// stays linear instead of moving the tail after every frame.
func (r *FrameReader) compact() {
	if r.start == 0 {
		return
	}
	rest := len(r.buf) - r.start
	if rest == 0 && cap(r.buf) > frameBufKeepBytes {
		r.buf = nil
		r.start = 0
		return
	}
	copy(r.buf, r.buf[r.start:])
	r.buf = r.buf[:rest]
	r.start = 0
}
