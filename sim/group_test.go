package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"

	"github.com/ketch-dev/ketch/checker"
)

// leaderFor is a group leader of a world holding the given topics (live),
// speaking protocol.
func leaderFor(topics []TopicSpec, protocol string) *groupMember {
	w := &World{}
	for _, t := range topics {
		ts := &topicState{spec: t}
		ts.setLive(0, nil)
		w.topics = append(w.topics, ts)
	}
	return &groupMember{c: &client{w: w}, group: "g", protocol: protocol}
}

func joinMember(id string, topics []string, owned map[string][]int32) kmsg.JoinGroupResponseMember {
	md := kmsg.NewConsumerMemberMetadata()
	md.Version = 1
	md.Topics = topics
	for _, t := range topics {
		if ps := owned[t]; len(ps) > 0 {
			md.OwnedPartitions = append(md.OwnedPartitions, kmsg.ConsumerMemberMetadataOwnedPartition{Topic: t, Partitions: ps})
		}
	}
	return kmsg.JoinGroupResponseMember{MemberID: id, ProtocolMetadata: md.AppendTo(nil)}
}

// decoded maps member -> topic -> partitions of an assignment.
func decodedAssignment(t *rapid.T, as []kmsg.SyncGroupRequestGroupAssignment) map[string]map[string][]int32 {
	out := map[string]map[string][]int32{}
	for _, a := range as {
		var ma kmsg.ConsumerMemberAssignment
		if err := ma.ReadFrom(a.MemberAssignment); err != nil {
			t.Fatalf("member %s: assignment does not decode: %v", a.MemberID, err)
		}
		out[a.MemberID] = map[string][]int32{}
		for _, mt := range ma.Topics {
			out[a.MemberID][mt.Topic] = append(out[a.MemberID][mt.Topic], mt.Partitions...)
		}
	}
	return out
}

// Every assignor gives each partition to exactly one member; an eager one
// (range, roundrobin) at once, within one partition of balance per topic
// (range) or overall (roundrobin). Cooperative-sticky never hands a member
// a partition another member still reports owning, and once the owners
// have revoked what they lost, the next round assigns everything, balanced
// within one.
func TestAssignors(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nt := rapid.IntRange(1, 3).Draw(t, "topics")
		var specs []TopicSpec
		var names []string
		total := 0
		for i := 0; i < nt; i++ {
			p := rapid.IntRange(1, 9).Draw(t, "partitions")
			specs = append(specs, TopicSpec{Name: fmt.Sprintf("t%d", i), Partitions: int32(p)})
			names = append(names, fmt.Sprintf("t%d", i))
			total += p
		}
		protocol := rapid.SampledFrom([]string{"range", "roundrobin", "cooperative-sticky"}).Draw(t, "protocol")
		g := leaderFor(specs, protocol)
		nm := rapid.IntRange(1, 5).Draw(t, "members")
		// Owned partitions as a previous generation left them: each
		// partition with at most one owner (some members may be new).
		owned := make([]map[string][]int32, nm)
		for m := range owned {
			owned[m] = map[string][]int32{}
		}
		if protocol == "cooperative-sticky" {
			for _, s := range specs {
				for p := int32(0); p < s.Partitions; p++ {
					if m := rapid.IntRange(-1, nm-1).Draw(t, "owner"); m >= 0 {
						owned[m][s.Name] = append(owned[m][s.Name], p)
					}
				}
			}
		}
		round := func() map[string]map[string][]int32 {
			var ms []kmsg.JoinGroupResponseMember
			for m := 0; m < nm; m++ {
				ms = append(ms, joinMember(fmt.Sprintf("m%d", m), names, owned[m]))
			}
			return decodedAssignment(t, g.assign(ms))
		}
		got := round()
		count := map[string]int{}
		per := map[string]int{}
		for m, byTopic := range got {
			for topic, ps := range byTopic {
				for _, p := range ps {
					k := fmt.Sprintf("%s/%d", topic, p)
					count[k]++
					per[m]++
					if protocol != "cooperative-sticky" {
						continue
					}
					for o := 0; o < nm; o++ {
						if fmt.Sprintf("m%d", o) == m {
							continue
						}
						for _, q := range owned[o][topic] {
							if q == p {
								t.Fatalf("%s given to %s while m%d still owns it", k, m, o)
							}
						}
					}
				}
			}
		}
		for k, n := range count {
			if n > 1 {
				t.Fatalf("%s assigned %d times: %v", k, n, got)
			}
		}
		if protocol == "cooperative-sticky" {
			// The owners revoke what they were not given, and rejoin.
			for m := 0; m < nm; m++ {
				owned[m] = got[fmt.Sprintf("m%d", m)]
			}
			got = round()
			count, per = map[string]int{}, map[string]int{}
			for m, byTopic := range got {
				for topic, ps := range byTopic {
					for _, p := range ps {
						count[fmt.Sprintf("%s/%d", topic, p)]++
						per[m]++
					}
				}
			}
		}
		if len(count) != total {
			t.Fatalf("%s: %d of %d partitions assigned: %v", protocol, len(count), total, got)
		}
		if protocol != "range" {
			lo, hi := total, 0
			for m := 0; m < nm; m++ {
				n := per[fmt.Sprintf("m%d", m)]
				lo, hi = min(lo, n), max(hi, n)
			}
			if hi-lo > 1 {
				t.Fatalf("%s: unbalanced, %d to %d partitions a member: %v", protocol, lo, hi, got)
			}
		}
	})
}

// A fault aimed at the coordinator reads and prints as node=coordinator;
// a negative number is no node.
func TestCoordinatorFaultTarget(t *testing.T) {
	in := "pause@2s+3s node=coordinator; coord-crash@4s+2s node=leader"
	fs, err := ParseFaults(in)
	if err != nil {
		t.Fatal(err)
	}
	if fs[0].Node != NodeCoordinator || fs[1].Kind != CoordCrash {
		t.Fatalf("parsed %+v", fs)
	}
	if out := FormatFaults(fs, "; "); out != in {
		t.Fatalf("printed %q, want %q", out, in)
	}
	if _, err := ParseFaults("pause@2s node=-1"); err == nil {
		t.Fatal("node=-1 accepted")
	}
}

// With group consumers, the same seed twice gives the same trace and the
// same group history, and the consumers did form groups.
func TestGroupDeterminism(t *testing.T) {
	cfg := func() Config {
		return Config{Seed: 5, Scenario: "group-determinism", Duration: 8 * time.Second, Quiet: 4 * time.Second,
			Topics: []TopicSpec{{Name: "a", Partitions: 3}}, Producers: 2, IdempotentProducers: 1, Consumers: 1,
			GroupConsumers: 6, Groups: 3,
			Faults: []Fault{{At: 2 * time.Second, For: 3 * time.Second, Kind: CoordCrash},
				{At: 5 * time.Second, For: time.Second, Kind: Crash, Node: NodeCoordinator}}}
	}
	a, b := Run(cfg()), Run(cfg())
	if a.TraceHash != b.TraceHash {
		t.Fatalf("seed 5 twice: traces differ (%s vs %s)", a.TraceHash, b.TraceHash)
	}
	if diff := cmp.Diff(a.Groups, b.Groups); diff != "" {
		t.Fatalf("seed 5 twice: group histories differ:\n%s", diff)
	}
	syncs := 0
	for _, op := range a.Groups {
		if op.Kind == checker.GroupSync && op.OK {
			syncs++
		}
	}
	if syncs < 6 {
		t.Fatalf("only %d successful syncs in %d group events", syncs, len(a.Groups))
	}
}
