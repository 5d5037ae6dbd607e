package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kmsg's Tags hold an unexported map; empty tags are all we send.
var cmpKmsg = cmpopts.IgnoreUnexported(kmsg.Tags{})

// allKmsg serves every version kmsg knows.
func allKmsg(key int16) (int16, int16, bool) {
	r := kmsg.RequestForKey(key)
	if r == nil {
		return 0, 0, false
	}
	return 0, r.MaxVersion(), true
}

// served is a narrower table, like the node's: ApiVersions 0..3,
// Metadata 1..12, Produce 3..9, Fetch 4..12.
func served(key int16) (int16, int16, bool) {
	switch key {
	case 18:
		return 0, 3, true
	case 3:
		return 1, 12, true
	case 0:
		return 3, 9, true
	case 1:
		return 4, 12, true
	}
	return 0, 0, false
}

func strp(s string) *string { return &s }

func withVersion[T kmsg.Request](r T, v int16) T { r.SetVersion(v); return r }

func sampleRequests(t *testing.T) []kmsg.Request {
	t.Helper()
	batch := AppendBatch(nil, BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		Records: []Record{{Value: []byte("v1")}, {Key: []byte("k"), Value: []byte("v2")}}})

	produce := func(v int16) kmsg.Request {
		r := kmsg.NewPtrProduceRequest()
		r.Acks = -1
		r.TimeoutMillis = 5000
		r.TransactionID = nil
		tp := kmsg.NewProduceRequestTopicPartition()
		tp.Partition = 2
		tp.Records = batch
		tt := kmsg.NewProduceRequestTopic()
		tt.Topic = "orders"
		tt.Partitions = []kmsg.ProduceRequestTopicPartition{tp}
		r.Topics = []kmsg.ProduceRequestTopic{tt}
		return withVersion(r, v)
	}
	metadata := func(v int16) kmsg.Request {
		r := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = strp("orders")
		r.Topics = []kmsg.MetadataRequestTopic{mt}
		r.AllowAutoTopicCreation = v >= 4
		return withVersion(r, v)
	}
	fetch := func(v int16) kmsg.Request {
		r := kmsg.NewPtrFetchRequest()
		r.MaxWaitMillis = 500
		r.MinBytes = 1
		r.MaxBytes = 1 << 20
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = 0
		p.FetchOffset = 42
		p.PartitionMaxBytes = 1 << 20
		if v >= 9 {
			p.CurrentLeaderEpoch = 3 // absent before v9
		}
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "orders"
		ft.Partitions = []kmsg.FetchRequestTopicPartition{p}
		r.Topics = []kmsg.FetchRequestTopic{ft}
		return withVersion(r, v)
	}
	apiVersions := func(v int16) kmsg.Request {
		r := kmsg.NewPtrApiVersionsRequest()
		if v >= 3 {
			r.ClientSoftwareName = "ketch-test"
			r.ClientSoftwareVersion = "1.0"
		}
		return withVersion(r, v)
	}
	return []kmsg.Request{
		apiVersions(0), apiVersions(3),
		metadata(1), metadata(8), metadata(9), metadata(12),
		produce(3), produce(8), produce(9),
		fetch(4), fetch(11), fetch(12),
	}
}

func TestRequestRoundTrip(t *testing.T) {
	for _, req := range sampleRequests(t) {
		for _, clientID := range []*string{nil, strp(""), strp("client-1")} {
			name := kmsg.NameForKey(req.Key())
			stream := AppendRequest(nil, 77, clientID, req)
			fr := NewFrameReader(1 << 20)
			fr.Feed(stream)
			frame, ok, err := fr.Next()
			if !ok || err != nil {
				t.Fatalf("%s v%d: frame ok=%v err=%v", name, req.GetVersion(), ok, err)
			}
			got, err := ParseRequest(frame, served)
			if err != nil {
				t.Fatalf("%s v%d: %v", name, req.GetVersion(), err)
			}
			want := Request{
				Header: RequestHeader{Key: req.Key(), Version: req.GetVersion(), CorrelationID: 77, ClientID: clientID},
				Body:   req,
			}
			if diff := cmp.Diff(want, got, cmpKmsg); diff != "" {
				t.Fatalf("%s v%d: (-want +got)\n%s", name, req.GetVersion(), diff)
			}
		}
	}
}

// The flexible header (v2) has a tagged-field section after the client id;
// a client may put tags there and we must skip them.
func TestRequestHeaderTagsSkipped(t *testing.T) {
	req := withVersion(kmsg.NewPtrMetadataRequest(), 12)
	var frame []byte
	frame = binary.BigEndian.AppendUint16(frame, 3)
	frame = binary.BigEndian.AppendUint16(frame, 12)
	frame = binary.BigEndian.AppendUint32(frame, 5)
	frame = binary.BigEndian.AppendUint16(frame, 1)
	frame = append(frame, 'c')
	frame = append(frame, 2, 0, 3, 'a', 'b', 'c', 7, 0) // two tags
	frame = req.AppendTo(frame)
	got, err := ParseRequest(frame, served)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(req, got.Body, cmpKmsg); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

// The body must not alias the frame, which the FrameReader reuses.
func TestParseRequestDoesNotAlias(t *testing.T) {
	req := sampleRequests(t)[6] // produce v3
	frame := AppendRequest(nil, 1, nil, req)[4:]
	got, err := ParseRequest(frame, served)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), got.Body.(*kmsg.ProduceRequest).Topics[0].Partitions[0].Records...)
	for i := range frame {
		frame[i] = 0xAA
	}
	if diff := cmp.Diff(want, got.Body.(*kmsg.ProduceRequest).Topics[0].Partitions[0].Records); diff != "" {
		t.Fatalf("records changed with the frame:\n%s", diff)
	}
}

func header(key, version int16, corr int32) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	return binary.BigEndian.AppendUint32(b, uint32(corr))
}

func TestParseRequestErrors(t *testing.T) {
	metadata9 := AppendRequest(nil, 9, strp("cid"), sampleRequests(t)[4])[4:]
	produce3 := AppendRequest(nil, 9, strp("cid"), sampleRequests(t)[6])[4:]
	tests := []struct {
		name   string
		frame  []byte
		want   error // matched with errors.Is for ErrMalformed, cmp for the typed errors
		header RequestHeader
	}{
		{name: "empty", frame: nil, want: ErrMalformed},
		{name: "short header", frame: []byte{0, 3, 0, 9, 0, 0, 0}, want: ErrMalformed},
		{name: "no client id", frame: header(3, 9, 1), want: ErrMalformed},
		{name: "client id truncated", frame: append(header(3, 9, 1), 0, 10, 'a'), want: ErrMalformed},
		{name: "client id length -2", frame: append(header(3, 9, 1), 0xff, 0xfe), want: ErrMalformed},
		{name: "tags missing", frame: append(header(3, 9, 1), 0xff, 0xff), want: ErrMalformed},
		{name: "tag count beyond frame", frame: append(header(3, 9, 1), 0xff, 0xff, 5, 1), want: ErrMalformed},
		{name: "tag size beyond frame", frame: append(header(3, 9, 1), 0xff, 0xff, 1, 0, 9, 1), want: ErrMalformed},
		{name: "bad uvarint", frame: append(header(3, 9, 1), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), want: ErrMalformed},
		{name: "truncated body", frame: metadata9[:len(metadata9)-3], want: ErrMalformed},
		{name: "truncated produce", frame: produce3[:len(produce3)-20], want: ErrMalformed},
		{name: "garbage body", frame: append(header(0, 3, 1), 0xff, 0xff, 0x7f, 0x7f, 0x7f, 0x7f, 1, 2, 3, 4), want: ErrMalformed},
		{
			name: "unknown key", frame: append(header(9999, 0, 4), 0xff, 0xff),
			want: &UnknownAPIError{Key: 9999, CorrelationID: 4}, header: RequestHeader{Key: 9999, CorrelationID: 4},
		},
		{
			name: "kmsg key not served", frame: append(header(19, 5, 4), 0xff, 0xff),
			want: &UnknownAPIError{Key: 19, CorrelationID: 4}, header: RequestHeader{Key: 19, Version: 5, CorrelationID: 4},
		},
		{
			name: "negative key", frame: append(header(-1, 0, 4), 0xff, 0xff),
			want: &UnknownAPIError{Key: -1, CorrelationID: 4}, header: RequestHeader{Key: -1, CorrelationID: 4},
		},
		{
			name: "version too high", frame: append(header(18, 4, 8), 0xff, 0xff),
			want: &UnsupportedVersionError{Key: 18, Version: 4, CorrelationID: 8}, header: RequestHeader{Key: 18, Version: 4, CorrelationID: 8},
		},
		{
			name: "version below min", frame: append(header(0, 2, 8), 0xff, 0xff),
			want: &UnsupportedVersionError{Key: 0, Version: 2, CorrelationID: 8}, header: RequestHeader{Key: 0, Version: 2, CorrelationID: 8},
		},
		{
			name: "negative version", frame: append(header(3, -1, 8), 0xff, 0xff),
			want: &UnsupportedVersionError{Key: 3, Version: -1, CorrelationID: 8}, header: RequestHeader{Key: 3, Version: -1, CorrelationID: 8},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest(tt.frame, served)
			if err == nil {
				t.Fatalf("no error")
			}
			if got.Body != nil {
				t.Fatalf("body returned with error %v", err)
			}
			if tt.want == ErrMalformed {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if diff := cmp.Diff(tt.want, err); diff != "" {
				t.Fatalf("error (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tt.header, got.Header); diff != "" {
				t.Fatalf("header (-want +got)\n%s", diff)
			}
		})
	}
}

// A Versions table wider than kmsg must not make us parse unknown versions.
func TestParseRequestClampsToKmsg(t *testing.T) {
	wide := func(int16) (int16, int16, bool) { return 0, 1000, true }
	max := kmsg.NewPtrMetadataRequest().MaxVersion()
	_, err := ParseRequest(append(header(3, max+1, 1), 0xff, 0xff, 0), wide)
	var uv *UnsupportedVersionError
	if !errors.As(err, &uv) {
		t.Fatalf("err = %v, want UnsupportedVersionError", err)
	}
}

func sampleResponses() []kmsg.Response {
	av := func(v int16) kmsg.Response {
		r := kmsg.NewPtrApiVersionsResponse()
		r.SetVersion(v)
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = 0, 3, 9
		r.ApiKeys = []kmsg.ApiVersionsResponseApiKey{k}
		return r
	}
	md := func(v int16) kmsg.Response {
		r := kmsg.NewPtrMetadataResponse()
		r.SetVersion(v)
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = 1, "n1", 9092
		r.Brokers = []kmsg.MetadataResponseBroker{b}
		t := kmsg.NewMetadataResponseTopic()
		t.Topic = strp("orders")
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Leader, p.Replicas, p.ISR = 1, []int32{1, 2, 3}, []int32{1, 2}
		if v >= 7 {
			p.LeaderEpoch = 4 // absent before v7
		}
		t.Partitions = []kmsg.MetadataResponseTopicPartition{p}
		r.Topics = []kmsg.MetadataResponseTopic{t}
		return r
	}
	pr := func(v int16) kmsg.Response {
		r := kmsg.NewPtrProduceResponse()
		r.SetVersion(v)
		t := kmsg.NewProduceResponseTopic()
		t.Topic = "orders"
		p := kmsg.NewProduceResponseTopicPartition()
		p.ErrorCode, p.BaseOffset = 6, -1
		t.Partitions = []kmsg.ProduceResponseTopicPartition{p}
		r.Topics = []kmsg.ProduceResponseTopic{t}
		return r
	}
	return []kmsg.Response{av(0), av(3), md(1), md(9), md(12), pr(3), pr(9)}
}

func TestResponseRoundTrip(t *testing.T) {
	for _, resp := range sampleResponses() {
		name := kmsg.NameForKey(resp.Key())
		stream := AppendResponse([]byte("prefix"), 31, resp)
		if string(stream[:6]) != "prefix" {
			t.Fatalf("%s: dst prefix clobbered", name)
		}
		fr := NewFrameReader(1 << 20)
		fr.Feed(stream[6:])
		frame, ok, err := fr.Next()
		if !ok || err != nil {
			t.Fatalf("%s v%d: frame ok=%v err=%v", name, resp.GetVersion(), ok, err)
		}
		// Header v1 (a tags byte) exactly when flexible, never for ApiVersions.
		wantHeader := 4
		if resp.IsFlexible() && resp.Key() != 18 {
			wantHeader = 5
		}
		if diff := cmp.Diff(resp.AppendTo(nil), frame[wantHeader:]); diff != "" {
			t.Fatalf("%s v%d: body not after a %d-byte header:\n%s", name, resp.GetVersion(), wantHeader, diff)
		}
		req := resp.RequestKind()
		req.SetVersion(resp.GetVersion())
		corr, got, err := ParseResponse(frame, req)
		if err != nil || corr != 31 {
			t.Fatalf("%s v%d: corr %d err %v", name, resp.GetVersion(), corr, err)
		}
		if diff := cmp.Diff(resp, got, cmpKmsg); diff != "" {
			t.Fatalf("%s v%d: (-want +got)\n%s", name, resp.GetVersion(), diff)
		}
	}
}

func TestParseResponseErrors(t *testing.T) {
	req := withVersion(kmsg.NewPtrMetadataRequest(), 9)
	full := AppendResponse(nil, 1, sampleResponses()[3])[4:]
	for _, frame := range [][]byte{nil, {0, 0, 0}, {0, 0, 0, 1}, full[:len(full)-2], {0, 0, 0, 1, 9}} {
		if _, _, err := ParseResponse(frame, req); !errors.Is(err, ErrMalformed) {
			t.Fatalf("frame %x: err = %v, want ErrMalformed", frame, err)
		}
	}
}

// kmsg.RequestFormatter is what franz-go clients put on the wire: our
// client-side encoder must produce the same bytes, and our parser must read
// its output.
func TestAppendRequestMatchesKmsgFormatter(t *testing.T) {
	for _, req := range sampleRequests(t) {
		for _, f := range []struct {
			id  *string
			fmt *kmsg.RequestFormatter
		}{
			{nil, kmsg.NewRequestFormatter()},
			{strp("kgo"), kmsg.NewRequestFormatter(kmsg.FormatterClientID("kgo"))},
		} {
			want := f.fmt.AppendRequest(nil, req, 12)
			got := AppendRequest(nil, 12, f.id, req)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s v%d: (-kmsg +ours)\n%s", kmsg.NameForKey(req.Key()), req.GetVersion(), diff)
			}
		}
	}
}

// ParseRequestOwned parses exactly what ParseRequest does; it only skips the
// copy, so the records it returns are the frame's own bytes.
func TestParseRequestOwned(t *testing.T) {
	for i, req := range sampleRequests(t) {
		frame := AppendRequest(nil, int32(i), nil, req)[4:]
		want, werr := ParseRequest(frame, served)
		got, gerr := ParseRequestOwned(append([]byte(nil), frame...), served)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("request %d: ParseRequest err %v, ParseRequestOwned err %v", i, werr, gerr)
		}
		if werr != nil {
			continue
		}
		if got.Header.CorrelationID != want.Header.CorrelationID || got.Header.Key != want.Header.Key ||
			!bytes.Equal(got.Body.AppendTo(nil), want.Body.AppendTo(nil)) {
			t.Fatalf("request %d: ParseRequestOwned disagrees with ParseRequest", i)
		}
	}
	req := sampleRequests(t)[6] // produce v3
	frame := AppendRequest(nil, 1, nil, req)[4:]
	got, err := ParseRequestOwned(frame, served)
	if err != nil {
		t.Fatal(err)
	}
	recs := got.Body.(*kmsg.ProduceRequest).Topics[0].Partitions[0].Records
	for i := range frame {
		frame[i] = 0xAA
	}
	if len(recs) == 0 || recs[0] != 0xAA {
		t.Fatal("ParseRequestOwned copied the records")
	}
}
