package node

import (
	"fmt"
	"sort"
	"testing"

	"pgregory.net/rapid"
)

// drawAssignInput draws topics and members; with homo every member
// subscribes to the same topics.
func drawAssignInput(t *rapid.T, homo bool) ([]assignTopic, []assignMember) {
	nt := rapid.IntRange(1, 4).Draw(t, "topics")
	topics := make([]assignTopic, nt)
	for i := range topics {
		var id [16]byte
		id[0] = byte(nt - i) // id order differs from name order
		topics[i] = assignTopic{name: fmt.Sprintf("t%d", i), id: id, partitions: int32(rapid.IntRange(0, 12).Draw(t, "parts"))}
	}
	nm := rapid.IntRange(1, 7).Draw(t, "members")
	shared := map[string]bool{}
	for _, tp := range topics {
		if rapid.Bool().Draw(t, "sub") {
			shared[tp.name] = true
		}
	}
	members := make([]assignMember, nm)
	for i := range members {
		subs := shared
		if !homo {
			subs = map[string]bool{}
			for _, tp := range topics {
				if rapid.Bool().Draw(t, "sub") {
					subs[tp.name] = true
				}
			}
		}
		inst := ""
		if rapid.Bool().Draw(t, "static") {
			inst = fmt.Sprintf("i%d", rapid.IntRange(0, 9).Draw(t, "inst"))
		}
		members[i] = assignMember{id: fmt.Sprintf("m%02d", i), instanceID: inst, topics: subs}
	}
	// Instance ids are unique in a group.
	seen := map[string]bool{}
	for i := range members {
		if seen[members[i].instanceID] {
			members[i].instanceID = ""
		}
		if members[i].instanceID != "" {
			seen[members[i].instanceID] = true
		}
	}
	return topics, members
}

// checkExactlyOnce: every partition some member subscribes to is assigned to
// exactly one member, and only to a subscriber.
func checkExactlyOnce(t *rapid.T, topics []assignTopic, members []assignMember, out map[string]partSet) {
	if len(out) != len(members) {
		t.Fatalf("assignment has %d members, want %d", len(out), len(members))
	}
	owners := map[assignTP]string{}
	for _, m := range members {
		for id, ps := range out[m.id] {
			if !sort.SliceIsSorted(ps, func(i, j int) bool { return ps[i] < ps[j] }) {
				t.Fatalf("member %s: partitions %v not sorted", m.id, ps)
			}
			var name string
			var n int32 = -1
			for _, tp := range topics {
				if tp.id == id {
					name, n = tp.name, tp.partitions
				}
			}
			if n < 0 {
				t.Fatalf("member %s assigned unknown topic %v", m.id, id)
			}
			if !m.topics[name] {
				t.Fatalf("member %s assigned %s it does not subscribe to", m.id, name)
			}
			for _, p := range ps {
				if p < 0 || p >= n {
					t.Fatalf("member %s assigned %s/%d of %d", m.id, name, p, n)
				}
				k := assignTP{name, id, p}
				if o, dup := owners[k]; dup {
					t.Fatalf("%s/%d assigned to %s and %s", name, p, o, m.id)
				}
				owners[k] = m.id
			}
		}
	}
	for _, tp := range sortedTPs(topics) {
		subscribed := false
		for _, m := range members {
			subscribed = subscribed || m.topics[tp.topic]
		}
		if _, ok := owners[tp]; subscribed && !ok {
			t.Fatalf("%s/%d is subscribed but unassigned", tp.topic, tp.part)
		}
	}
}

func countsOf(members []assignMember, out map[string]partSet) map[string]int {
	c := map[string]int{}
	for _, m := range members {
		c[m.id] = out[m.id].count()
	}
	return c
}

func TestAssignUniformProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		homo := rapid.Bool().Draw(t, "homogeneous")
		topics, members := drawAssignInput(t, homo)
		// A previous assignment: arbitrary, possibly invalid (stale topics,
		// partitions past the end, two owners of one partition).
		prev := map[string]partSet{}
		for _, m := range members {
			if rapid.Bool().Draw(t, "hasPrev") {
				ps := partSet{}
				for _, tp := range topics {
					for p := int32(0); p < tp.partitions+2; p++ {
						if rapid.IntRange(0, 3).Draw(t, "own") == 0 {
							ps.add(tp.id, p)
						}
					}
				}
				prev[m.id] = ps
			}
		}
		out := assignUniform(topics, members, prev)
		checkExactlyOnce(t, topics, members, out)

		counts := countsOf(members, out)
		if homo {
			lo, hi := -1, -1
			for _, c := range counts {
				if lo < 0 || c < lo {
					lo = c
				}
				if c > hi {
					hi = c
				}
			}
			if hi-lo > 1 {
				t.Fatalf("identical subscriptions, counts %v differ by more than one", counts)
			}
		}
		// No partition could move to a subscriber with two or more fewer.
		for _, m := range members {
			for id, ps := range out[m.id] {
				var name string
				for _, tp := range topics {
					if tp.id == id {
						name = tp.name
					}
				}
				for _, o := range members {
					if o.topics[name] && counts[o.id] < counts[m.id]-1 && len(ps) > 0 {
						t.Fatalf("%s holds %d (%s) while subscriber %s holds %d", m.id, counts[m.id], name, o.id, counts[o.id])
					}
				}
			}
		}

		// Sticky: recomputing from its own output changes nothing.
		again := assignUniform(topics, members, out)
		for _, m := range members {
			if !again[m.id].equal(out[m.id]) {
				t.Fatalf("not a fixed point: %s had %v, recomputed %v", m.id, out[m.id], again[m.id])
			}
		}

		// Sticky with identical subscriptions: after a member joins or
		// leaves, every remaining member keeps at least the floor of the new
		// quota of what it had (Kafka's uniform assignor moves only what
		// balance needs).
		if homo {
			next := members
			if len(members) > 1 && rapid.Bool().Draw(t, "leave") {
				next = members[1:]
			} else {
				next = append(append([]assignMember(nil), members...), assignMember{id: "zz", topics: members[0].topics})
			}
			after := assignUniform(topics, next, out)
			checkExactlyOnce(t, topics, next, after)
			total := 0
			for _, c := range countsOf(next, after) {
				total += c
			}
			quota := total / len(next)
			for _, m := range next {
				kept := 0
				for id, ps := range out[m.id] {
					for _, p := range ps {
						if after[m.id].has(id, p) {
							kept++
						}
					}
				}
				if want := min(out[m.id].count(), quota); kept < want {
					t.Fatalf("%s kept %d of %d, quota %d: moved more than balance needs", m.id, kept, out[m.id].count(), quota)
				}
			}
		}
	})
}

func TestAssignRangeProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		homo := rapid.Bool().Draw(t, "homogeneous")
		topics, members := drawAssignInput(t, homo)
		out := assignRange(topics, members)
		checkExactlyOnce(t, topics, members, out)
		// Per topic: subscribers' shares are within one and contiguous, and
		// ordered static (by instance id) before dynamic (by member id).
		for _, tp := range topics {
			var subs []assignMember
			for _, m := range members {
				if m.topics[tp.name] {
					subs = append(subs, m)
				}
			}
			sort.Slice(subs, func(i, j int) bool {
				a, b := subs[i], subs[j]
				if (a.instanceID != "") != (b.instanceID != "") {
					return a.instanceID != ""
				}
				if a.instanceID != b.instanceID {
					return a.instanceID < b.instanceID
				}
				return a.id < b.id
			})
			next := int32(0)
			for i, m := range subs {
				ps := out[m.id][tp.id]
				want := int(tp.partitions) / len(subs)
				if i < int(tp.partitions)%len(subs) {
					want++
				}
				if len(ps) != want {
					t.Fatalf("%s: %s got %d partitions, want %d", tp.name, m.id, len(ps), want)
				}
				for _, p := range ps {
					if p != next {
						t.Fatalf("%s: %s got %v, not the range starting at %d", tp.name, m.id, ps, next)
					}
					next++
				}
			}
		}
	})
}

func TestAssignRangeCoPartitions(t *testing.T) {
	a, b := [16]byte{1}, [16]byte{2}
	topics := []assignTopic{{"a", a, 3}, {"b", b, 3}}
	subs := map[string]bool{"a": true, "b": true}
	out := assignRange(topics, []assignMember{{id: "m2", topics: subs}, {id: "m1", topics: subs}, {id: "m9", instanceID: "x", topics: subs}})
	// The static member sorts first; every member gets the same partition
	// number of both topics.
	for id, want := range map[string]int32{"m9": 0, "m1": 1, "m2": 2} {
		if !out[id].equal(partSet{a: {want}, b: {want}}) {
			t.Fatalf("%s got %v, want partition %d of both", id, out[id], want)
		}
	}
}

func TestPartSet(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := partSet{}
		model := map[int32]bool{}
		id := [16]byte{7}
		for _, op := range rapid.SliceOf(rapid.IntRange(-20, 20)).Draw(t, "ops") {
			p := int32(op)
			if p < 0 {
				s.remove(id, -p)
				delete(model, -p)
			} else {
				s.add(id, p)
				model[p] = true
			}
			if s.count() != len(model) {
				t.Fatalf("count %d, model %d", s.count(), len(model))
			}
			for q := range model {
				if !s.has(id, q) {
					t.Fatalf("lost %d", q)
				}
			}
			if len(model) == 0 && len(s) != 0 {
				t.Fatalf("empty topic kept: %v", s)
			}
		}
	})
}
