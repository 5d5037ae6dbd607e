package node

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// appliedCounter counts the entries a node applies, per group.
type appliedCounter map[uint64]int

func (c appliedCounter) Applied(group, _, _ uint64, _ []byte) { c[group]++ }

// TestRestartResumesFromCheckpoint: a restart applies only the entries
// after the partition's last checkpoint, and ends with the state that
// replaying everything gives (same digest, same records); the planted
// BugCheckpointAhead, a checkpoint naming entries it does not hold, loses
// records at that restart.
func TestRestartResumesFromCheckpoint(t *testing.T) {
	for _, bug := range []string{"", BugCheckpointAhead} {
		t.Run("bug="+bug, func(t *testing.T) {
			var counter appliedCounter
			h := newHarness(t, 1, func(c *Config) {
				c.CheckpointBytes = 512
				c.Bug = bug
				counter = appliedCounter{}
				c.Observer = counter
			})
			waitTopic(t, h, 1, "ck")
			p := &producer{id: -1, epoch: -1, seq: -1}
			h.until(5*time.Second, "a served produce", func() bool {
				return produceOne(t, h, 1, "ck", nil, "v0").ErrorCode == 0
			})
			want := []string{"0:v0"}
			const records = 60
			for i := 1; i < records; i++ {
				v := fmt.Sprintf("value-%03d", i)
				if r := produceOne(t, h, 1, "ck", nil, v); r.ErrorCode != 0 || r.BaseOffset != int64(i) {
					t.Fatalf("produce %d: code %d base %d", i, r.ErrorCode, r.BaseOffset)
				}
				want = append(want, fmt.Sprintf("%d:%s", i, v))
			}
			_ = p
			var group uint64
			for _, s := range h.nodes[1].n.Status() {
				if s.Topic == "ck" {
					group = s.Group
				}
			}
			before, _, err := h.nodes[1].n.Digest(group)
			if err != nil {
				t.Fatal(err)
			}
			applied := counter[group]
			fs := h.crash(1)
			h.start(1, fs)
			var got []string
			h.until(10*time.Second, "the log served again", func() bool {
				var fp kmsg.FetchResponseTopicPartition
				fp, got = fetchAll(t, h, 1, "ck")
				return fp.ErrorCode == 0 && fp.HighWatermark >= int64(records)-5
			})
			after, _, err := h.nodes[1].n.Digest(group)
			if err != nil {
				t.Fatal(err)
			}
			if bug != "" {
				if cmp.Equal(want, got) && before.Digest == after.Digest {
					t.Fatalf("the planted %s restarted with every record and the same state", bug)
				}
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("after restart (-want +got):\n%s", diff)
			}
			if before.Digest != after.Digest || before.HighWatermark != after.HighWatermark {
				t.Fatalf("state after the restart differs: before %+v, after %+v", before, after)
			}
			if replayed := counter[group]; replayed == 0 || replayed > applied/2 {
				t.Fatalf("the restart applied %d entries of the partition (%d before it): want a few, past the checkpoint", replayed, applied)
			}
		})
	}
}

// TestRestoredStateOwnsItsBytes: a partition restored from an encoded state
// (a checkpoint or snapshot) keeps nothing of the buffer it was read from:
// the wal reuses and the raft messages carry theirs. kmsg's ReadFrom keeps
// references into what it reads, so without a copy a later checkpoint
// written over the old one rewrote a restored group's assignment (swarm
// seed 108: replicas' folds differed at one applied index).
func TestRestoredStateOwnsItsBytes(t *testing.T) {
	p := newPartState(offsetsTopic, 0, 1)
	meta := kmsg.NewGroupMetadataValue()
	meta.Version, meta.ProtocolType, meta.Generation = 3, "consumer", 4
	meta.Protocol, meta.Leader = kmsg.StringPtr("range"), kmsg.StringPtr("m1")
	m := kmsg.NewGroupMetadataValueMember()
	m.MemberID, m.Subscription, m.Assignment = "m1", []byte("subscription bytes"), []byte("assignment bytes")
	meta.Members = append(meta.Members, m)
	p.coord.groups["g"] = &groupRec{name: "g", meta: &meta, offsets: map[tpKey]offsetRec{{"t", 0}: {offset: 7, metadata: "md", expireTS: -1}}}
	data := p.encodeState(9, 9)
	q := newPartState(offsetsTopic, 0, 1)
	if _, err := q.restoreState(data, 9); err != nil {
		t.Fatal(err)
	}
	want := q.coord.appendTo(nil)
	clear(data)
	if got := q.coord.appendTo(nil); !bytes.Equal(got, want) {
		t.Fatal("the restored fold changed when the buffer it was read from was overwritten")
	}
	if !bytes.Equal(want, p.coord.appendTo(nil)) {
		t.Fatal("the restored fold is not the one encoded")
	}
}
