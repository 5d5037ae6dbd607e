package node

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The planted apply-before-persist (etcd #14370) answers a produce before
// the fsync of its entry: in a group of one voter, which commits on its own
// append, a crash right after the answer loses an acknowledged record.
// TestRestartReplaysLog (node_test.go) is the same run without
// the bug, keeping all of them.
func TestApplyBeforePersistLosesAnAck(t *testing.T) {
	h := newHarness(t, 1, func(c *Config) { c.Bug = BugApplyBeforePersist })
	waitTopic(t, h, 1, "durable")
	h.until(5*time.Second, "a served produce", func() bool {
		return produceOne(t, h, 1, "durable", nil, "v0").ErrorCode == 0
	})
	p := produceOne(t, h, 1, "durable", nil, "v1")
	if p.ErrorCode != 0 || p.BaseOffset != 1 {
		t.Fatalf("produce: code %d base %d", p.ErrorCode, p.BaseOffset)
	}
	fs := h.crash(1) // right after the answer, before the next Process
	h.start(1, fs)
	var fp kmsg.FetchResponseTopicPartition
	h.until(10*time.Second, "the log served again", func() bool {
		fp, _ = fetchAll(t, h, 1, "durable")
		return fp.ErrorCode == 0
	})
	if fp.HighWatermark >= 2 {
		t.Fatalf("high watermark %d after the crash: the acknowledged record survived, the bug is not planted", fp.HighWatermark)
	}
}
