package host

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

func TestFetchMaxBytes(t *testing.T) {
	clientID := "client"
	for v := int16(3); v <= (&kmsg.FetchRequest{}).MaxVersion(); v++ {
		for _, cid := range []*string{nil, &clientID} {
			req := kmsg.NewPtrFetchRequest()
			req.Version = v
			req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 500, 1, 12345
			frame := wire.AppendRequest(nil, 1, cid, req)[4:]
			if got, ok := fetchMaxBytes(frame); !ok || got != 12345 {
				t.Errorf("fetch v%d client id %v: fetchMaxBytes %d %v, want 12345 true", v, cid != nil, got, ok)
			}
			// A truncated frame is not read past its end.
			for cut := range len(frame) {
				if got, ok := fetchMaxBytes(frame[:cut]); ok && got != 12345 {
					t.Errorf("fetch v%d cut at %d: read %d", v, cut, got)
				}
			}
		}
	}
	for _, req := range []kmsg.Request{&kmsg.ApiVersionsRequest{}, &kmsg.MetadataRequest{Version: 12}, &kmsg.ProduceRequest{Version: 9}} {
		if _, ok := fetchMaxBytes(wire.AppendRequest(nil, 1, nil, req)[4:]); ok {
			t.Errorf("%s: read as a fetch", kmsg.NameForKey(req.Key()))
		}
	}
	frame := wire.AppendRequest(nil, 1, nil, &kmsg.FetchRequest{Version: 12, MaxBytes: 1 << 30})[4:]
	if got := answerReserve(frame, 1<<20); got < fetchAnswerBytesMax || got > fetchAnswerBytesMax+(1<<20)+len(frame)+answerBytesSmall {
		t.Errorf("answerReserve of a fetch asking for 1 GiB: %d, want the broker's cap %d plus one batch", got, fetchAnswerBytesMax)
	}
}
