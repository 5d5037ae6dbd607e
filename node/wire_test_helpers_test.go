package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

func wireParse(frame []byte, req kmsg.Request) (int32, kmsg.Response, error) {
	return wire.ParseResponse(frame, req)
}
