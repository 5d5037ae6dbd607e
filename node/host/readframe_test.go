package host

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/ketch-dev/ketch/wire"
)

func frameStream(sizes ...int) ([]byte, [][]byte) {
	var stream []byte
	var frames [][]byte
	for i, n := range sizes {
		f := bytes.Repeat([]byte{byte('a' + i)}, n)
		stream = binary.BigEndian.AppendUint32(stream, uint32(n))
		stream = append(stream, f...)
		frames = append(frames, f)
	}
	return stream, frames
}

// Frames of every size come out whole and in order, however the stream
// is cut into reads (one byte at a time here), each in a buffer of its own.
func TestReadFrameWholeAndOwned(t *testing.T) {
	stream, want := frameStream(0, 1, 100, readBufferBytes-1, readBufferBytes+7, 3*readBufferBytes+5, 10)
	for _, r := range []io.Reader{bytes.NewReader(stream), iotest.OneByteReader(bytes.NewReader(stream)), iotest.HalfReader(bytes.NewReader(stream))} {
		br := bufio.NewReaderSize(r, readBufferBytes)
		var got [][]byte
		for {
			f, err := readFrame(br, 1<<30)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, f)
		}
		if len(got) != len(want) {
			t.Fatalf("%d frames, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("frame %d: %d bytes, want %d", i, len(got[i]), len(want[i]))
			}
		}
	}
}

func TestReadFrameRefusesBadSizes(t *testing.T) {
	for _, c := range []struct {
		size uint32
		want error
	}{{0x80000000, wire.ErrBadFrameSize}, {1001, wire.ErrFrameTooLarge}} {
		stream := binary.BigEndian.AppendUint32(nil, c.size)
		stream = append(stream, make([]byte, 2000)...)
		if _, err := readFrame(bufio.NewReader(bytes.NewReader(stream)), 1000); !errors.Is(err, c.want) {
			t.Errorf("size %#x: %v, want %v", c.size, err, c.want)
		}
	}
}

// A size that lies costs memory only as bytes arrive.
func TestReadFrameLyingSizeAllocatesLittle(t *testing.T) {
	stream := binary.BigEndian.AppendUint32(nil, 90<<20)
	stream = append(stream, make([]byte, 10)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readFrame(bufio.NewReaderSize(bytes.NewReader(stream), readBufferBytes), 100<<20)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v, want unexpected EOF", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4*readBufferBytes {
		t.Fatalf("allocated %d bytes for a frame that sent 10", got)
	}
}
