package node

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A broker that is down drops out of Metadata once its session with the
// controller ends (9s), as Kafka's does, and is listed again once it is
// back; until then, Metadata keeps listing it.
func TestDeadBrokerLeavesMetadata(t *testing.T) {
	h := newHarness(t, 3)
	h.until(10*time.Second, "metadata leader", func() bool { return h.nodes[1].n.groups[metaGroup].lead != 0 })
	listed := func(from uint64) []int32 {
		var ids []int32
		for _, b := range h.do(from, metadataReq()).(*kmsg.MetadataResponse).Brokers {
			ids = append(ids, b.NodeID)
		}
		return ids
	}
	h.until(10*time.Second, "all three registered", func() bool { return len(listed(1)) == 3 })
	// Kill a broker that is not the controller, so the controller judges it.
	lead := h.nodes[1].n.groups[metaGroup].lead
	dead := uint64(1)
	for dead == lead {
		dead++
	}
	live := uint64(1)
	for live == dead {
		live++
	}
	fs := h.crash(dead)
	h.run(5 * time.Second)
	if !slices.Contains(listed(live), int32(dead)) {
		t.Fatalf("broker %d left Metadata 5s after it died, before its session could end", dead)
	}
	h.until(10*time.Second, "the dead broker out of Metadata", func() bool {
		return !slices.Contains(listed(live), int32(dead))
	})
	h.start(dead, fs)
	h.until(10*time.Second, "the restarted broker back in Metadata", func() bool {
		return slices.Contains(listed(live), int32(dead))
	})
}
