package host_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/wire"
)

const (
	badFrameBytesMax   = 1 << 20
	badMessageBytesMax = 10 << 10
	aliveTopic         = "alive"
	ioTimeout          = 30 * time.Second
)

// TestE2EBadInput sends malformed or refused requests over real TCP. Each
// must get its Kafka error code or a closed connection, and none may disturb
// another client: a franz-go producer on its own connection completes a
// produce round trip before and after every case.
func TestE2EBadInput(t *testing.T) {
	h := startHost(t, t.TempDir(), node.Config{
		FrameBytesMax:   badFrameBytesMax,
		MessageMaxBytes: badMessageBytesMax,
	})
	defer closeHost(t, h)
	addr := h.Addr()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(aliveTopic), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	served := func(t *testing.T, when string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := cl.ProduceSync(ctx, kgo.StringRecord("still served "+when)).FirstErr(); err != nil {
			t.Fatalf("the other connection was not served %s: %v", when, err)
		}
	}

	cases := []struct {
		name string
		run  func(t *testing.T, c *rawConn)
	}{
		{"frame over limit", func(t *testing.T, c *rawConn) {
			c.write(binary.BigEndian.AppendUint32(nil, badFrameBytesMax+1))
			c.write(make([]byte, 1024))
			c.expectClosed()
		}},
		{"truncated frame then EOF", func(t *testing.T, c *rawConn) {
			c.write(binary.BigEndian.AppendUint32(nil, 100))
			c.write(make([]byte, 10))
			if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			c.expectClosed()
		}},
		{"garbage size", func(t *testing.T, c *rawConn) {
			c.write(bytes.Repeat([]byte{0xff}, 64))
			c.expectClosed()
		}},
		{"garbage payload", func(t *testing.T, c *rawConn) {
			c.write(binary.BigEndian.AppendUint32(nil, 32))
			c.write(bytes.Repeat([]byte{0xde, 0xad}, 16))
			c.expectClosed()
		}},
		{"unknown api key", func(t *testing.T, c *rawConn) {
			c.write(rawHeader(9999, 0, 1))
			c.expectClosed()
		}},
		{"api versions v99", func(t *testing.T, c *rawConn) {
			// What a client newer than the broker sends: a flexible header
			// and a body the broker cannot know. Kafka answers v0.
			frame := rawHeader(18, 99, 7)
			frame = append(frame, 0)              // header tagged fields
			frame = append(frame, 2, 'x', 2, '1') // compact software name and version
			frame = append(frame, 0)              // body tagged fields
			binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
			c.write(frame)
			corr, resp := c.readResponse(&kmsg.ApiVersionsRequest{Version: 0})
			if corr != 7 {
				t.Fatalf("correlation id %d, want 7", corr)
			}
			av := resp.(*kmsg.ApiVersionsResponse)
			if av.ErrorCode != kerr.UnsupportedVersion.Code {
				t.Fatalf("error code %d, want %d UNSUPPORTED_VERSION", av.ErrorCode, kerr.UnsupportedVersion.Code)
			}
			var keys []int16
			for _, k := range av.ApiKeys {
				keys = append(keys, k.ApiKey)
			}
			for _, want := range []int16{0, 1, 3, 18} {
				if !slices.Contains(keys, want) {
					t.Fatalf("supported keys %v lack %d", keys, want)
				}
			}
		}},
		{"produce with wrong CRC", func(t *testing.T, c *rawConn) {
			batch := testBatch(10)
			batch[len(batch)-1] ^= 0x01 // covered by the CRC
			if code := c.producePartition0(batch); code != kerr.CorruptMessage.Code {
				t.Fatalf("error code %d, want %d CORRUPT_MESSAGE", code, kerr.CorruptMessage.Code)
			}
			c.expectOpen()
		}},
		{"produce over message.max.bytes", func(t *testing.T, c *rawConn) {
			batch := testBatch(2 * badMessageBytesMax)
			if code := c.producePartition0(batch); code != kerr.MessageTooLarge.Code {
				t.Fatalf("error code %d, want %d MESSAGE_TOO_LARGE", code, kerr.MessageTooLarge.Code)
			}
			c.expectOpen()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			served(t, "before")
			c := dialRaw(t, addr)
			defer c.nc.Close()
			tc.run(t, c)
			served(t, "after")
		})
	}
}

// TestE2EAcksZeroDoesNotStall pipelines many more acks=0 produces than the
// per-connection in-flight bound: they get no response, so they must not hold
// a slot, and a request sent after them must still be answered.
func TestE2EAcksZeroDoesNotStall(t *testing.T) {
	h := startHost(t, t.TempDir(), node.Config{})
	defer closeHost(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Create the topic so the raw produces are valid.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: aliveTopic, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	c := dialRaw(t, h.Addr())
	defer c.nc.Close()
	version := c.produceVersion()
	var out []byte
	for i := range 500 {
		req := kmsg.NewPtrProduceRequest()
		req.Version = version
		req.Acks = 0
		req.TimeoutMillis = 10_000
		req.Topics = []kmsg.ProduceRequestTopic{{
			Topic:      aliveTopic,
			Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: testBatch(10)}},
		}}
		out = wire.AppendRequest(out, int32(1000+i), nil, req)
	}
	c.write(out)
	c.roundTrip(&kmsg.ApiVersionsRequest{Version: 0}) // fails the test unless answered
}

// rawConn speaks the Kafka protocol by hand, for requests no client sends.
type rawConn struct {
	t    *testing.T
	nc   net.Conn
	fr   *wire.FrameReader
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return &rawConn{t: t, nc: nc, fr: wire.NewFrameReader(0)}
}

func (c *rawConn) write(p []byte) {
	c.t.Helper()
	if err := c.nc.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(p); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readFrame returns the next response frame payload, failing the test on a
// closed connection or after ioTimeout.
func (c *rawConn) readFrame() []byte {
	c.t.Helper()
	if err := c.nc.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		c.t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		f, ok, err := c.fr.Next()
		if err != nil {
			c.t.Fatalf("response framing: %v", err)
		}
		if ok {
			return append([]byte(nil), f...)
		}
		n, err := c.nc.Read(buf)
		c.fr.Feed(buf[:n])
		if err != nil && n == 0 {
			c.t.Fatalf("waiting for a response: %v", err)
		}
	}
}

func (c *rawConn) readResponse(req kmsg.Request) (int32, kmsg.Response) {
	c.t.Helper()
	corr, resp, err := wire.ParseResponse(c.readFrame(), req)
	if err != nil {
		c.t.Fatalf("parse %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return corr, resp
}

func (c *rawConn) roundTrip(req kmsg.Request) (int32, kmsg.Response) {
	c.t.Helper()
	c.corr++
	clientID := "raw"
	c.write(wire.AppendRequest(nil, c.corr, &clientID, req))
	corr, resp := c.readResponse(req)
	if corr != c.corr {
		c.t.Fatalf("%s: correlation id %d, want %d", kmsg.NameForKey(req.Key()), corr, c.corr)
	}
	return corr, resp
}

// expectClosed waits for the broker to close the connection: EOF or reset,
// and no response on the way.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	if err := c.nc.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		c.t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.nc.Read(buf)
	switch {
	case n > 0:
		c.t.Fatalf("got %d bytes, want the connection closed", n)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.t.Fatalf("connection still open after %v, want it closed", ioTimeout)
	case err == nil:
		c.t.Fatal("empty read, want the connection closed")
	case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err):
		c.t.Fatalf("read: %v, want EOF or reset", err)
	}
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// expectOpen checks the connection still serves requests after an error
// response: a refused produce must not cost the client its connection.
func (c *rawConn) expectOpen() {
	c.t.Helper()
	c.roundTrip(&kmsg.ApiVersionsRequest{Version: 0})
}

// produceVersion is the newest Produce version both the broker and this
// test speak, below v13 (which names topics by id).
func (c *rawConn) produceVersion() int16 {
	c.t.Helper()
	_, resp := c.roundTrip(&kmsg.ApiVersionsRequest{Version: 0})
	for _, k := range resp.(*kmsg.ApiVersionsResponse).ApiKeys {
		if k.ApiKey == 0 {
			v := min(k.MaxVersion, 12)
			if v < k.MinVersion {
				c.t.Fatalf("broker serves Produce v%d..v%d only", k.MinVersion, k.MaxVersion)
			}
			return v
		}
	}
	c.t.Fatal("broker does not serve Produce")
	return 0
}

// producePartition0 produces batch to aliveTopic[0] with acks=-1 and returns
// the partition's error code.
func (c *rawConn) producePartition0(batch []byte) int16 {
	c.t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version = c.produceVersion()
	req.Acks = -1
	req.TimeoutMillis = 10_000
	req.Topics = []kmsg.ProduceRequestTopic{{
		Topic:      aliveTopic,
		Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}},
	}}
	_, resp := c.roundTrip(req)
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		c.t.Fatalf("produce response has %d topics, want 1 with 1 partition: %+v", len(pr.Topics), pr)
	}
	return pr.Topics[0].Partitions[0].ErrorCode
}

// rawHeader is a size prefix (to be patched when a body follows) and a v1
// request header with a null client id.
func rawHeader(key, version int16, corr int32) []byte {
	b := binary.BigEndian.AppendUint32(nil, 10)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	return binary.BigEndian.AppendUint16(b, 0xffff)
}

// testBatch is a valid non-idempotent batch of one record of valueBytes bytes.
func testBatch(valueBytes int) []byte {
	return wire.AppendBatch(nil, wire.BatchSpec{
		ProducerID:     -1,
		ProducerEpoch:  -1,
		BaseSequence:   -1,
		FirstTimestamp: time.Now().UnixMilli(),
		Records:        []wire.Record{{Value: bytes.Repeat([]byte{'v'}, valueBytes)}},
	})
}
