package host

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

func TestExpectsResponse(t *testing.T) {
	clientID := "client"
	txnID := "txn"
	for v := int16(0); v <= (&kmsg.ProduceRequest{}).MaxVersion(); v++ {
		for _, acks := range []int16{-1, 0, 1} {
			for _, cid := range []*string{nil, &clientID} {
				req := kmsg.NewPtrProduceRequest()
				req.Version = v
				req.Acks = acks
				if v >= 3 {
					req.TransactionID = &txnID
				}
				req.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: []byte{1, 2, 3}}}}}
				frame := wire.AppendRequest(nil, 1, cid, req)[4:]
				if got, want := expectsResponse(frame), acks != 0; got != want {
					t.Errorf("produce v%d acks=%d client id %v: expectsResponse %v, want %v", v, acks, cid != nil, got, want)
				}
				// A truncated frame counts as answered: the node closes it.
				for cut := range len(frame) {
					if acks != 0 && !expectsResponse(frame[:cut]) {
						t.Errorf("produce v%d acks=%d cut at %d: expectsResponse false", v, acks, cut)
					}
				}
			}
		}
	}
	for _, req := range []kmsg.Request{&kmsg.ApiVersionsRequest{}, &kmsg.MetadataRequest{Version: 12}, &kmsg.FetchRequest{Version: 11}} {
		if !expectsResponse(wire.AppendRequest(nil, 1, nil, req)[4:]) {
			t.Errorf("%s: expectsResponse false", kmsg.NameForKey(req.Key()))
		}
	}
}
