package node

import (
	"bytes"
	"sort"
)

// The server-side assignors of KIP-848 consumer groups, as Kafka 4.x ships
// them: "uniform" (the default; sticky, balanced) and "range" (per topic,
// contiguous ranges to the subscribers in order). They are pure functions of
// the group's members, their subscriptions, the topics and (for uniform) the
// previous target assignment, so every replica that recomputes one gets the
// same answer and the property tests can drive them directly.

const (
	assignorUniform = "uniform"
	assignorRange   = "range"
)

// validAssignor is what a ConsumerGroupHeartbeat may name in ServerAssignor;
// anything else is UNSUPPORTED_ASSIGNOR, as Kafka answers.
func validAssignor(name string) bool { return name == assignorUniform || name == assignorRange }

// partSet is a set of partitions by topic id; each slice is sorted and
// holds no duplicates.
type partSet map[[16]byte][]int32

func (s partSet) count() int {
	n := 0
	for _, ps := range s {
		n += len(ps)
	}
	return n
}

func (s partSet) has(id [16]byte, p int32) bool {
	ps := s[id]
	i := sort.Search(len(ps), func(i int) bool { return ps[i] >= p })
	return i < len(ps) && ps[i] == p
}

func (s partSet) add(id [16]byte, p int32) {
	ps := s[id]
	i := sort.Search(len(ps), func(i int) bool { return ps[i] >= p })
	if i < len(ps) && ps[i] == p {
		return
	}
	ps = append(ps, 0)
	copy(ps[i+1:], ps[i:])
	ps[i] = p
	s[id] = ps
}

func (s partSet) remove(id [16]byte, p int32) {
	ps := s[id]
	i := sort.Search(len(ps), func(i int) bool { return ps[i] >= p })
	if i == len(ps) || ps[i] != p {
		return
	}
	ps = append(ps[:i:i], ps[i+1:]...)
	if len(ps) == 0 {
		delete(s, id)
		return
	}
	s[id] = ps
}

func (s partSet) clone() partSet {
	if s == nil {
		return nil // nil stays "unknown", as a heartbeat's absent owned list
	}
	c := make(partSet, len(s))
	for id, ps := range s {
		c[id] = append([]int32(nil), ps...)
	}
	return c
}

func (s partSet) equal(o partSet) bool {
	if len(s) != len(o) {
		return false
	}
	for id, ps := range s {
		qs, ok := o[id]
		if !ok || len(qs) != len(ps) {
			return false
		}
		for i := range ps {
			if ps[i] != qs[i] {
				return false
			}
		}
	}
	return true
}

// ids returns the topic ids of s in byte order, for output that must not
// depend on map order.
func (s partSet) ids() [][16]byte {
	out := make([][16]byte, 0, len(s))
	for id := range s {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	return out
}

// assignTopic is a topic some member subscribes to, as the metadata knows it.
type assignTopic struct {
	name       string
	id         [16]byte
	partitions int32
}

// assignMember is one member's input to an assignor: its resolved
// subscription (topic names) and, for range, its instance id.
type assignMember struct {
	id         string
	instanceID string // "" for a dynamic member
	topics     map[string]bool
}

type assignTP struct {
	topic string
	id    [16]byte
	part  int32
}

// assignPartitions runs the named assignor. prev is the previous target
// assignment by member id (members absent from it start empty); the result
// has an entry, possibly empty, for every member.
func assignPartitions(assignor string, topics []assignTopic, members []assignMember, prev map[string]partSet) map[string]partSet {
	if assignor == assignorRange {
		return assignRange(topics, members)
	}
	return assignUniform(topics, members, prev)
}

// sortedTPs lists every partition of topics, by topic name then partition.
func sortedTPs(topics []assignTopic) []assignTP {
	ts := append([]assignTopic(nil), topics...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	var out []assignTP
	for _, t := range ts {
		for p := int32(0); p < t.partitions; p++ {
			out = append(out, assignTP{t.name, t.id, p})
		}
	}
	return out
}

// assignUniform is Kafka's uniform assignor: every subscribed partition goes
// to exactly one subscriber; members keep what they had as far as balance
// allows (each partition that moves costs a revocation round trip); and no
// partition sits with a member that has two or more partitions than another
// subscriber of its topic could take (with identical subscriptions: counts
// within one of each other).
func assignUniform(topics []assignTopic, members []assignMember, prev map[string]partSet) map[string]partSet {
	out := make(map[string]partSet, len(members))
	if len(members) == 0 {
		return out
	}
	ms := append([]assignMember(nil), members...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	tps := sortedTPs(topics)
	exists := make(map[[16]byte]string, len(topics)) // id -> name
	nparts := make(map[[16]byte]int32, len(topics))
	for _, t := range topics {
		exists[t.id] = t.name
		nparts[t.id] = t.partitions
	}
	owner := make(map[assignTP]int, len(tps)) // index into ms
	counts := make([]int, len(ms))
	for i, m := range ms {
		out[m.id] = partSet{}
		// Keep the previous target where it is still valid: the topic
		// exists with that partition, the member subscribes to it, and
		// no earlier member already kept it.
		for _, id := range prev[m.id].ids() {
			name, ok := exists[id]
			if !ok || !m.topics[name] {
				continue
			}
			for _, p := range prev[m.id][id] {
				tp := assignTP{name, id, p}
				if p < 0 || p >= nparts[id] {
					continue
				}
				if _, taken := owner[tp]; taken {
					continue
				}
				owner[tp] = i
				out[m.id].add(id, p)
				counts[i]++
			}
		}
	}

	// With identical subscriptions the quota is known up front: each member
	// gets floor(N/M) or one more. The members that already hold the most
	// keep the extra ones, so shedding moves as little as possible.
	if homogeneous(ms) {
		total := 0
		for _, tp := range tps {
			if ms[0].topics[tp.topic] {
				total++
			}
		}
		minQuota, extra := total/len(ms), total%len(ms)
		order := make([]int, len(ms))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return counts[order[a]] > counts[order[b]] })
		for rank, i := range order {
			quota := minQuota
			if rank < extra {
				quota++
			}
			for counts[i] > quota {
				// Shed the last partition in (topic name, partition) order.
				var last assignTP
				found := false
				for _, tp := range tps {
					if o, ok := owner[tp]; ok && o == i {
						last, found = tp, true
					}
				}
				if !found {
					break
				}
				delete(owner, last)
				out[ms[i].id].remove(last.id, last.part)
				counts[i]--
			}
		}
	}

	// Give every unowned partition to its least loaded subscriber.
	for _, tp := range tps {
		if _, ok := owner[tp]; ok {
			continue
		}
		best := -1
		for i, m := range ms {
			if m.topics[tp.topic] && (best < 0 || counts[i] < counts[best]) {
				best = i
			}
		}
		if best < 0 {
			continue
		}
		owner[tp] = best
		out[ms[best].id].add(tp.id, tp.part)
		counts[best]++
	}

	// With different subscriptions, balance: move a partition from a member
	// to a subscriber of its topic with two or more fewer. Each move lowers
	// the sum of squared counts, so the loop ends; the bound is a backstop.
	// (With identical ones the quota and least-loaded fill are balanced.)
	for moves, movesMax := 0, len(tps)*len(ms)+1; !homogeneous(ms) && moves < movesMax; moves++ {
		moved := false
		for _, tp := range tps {
			from, ok := owner[tp]
			if !ok {
				continue
			}
			to := -1
			for i, m := range ms {
				if m.topics[tp.topic] && counts[i] < counts[from]-1 && (to < 0 || counts[i] < counts[to]) {
					to = i
				}
			}
			if to < 0 {
				continue
			}
			out[ms[from].id].remove(tp.id, tp.part)
			out[ms[to].id].add(tp.id, tp.part)
			owner[tp] = to
			counts[from]--
			counts[to]++
			moved = true
			break
		}
		if !moved {
			break
		}
	}
	return out
}

func homogeneous(ms []assignMember) bool {
	for _, m := range ms[1:] {
		if len(m.topics) != len(ms[0].topics) {
			return false
		}
		for t := range m.topics {
			if !ms[0].topics[t] {
				return false
			}
		}
	}
	return true
}

// assignRange is Kafka's range assignor: per topic, the subscribers in order
// (static members by instance id first, then dynamic members by member id)
// take contiguous ranges, the first N%M of them one partition more. Members
// with the same subscriptions thus get the same partition numbers of
// co-partitioned topics. It is positional, not sticky.
func assignRange(topics []assignTopic, members []assignMember) map[string]partSet {
	out := make(map[string]partSet, len(members))
	ms := append([]assignMember(nil), members...)
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		if (a.instanceID != "") != (b.instanceID != "") {
			return a.instanceID != ""
		}
		if a.instanceID != b.instanceID {
			return a.instanceID < b.instanceID
		}
		return a.id < b.id
	})
	for _, m := range ms {
		out[m.id] = partSet{}
	}
	ts := append([]assignTopic(nil), topics...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	for _, t := range ts {
		var subs []string
		for _, m := range ms {
			if m.topics[t.name] {
				subs = append(subs, m.id)
			}
		}
		if len(subs) == 0 || t.partitions <= 0 {
			continue
		}
		n := int(t.partitions)
		minQuota, extra := n/len(subs), n%len(subs)
		next := 0
		for i, id := range subs {
			quota := minQuota
			if i < extra {
				quota++
			}
			for p := next; p < next+quota; p++ {
				out[id].add(t.id, int32(p))
			}
			next += quota
		}
	}
	return out
}
