package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
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

// Every leadership stamps an epoch above the last one's (the raft term): a
// record produced after leadership moved carries a higher epoch than every
// record before it. The planted epoch-not-term (KAFKA-10527, KIP-279) takes
// a per-broker counter instead, so a broker leading again reuses an epoch
// or goes below the one before.
func TestEpochGrowsWithEveryLeadership(t *testing.T) {
	for _, bug := range []string{"", BugEpochNotTerm} {
		t.Run(bug, func(t *testing.T) {
			h := newHarness(t, 3, func(c *Config) { c.Bug = bug })
			leader := uint64(waitTopic(t, h, 1, "moving"))
			for i := 0; i < 6; i++ {
				h.until(5*time.Second, "a served produce", func() bool {
					return produceOne(t, h, leader, "moving", nil, fmt.Sprint("v", i)).ErrorCode == 0
				})
				old := leader
				h.until(2*time.Second, "leadership handed over", func() bool {
					return h.nodes[old].n.TransferLeadership() == 0
				})
				leader = 0
				h.until(5*time.Second, "a new partition leader", func() bool {
					for _, id := range h.ids {
						for _, st := range h.nodes[id].n.Status() {
							if st.Topic == "moving" && st.Serving && id != old {
								leader = id
							}
						}
					}
					return leader != 0
				})
			}
			var fp kmsg.FetchResponseTopicPartition
			h.until(5*time.Second, "a fetch served", func() bool {
				fp, _ = fetchAll(t, h, leader, "moving")
				return fp.ErrorCode == 0 && fp.HighWatermark == 6
			})
			batches, err := wire.SplitBatches(fp.RecordBatches)
			if err != nil {
				t.Fatal(err)
			}
			var epochs []int32
			for _, b := range batches {
				bh, err := wire.ParseBatchHeader(b)
				if err != nil {
					t.Fatal(err)
				}
				epochs = append(epochs, bh.PartitionLeaderEpoch)
			}
			grows := len(epochs) == 6
			for k := 1; k < len(epochs); k++ {
				grows = grows && epochs[k] > epochs[k-1]
			}
			if bug == "" && !grows {
				t.Fatalf("epochs of records produced in six leaderships: %v, want each above the last", epochs)
			}
			if bug != "" && grows {
				t.Fatalf("planted epoch-not-term: epochs %v still grow with every leadership", epochs)
			}
			t.Logf("epochs %v", epochs)
		})
	}
}
