package host_test

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/wire"
)

// TestE2EHostileBattery sends malformed, oversized and absurd requests of
// every served API over real TCP and checks each gets the answer Kafka gives
// (the error code its handlers and kmsg's field comments document), or a
// closed connection where Kafka closes it (a frame or header it cannot parse,
// an unknown API, a version it does not serve). After every case another
// client completes a produce round trip, and at the end the host holds
// nothing for the connections that went away.
func TestE2EHostileBattery(t *testing.T) {
	h := startHost(t, t.TempDir(), node.Config{
		FrameBytesMax:   8 << 20,
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
	served(t, "at the start")

	// Request builders: a valid request, then the case's change.
	produce := func(c *rawConn, change func(*kmsg.ProduceRequest)) *kmsg.ProduceResponse {
		c.t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Version = 10
		req.Acks = -1
		req.TimeoutMillis = 10_000
		req.Topics = []kmsg.ProduceRequestTopic{{
			Topic:      aliveTopic,
			Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: testBatch(10)}},
		}}
		change(req)
		_, resp := c.roundTrip(req)
		return resp.(*kmsg.ProduceResponse)
	}
	produceCode := func(c *rawConn, change func(*kmsg.ProduceRequest)) int16 {
		c.t.Helper()
		resp := produce(c, change)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			c.t.Fatalf("produce answer has %d topics, want one partition", len(resp.Topics))
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	batch := func(b []byte) func(*kmsg.ProduceRequest) {
		return func(r *kmsg.ProduceRequest) { r.Topics[0].Partitions[0].Records = b }
	}
	fetch := func(c *rawConn, change func(*kmsg.FetchRequest)) *kmsg.FetchResponse {
		c.t.Helper()
		req := fetchFrom(aliveTopic, 1<<20)
		req.Version = 12
		change(req)
		_, resp := c.roundTrip(req)
		return resp.(*kmsg.FetchResponse)
	}
	fetchCode := func(c *rawConn, change func(*kmsg.FetchRequest)) int16 {
		c.t.Helper()
		resp := fetch(c, change)
		if resp.ErrorCode != 0 {
			return resp.ErrorCode
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			c.t.Fatalf("fetch answer has %d topics, want one partition", len(resp.Topics))
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	metadata := func(c *rawConn, names ...string) *kmsg.MetadataResponse {
		c.t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		req.AllowAutoTopicCreation = true
		for _, n := range names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, rt)
		}
		_, resp := c.roundTrip(req)
		return resp.(*kmsg.MetadataResponse)
	}
	create := func(c *rawConn, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsResponse {
		c.t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = 7
		req.TimeoutMillis = 10_000
		req.Topics = topics
		_, resp := c.roundTrip(req)
		return resp.(*kmsg.CreateTopicsResponse)
	}
	topic := func(name string, parts int32, rf int16) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
		return rt
	}
	createCode := func(c *rawConn, rt kmsg.CreateTopicsRequestTopic) int16 {
		c.t.Helper()
		resp := create(c, rt)
		if len(resp.Topics) != 1 {
			c.t.Fatalf("create answer has %d topics, want 1", len(resp.Topics))
		}
		return resp.Topics[0].ErrorCode
	}
	deleteTopics := func(c *rawConn, names ...string) *kmsg.DeleteTopicsResponse {
		c.t.Helper()
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Version = 6
		req.TimeoutMillis = 10_000
		for _, n := range names {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, rt)
		}
		_, resp := c.roundTrip(req)
		return resp.(*kmsg.DeleteTopicsResponse)
	}
	// frame sends raw bytes with a correct size prefix.
	frame := func(c *rawConn, payload []byte) {
		c.write(binary.BigEndian.AppendUint32(nil, uint32(len(payload))))
		c.write(payload)
	}
	// encoded is a request's frame without its size prefix.
	encoded := func(req kmsg.Request) []byte { return wire.AppendRequest(nil, 1, nil, req)[4:] }
	want := func(t *testing.T, what string, got, want int16) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: error code %d (%v), want %d (%v)", what, got, kerr.ErrorForCode(got), want, kerr.ErrorForCode(want))
		}
	}
	good := func() []byte { return testBatch(10) }
	setU32 := func(b []byte, off int, v uint32) []byte { binary.BigEndian.PutUint32(b[off:], v); return b }
	reseal := func(b []byte) []byte { binary.BigEndian.PutUint32(b[17:], wire.BatchCRC(b)); return b }
	const (
		offBatchLength = 8
		offMagic       = 16
		offAttributes  = 21
		offRecordCount = 57
		offLastDelta   = 23
	)

	type tc struct {
		name string
		run  func(t *testing.T, c *rawConn)
	}
	closes := func(name string, payload func() []byte) tc {
		return tc{name, func(t *testing.T, c *rawConn) { frame(c, payload()); c.expectClosed() }}
	}
	batchCode := func(name string, b func() []byte, code int16) tc {
		return tc{"produce " + name, func(t *testing.T, c *rawConn) {
			want(t, name, produceCode(c, batch(b())), code)
			c.expectOpen()
		}}
	}
	cases := []tc{
		// Frames and headers: Kafka closes a connection whose request it
		// cannot parse.
		closes("frame of 0 bytes", func() []byte { return nil }),
		{"frame size negative", func(t *testing.T, c *rawConn) {
			c.write([]byte{0x80, 0, 0, 0, 1, 2, 3})
			c.expectClosed()
		}},
		{"frame size over the limit", func(t *testing.T, c *rawConn) {
			c.write(binary.BigEndian.AppendUint32(nil, 8<<20+1))
			c.expectClosed()
		}},
		closes("header of 6 bytes", func() []byte { return []byte{0, 18, 0, 0, 0, 0} }),
		closes("client id longer than the frame", func() []byte {
			return binary.BigEndian.AppendUint16([]byte{0, 18, 0, 0, 0, 0, 0, 1}, 500)
		}),
		closes("client id length -5", func() []byte {
			return append(binary.BigEndian.AppendUint16([]byte{0, 3, 0, 1, 0, 0, 0, 1}, 0xfffb), 0, 0, 0, 0)
		}),
		closes("flexible header with a broken tag section", func() []byte {
			b := encoded(&kmsg.MetadataRequest{Version: 12})
			return append(b[:10], 0xff, 0xff, 0xff, 0xff, 0x0f) // after the null client id
		}),
		closes("unknown api key 9999", func() []byte { return []byte{0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0xff, 0xff} }),
		closes("negative api version", func() []byte {
			b := encoded(&kmsg.MetadataRequest{Version: 1})
			b[2], b[3] = 0xff, 0xff
			return b
		}),
		closes("produce v2 (below the served range)", func() []byte { return encoded(&kmsg.ProduceRequest{Version: 2}) }),
		closes("fetch v99", func() []byte {
			b := encoded(&kmsg.FetchRequest{Version: 12})
			b[3] = 99
			return b
		}),
		closes("body truncated", func() []byte {
			b := encoded(&kmsg.ProduceRequest{Version: 7, Topics: []kmsg.ProduceRequestTopic{{Topic: aliveTopic}}})
			return b[:len(b)-3]
		}),
		closes("array count 2^31-1 in a short body", func() []byte {
			b := encoded(&kmsg.ProduceRequest{Version: 7, Acks: -1, TimeoutMillis: 1000})
			return setU32(b, len(b)-4, 0x7fffffff)
		}),
		closes("topic name length -5", func() []byte {
			b := encoded(&kmsg.ProduceRequest{Version: 7, Acks: -1, TimeoutMillis: 1000, Topics: []kmsg.ProduceRequestTopic{{Topic: "abc"}}})
			// ... topics count (4), name length (2), "abc", partitions count (4)
			binary.BigEndian.PutUint16(b[len(b)-9:], 0xfffb)
			return b
		}),
		closes("records length past the frame", func() []byte {
			b := encoded(&kmsg.ProduceRequest{Version: 7, Acks: -1, TimeoutMillis: 1000, Topics: []kmsg.ProduceRequestTopic{{
				Topic: aliveTopic, Partitions: []kmsg.ProduceRequestTopicPartition{{Records: []byte{1, 2, 3}}},
			}}})
			return setU32(b, len(b)-7, 1<<30)
		}),
		{"api versions v3 with an invalid software name", func(t *testing.T, c *rawConn) {
			_, resp := c.roundTrip(&kmsg.ApiVersionsRequest{Version: 3, ClientSoftwareName: "bad name!", ClientSoftwareVersion: "1.0"})
			want(t, "api versions", resp.(*kmsg.ApiVersionsResponse).ErrorCode, kerr.InvalidRequest.Code)
			c.expectOpen()
		}},
		{"api versions v3 named as a client does", func(t *testing.T, c *rawConn) {
			_, resp := c.roundTrip(&kmsg.ApiVersionsRequest{Version: 3, ClientSoftwareName: "librdkafka", ClientSoftwareVersion: "2.3.0"})
			if av := resp.(*kmsg.ApiVersionsResponse); av.ErrorCode != 0 || len(av.ApiKeys) == 0 {
				t.Fatalf("error code %d, %d api keys", av.ErrorCode, len(av.ApiKeys))
			}
		}},

		{"client id of 32,767 bytes", func(t *testing.T, c *rawConn) {
			id := strings.Repeat("c", 1<<15-1)
			c.write(wire.AppendRequest(nil, 5, &id, &kmsg.ApiVersionsRequest{Version: 0}))
			if corr, resp := c.readResponse(&kmsg.ApiVersionsRequest{Version: 0}); corr != 5 || resp.(*kmsg.ApiVersionsResponse).ErrorCode != 0 {
				t.Fatalf("correlation id %d, error code %d", corr, resp.(*kmsg.ApiVersionsResponse).ErrorCode)
			}
		}},

		// Produce: the request, then the batch, in Kafka's order of checks.
		{"produce to a topic name of 32,767 bytes", func(t *testing.T, c *rawConn) {
			want(t, "long name", produceCode(c, func(r *kmsg.ProduceRequest) { r.Topics[0].Topic = strings.Repeat("n", 1<<15-1) }), kerr.UnknownTopicOrPartition.Code)
		}},
		{"produce to 50,000 distinct unknown partitions", func(t *testing.T, c *rawConn) {
			resp := produce(c, func(r *kmsg.ProduceRequest) {
				r.Topics[0].Partitions = nil
				for i := range 50_000 {
					r.Topics[0].Partitions = append(r.Topics[0].Partitions, kmsg.ProduceRequestTopicPartition{Partition: int32(1000 + i)})
				}
			})
			if n := len(resp.Topics[0].Partitions); n != 50_000 {
				t.Fatalf("%d answers, want one per distinct partition", n)
			}
			for _, p := range resp.Topics[0].Partitions {
				if p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
					t.Fatalf("partition %d: code %d", p.Partition, p.ErrorCode)
				}
			}
		}},
		{"produce acks=2", func(t *testing.T, c *rawConn) {
			want(t, "acks=2", produceCode(c, func(r *kmsg.ProduceRequest) { r.Acks = 2 }), kerr.InvalidRequiredAcks.Code)
		}},
		{"produce to an unknown topic", func(t *testing.T, c *rawConn) {
			want(t, "unknown topic", produceCode(c, func(r *kmsg.ProduceRequest) { r.Topics[0].Topic = "no-such-topic" }), kerr.UnknownTopicOrPartition.Code)
		}},
		{"produce to partition -1", func(t *testing.T, c *rawConn) {
			want(t, "partition -1", produceCode(c, func(r *kmsg.ProduceRequest) { r.Topics[0].Partitions[0].Partition = -1 }), kerr.UnknownTopicOrPartition.Code)
		}},
		{"produce to partition 2^31-1", func(t *testing.T, c *rawConn) {
			want(t, "partition max", produceCode(c, func(r *kmsg.ProduceRequest) { r.Topics[0].Partitions[0].Partition = 1<<31 - 1 }), kerr.UnknownTopicOrPartition.Code)
		}},
		batchCode("with no records", func() []byte { return []byte{} }, kerr.InvalidRecord.Code),
		batchCode("of 11 bytes", func() []byte { return good()[:11] }, kerr.InvalidRecord.Code),
		batchCode("cut before the magic", func() []byte { return good()[:16] }, kerr.InvalidRecord.Code),
		batchCode("truncated", func() []byte { b := good(); return b[:len(b)-1] }, kerr.InvalidRecord.Code),
		batchCode("batchLength past the end", func() []byte { b := good(); return setU32(b, offBatchLength, uint32(len(b))) }, kerr.InvalidRecord.Code),
		batchCode("batchLength 5", func() []byte { return setU32(good(), offBatchLength, 5) }, kerr.CorruptMessage.Code),
		batchCode("batchLength negative", func() []byte { return setU32(good(), offBatchLength, 0xfffffff0) }, kerr.CorruptMessage.Code),
		batchCode("magic 1", func() []byte { b := good(); b[offMagic] = 1; return b }, kerr.InvalidRecord.Code),
		batchCode("magic 0", func() []byte { b := good(); b[offMagic] = 0; return b }, kerr.InvalidRecord.Code),
		batchCode("magic 7", func() []byte { b := good(); b[offMagic] = 7; return b }, kerr.CorruptMessage.Code),
		batchCode("baseOffset 5", func() []byte { b := good(); b[7] = 5; return b }, kerr.InvalidRecord.Code),
		batchCode("wrong crc", func() []byte { b := good(); b[len(b)-1] ^= 1; return b }, kerr.CorruptMessage.Code),
		batchCode("with 5 bytes after the batch (Kafka trims them)", func() []byte { return append(good(), 1, 2, 3, 4, 5) }, 0),
		batchCode("with a partial second batch of a bad magic", func() []byte {
			b := good()
			b[offMagic] = 9
			return append(good(), b[:20]...)
		}, kerr.CorruptMessage.Code),
		{"produce v6 of a zstd batch", func(t *testing.T, c *rawConn) {
			b := good()
			b[offAttributes+1] |= 4 // zstd: framing and CRC are all that is checked
			want(t, "zstd in v6", produceCode(c, func(r *kmsg.ProduceRequest) {
				r.Version = 6
				r.Topics[0].Partitions[0].Records = reseal(b)
			}), kerr.UnsupportedCompressionType.Code)
		}},
		batchCode("two batches", func() []byte { return append(good(), good()...) }, kerr.InvalidRecord.Code),
		batchCode("over message.max.bytes", func() []byte { return testBatch(2 * badMessageBytesMax) }, kerr.MessageTooLarge.Code),
		batchCode("control batch", func() []byte { b := good(); b[offAttributes+1] |= 0x20; return reseal(b) }, kerr.InvalidRecord.Code),
		batchCode("record count 0", func() []byte {
			return reseal(setU32(setU32(good(), offRecordCount, 0), offLastDelta, 0xffffffff))
		}, kerr.InvalidRecord.Code),
		batchCode("record count 2^30", func() []byte {
			return reseal(setU32(setU32(good(), offRecordCount, 1<<30), offLastDelta, 1<<30-1))
		}, kerr.InvalidRecord.Code),
		batchCode("lastOffsetDelta not count-1", func() []byte { return reseal(setU32(good(), offLastDelta, 3)) }, kerr.InvalidRecord.Code),
		batchCode("producer id without a sequence", func() []byte {
			return wire.AppendBatch(nil, wire.BatchSpec{ProducerID: 1, ProducerEpoch: 0, BaseSequence: -1,
				FirstTimestamp: time.Now().UnixMilli(), Records: []wire.Record{{Value: []byte("v")}}})
		}, kerr.InvalidRecord.Code),
		{"produce acks=-1 timeout 0", func(t *testing.T, c *rawConn) {
			want(t, "timeout 0", produceCode(c, func(r *kmsg.ProduceRequest) { r.TimeoutMillis = 0 }), kerr.RequestTimedOut.Code)
		}},
		{"produce acks=-1 timeout -1", func(t *testing.T, c *rawConn) {
			want(t, "timeout -1", produceCode(c, func(r *kmsg.ProduceRequest) { r.TimeoutMillis = -1 }), kerr.RequestTimedOut.Code)
		}},
		{"produce acks=1 timeout 0", func(t *testing.T, c *rawConn) {
			want(t, "acks=1 timeout 0", produceCode(c, func(r *kmsg.ProduceRequest) { r.Acks, r.TimeoutMillis = 1, 0 }), 0)
		}},
		{"produce naming one partition 200,000 times", func(t *testing.T, c *rawConn) {
			resp := produce(c, func(r *kmsg.ProduceRequest) {
				one := r.Topics[0].Partitions[0]
				one.Records = nil
				for range 200_000 {
					r.Topics[0].Partitions = append(r.Topics[0].Partitions, one)
				}
				r.Topics[0].Partitions = append(r.Topics[0].Partitions, kmsg.ProduceRequestTopicPartition{Records: testBatch(10)})
			})
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("answer: %d topics, want partition 0 once, appended from its last mention", len(resp.Topics))
			}
		}},
		{"acks=0 produce that fails closes the connection", func(t *testing.T, c *rawConn) {
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = 10, 0, 1000
			req.Topics = []kmsg.ProduceRequestTopic{{Topic: aliveTopic, Partitions: []kmsg.ProduceRequestTopicPartition{{Records: good()[:20]}}}}
			c.write(wire.AppendRequest(nil, 1, nil, req))
			c.expectClosed()
		}},

		// Fetch.
		{"fetch an unknown topic", func(t *testing.T, c *rawConn) {
			want(t, "unknown topic", fetchCode(c, func(r *kmsg.FetchRequest) { r.Topics[0].Topic = "no-such-topic" }), kerr.UnknownTopicOrPartition.Code)
		}},
		{"fetch partition -1", func(t *testing.T, c *rawConn) {
			want(t, "partition -1", fetchCode(c, func(r *kmsg.FetchRequest) { r.Topics[0].Partitions[0].Partition = -1 }), kerr.UnknownTopicOrPartition.Code)
		}},
		{"fetch past the log end", func(t *testing.T, c *rawConn) {
			want(t, "offset 2^40", fetchCode(c, func(r *kmsg.FetchRequest) { r.Topics[0].Partitions[0].FetchOffset = 1 << 40 }), kerr.OffsetOutOfRange.Code)
		}},
		{"fetch offset -5", func(t *testing.T, c *rawConn) {
			want(t, "offset -5", fetchCode(c, func(r *kmsg.FetchRequest) { r.Topics[0].Partitions[0].FetchOffset = -5 }), kerr.OffsetOutOfRange.Code)
		}},
		{"fetch with an unknown session", func(t *testing.T, c *rawConn) {
			want(t, "session 7", fetchCode(c, func(r *kmsg.FetchRequest) { r.SessionID = 7 }), kerr.FetchSessionIDNotFound.Code)
		}},
		{"fetch with a future leader epoch", func(t *testing.T, c *rawConn) {
			want(t, "epoch 99999", fetchCode(c, func(r *kmsg.FetchRequest) { r.Topics[0].Partitions[0].CurrentLeaderEpoch = 99999 }), kerr.UnknownLeaderEpoch.Code)
		}},
		{"fetch with MaxBytes and partition MaxBytes negative", func(t *testing.T, c *rawConn) {
			want(t, "max bytes -1", fetchCode(c, func(r *kmsg.FetchRequest) {
				r.MaxBytes, r.Topics[0].Partitions[0].PartitionMaxBytes = -1, -1
			}), 0)
		}},
		{"fetch naming one partition 200,000 times", func(t *testing.T, c *rawConn) {
			resp := fetch(c, func(r *kmsg.FetchRequest) {
				for range 200_000 {
					r.Topics = append(r.Topics, r.Topics[0])
				}
			})
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("answer: %d topics, want the partition once", len(resp.Topics))
			}
		}},

		// Metadata.
		{"metadata naming one topic 200,000 times", func(t *testing.T, c *rawConn) {
			names := make([]string, 200_000)
			for i := range names {
				names[i] = aliveTopic
			}
			if resp := metadata(c, names...); len(resp.Topics) != 1 {
				t.Fatalf("%d topics answered, want 1", len(resp.Topics))
			}
		}},
		{"metadata of an unknown topic id", func(t *testing.T, c *rawConn) {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 12
			req.Topics = []kmsg.MetadataRequestTopic{{TopicID: [16]byte{9, 9, 9}}}
			_, resp := c.roundTrip(req)
			want(t, "unknown id", resp.(*kmsg.MetadataResponse).Topics[0].ErrorCode, kerr.UnknownTopicID.Code)
		}},
		{"metadata auto-creating an invalid name", func(t *testing.T, c *rawConn) {
			for _, name := range []string{"bad name!", strings.Repeat("x", 250), "..", ""} {
				resp := metadata(c, name)
				want(t, "name "+name, resp.Topics[0].ErrorCode, kerr.InvalidTopicException.Code)
			}
		}},

		// CreateTopics and DeleteTopics.
		{"create a topic named twice", func(t *testing.T, c *rawConn) {
			resp := create(c, topic("twice", 1, 1), topic("twice", 1, 1), topic("twice", 3, 1))
			if len(resp.Topics) != 1 {
				t.Fatalf("%d answers, want the name once", len(resp.Topics))
			}
			want(t, "duplicate", resp.Topics[0].ErrorCode, kerr.InvalidRequest.Code)
		}},
		{"create with 0 or -5 partitions", func(t *testing.T, c *rawConn) {
			want(t, "0 partitions", createCode(c, topic("p0", 0, 1)), kerr.InvalidPartitions.Code)
			want(t, "-5 partitions", createCode(c, topic("p5", -5, 1)), kerr.InvalidPartitions.Code)
		}},
		{"create with replication factor 0 or 99", func(t *testing.T, c *rawConn) {
			want(t, "rf 0", createCode(c, topic("rf0", 1, 0)), kerr.InvalidReplicationFactor.Code)
			want(t, "rf 99", createCode(c, topic("rf99", 1, 99)), kerr.InvalidReplicationFactor.Code)
		}},
		{"create invalid names", func(t *testing.T, c *rawConn) {
			for _, name := range []string{"", ".", "..", "a/b", strings.Repeat("y", 250)} {
				want(t, "name "+name, createCode(c, topic(name, 1, 1)), kerr.InvalidTopicException.Code)
			}
		}},
		{"create a topic that exists", func(t *testing.T, c *rawConn) {
			want(t, "exists", createCode(c, topic(aliveTopic, 1, 1)), kerr.TopicAlreadyExists.Code)
		}},
		{"delete an unknown topic", func(t *testing.T, c *rawConn) {
			resp := deleteTopics(c, "no-such-topic")
			want(t, "unknown", resp.Topics[0].ErrorCode, kerr.UnknownTopicOrPartition.Code)
		}},
		{"delete an unknown topic id", func(t *testing.T, c *rawConn) {
			req := kmsg.NewPtrDeleteTopicsRequest()
			req.Version = 6
			req.Topics = []kmsg.DeleteTopicsRequestTopic{{TopicID: [16]byte{1, 2, 3}}}
			_, resp := c.roundTrip(req)
			want(t, "unknown id", resp.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode, kerr.UnknownTopicID.Code)
		}},
		{"delete a topic named twice", func(t *testing.T, c *rawConn) {
			resp := deleteTopics(c, aliveTopic, aliveTopic)
			if len(resp.Topics) != 1 {
				t.Fatalf("%d answers, want the name once", len(resp.Topics))
			}
			want(t, "duplicate", resp.Topics[0].ErrorCode, kerr.InvalidRequest.Code)
		}},

		// ListOffsets and InitProducerId.
		{"list offsets of an unknown topic", func(t *testing.T, c *rawConn) {
			req := kmsg.NewPtrListOffsetsRequest()
			req.Version = 6
			req.ReplicaID = -1
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "no-such-topic"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			_, resp := c.roundTrip(req)
			want(t, "unknown", resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition.Code)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			defer c.nc.Close()
			tc.run(t, c)
			served(t, "after")
		})
	}

	// Every case's connection is gone, and with it everything it held: what
	// is left is the franz-go client's own connections, idle.
	deadline := time.Now().Add(ioTimeout)
	for {
		conns, reqs, bytes := h.Held()
		if conns <= 3 && reqs == 0 && bytes == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the battery the host holds %d connections, %d requests, %d bytes", conns, reqs, bytes)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
