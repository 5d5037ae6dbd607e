package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func framed(payloads ...[]byte) []byte {
	var out []byte
	for _, p := range payloads {
		out = binary.BigEndian.AppendUint32(out, uint32(len(p)))
		out = append(out, p...)
	}
	return out
}

// drain feeds stream in chunks of chunk bytes and collects every frame.
func drain(t *testing.T, r *FrameReader, stream []byte, chunk int) ([][]byte, error) {
	t.Helper()
	var got [][]byte
	for len(stream) > 0 {
		n := min(chunk, len(stream))
		r.Feed(stream[:n])
		stream = stream[n:]
		for {
			f, ok, err := r.Next()
			if err != nil {
				return got, err
			}
			if !ok {
				break
			}
			got = append(got, bytes.Clone(f))
		}
	}
	return got, nil
}

func TestFrameReaderSplits(t *testing.T) {
	payloads := [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte{7}, 1000), []byte("x")}
	stream := framed(payloads...)
	for _, chunk := range []int{1, 3, 4, 5, 64, len(stream)} {
		r := NewFrameReader(1000)
		got, err := drain(t, r, stream, chunk)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if diff := cmp.Diff(payloads, got); diff != "" {
			t.Fatalf("chunk %d: frames differ (-want +got):\n%s", chunk, diff)
		}
		if r.Buffered() != 0 {
			t.Fatalf("chunk %d: %d bytes left buffered", chunk, r.Buffered())
		}
	}
}

func TestFrameReaderPartial(t *testing.T) {
	r := NewFrameReader(100)
	full := framed([]byte("abcdef"))
	r.Feed(full[:7])
	if _, ok, err := r.Next(); ok || err != nil {
		t.Fatalf("partial frame: ok=%v err=%v, want need-more", ok, err)
	}
	if r.Buffered() != 7 {
		t.Fatalf("Buffered = %d, want 7", r.Buffered())
	}
	r.Feed(full[7:])
	f, ok, err := r.Next()
	if !ok || err != nil || string(f) != "abcdef" {
		t.Fatalf("got %q ok=%v err=%v", f, ok, err)
	}
}

func TestFrameReaderErrors(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		stream []byte
		want   error
	}{
		{"negative size", 100, []byte{0xff, 0xff, 0xff, 0xfe}, ErrBadFrameSize},
		{"size over limit", 100, []byte{0, 0, 0, 101}, ErrFrameTooLarge},
		{"huge size", 100, []byte{0x7f, 0xff, 0xff, 0xff}, ErrFrameTooLarge},
		{"bad after good", 100, append(framed([]byte("ok")), 0x80, 0, 0, 0), ErrBadFrameSize},
		{"default limit", 0, binary.BigEndian.AppendUint32(nil, FrameBytesMaxDefault+1), ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewFrameReader(tt.max)
			_, err := drain(t, r, tt.stream, 1)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			// Sticky: more bytes do not revive the stream.
			r.Feed(framed([]byte("more")))
			if _, ok, err := r.Next(); ok || !errors.Is(err, tt.want) {
				t.Fatalf("after error: ok=%v err=%v, want sticky %v", ok, err, tt.want)
			}
			if r.Buffered() != 0 {
				t.Fatalf("after error %d bytes buffered", r.Buffered())
			}
		})
	}
}

func TestFrameReaderAtLimit(t *testing.T) {
	r := NewFrameReader(10)
	got, err := drain(t, r, framed(make([]byte, 10)), 3)
	if err != nil || len(got) != 1 || len(got[0]) != 10 {
		t.Fatalf("frame at limit: %d frames, err %v", len(got), err)
	}
}

// A declared size must not be allocated up front: a peer announcing 100 MiB
// and sending 4 bytes costs 4 bytes.
func TestFrameReaderDoesNotPreallocate(t *testing.T) {
	r := NewFrameReader(FrameBytesMaxDefault)
	r.Feed(binary.BigEndian.AppendUint32(nil, FrameBytesMaxDefault))
	r.Feed([]byte{1, 2, 3})
	if _, ok, err := r.Next(); ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if c := cap(r.buf); c > 1024 {
		t.Fatalf("buffer capacity %d after 7 bytes", c)
	}
}

// Draining many frames from one Feed must not move the tail each time;
// this is checked by the buffer start advancing rather than by timing.
func TestFrameReaderManySmallFrames(t *testing.T) {
	var payloads [][]byte
	for i := range 2000 {
		payloads = append(payloads, []byte{byte(i)})
	}
	r := NewFrameReader(10)
	r.Feed(framed(payloads...))
	for i := range payloads {
		f, ok, err := r.Next()
		if !ok || err != nil || f[0] != byte(i) {
			t.Fatalf("frame %d: %v %v %v", i, f, ok, err)
		}
		if i == 0 && r.start == 0 {
			t.Fatalf("reader compacted after the first frame")
		}
	}
	if _, ok, _ := r.Next(); ok {
		t.Fatalf("extra frame")
	}
}
