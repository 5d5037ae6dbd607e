package checker

// The consumer-group checks. Group clients record what the coordinator told
// them (GroupHistory); CheckGroups judges it together with the partitions'
// History (which records producers were told were written). Each check is a
// property of the group as its members can see it, not of one mechanism of
// the coordinator:
//
//   - commit-backwards: a group's committed offset for a partition never goes
//     back, unless a client asked for it (a seek or an offset reset). An
//     acknowledged commit or an OffsetFetch answer is an observation of the
//     committed offset; one that started after another ended must not show
//     less.
//   - offset-fetch-stale: the same, where the later observation is an
//     OffsetFetch answer and the earlier an acknowledged commit: a new
//     coordinator answering from a state it has not finished loading
//     (KAFKA-16030), or from one that never held the commit.
//   - commit-above-hw: a commit is never above the high watermark the
//     committing client was told for the partition.
//   - two-owners: in one generation of a group, no partition is assigned to
//     two members (a static member, group.instance.id, is one member across
//     its member ids); in a KIP-848 group, whose members' epochs move one
//     member at a time, no partition is held by two members at once
//     (groups848.go).
//   - fenced-commit: a commit is accepted only from the generation current
//     when it applied: never one of a generation older than one some member
//     was already given an assignment in, nor one naming a static member's
//     member id after that instance joined under another; in a KIP-848
//     group, never one naming a member epoch older than one that member
//     was already given.
//   - undelivered: every acknowledged record below an acknowledged commit of
//     the group was delivered to some member of the group (at least once).
//
// Offsets may expire (offsets.retention.minutes), and then a group's
// committed offset legitimately goes back to none. Kafka expires a group's
// offsets only once the group has had no members (a classic group: for the
// retention, after its last session ended; a KIP-848 group: once empty, its
// offsets older than the retention). GroupRules.Expiry gives, per group, how
// long the coordinator must have heard from none of its members before an
// offset may be gone; an observation that went back is excused only across
// such a silence. A coordinator that expires the offsets of a group whose
// members are alive (KAFKA-13636: during a rebalance) is still caught.

import (
	"fmt"
	"sort"
)

// GroupKind says what a group client's event was.
type GroupKind uint8

const (
	// GroupJoin is a JoinGroup answer: Generation, Member, Leader, and for
	// the leader Members (every member id of the generation).
	GroupJoin GroupKind = iota + 1
	// GroupSync is a SyncGroup answer: the member's Assignment in
	// Generation.
	GroupSync
	// GroupCommit is one partition of an OffsetCommit: Offset committed
	// with Generation and Member, HighWatermark the client had been told
	// for the partition; OK when accepted, Err when refused, Ambiguous when
	// no answer came.
	GroupCommit
	// GroupOffsetFetch is one partition of an OffsetFetch answer: Offset
	// the committed offset (-1: none).
	GroupOffsetFetch
	// GroupDeliver is records handed to a member: offsets Offset to End-1
	// of Partition, all of them.
	GroupDeliver
	// GroupSeek is a client moving its position on its own (a seek, or an
	// offset reset after OFFSET_OUT_OF_RANGE) to Offset: its next commit of
	// the partition may go back.
	GroupSeek
	// GroupCoordinatorError is a coordinator's refusal that sends the
	// client elsewhere or to wait (NOT_COORDINATOR,
	// COORDINATOR_LOAD_IN_PROGRESS ...): Err, the API in Partition.
	GroupCoordinatorError
	// GroupHeartbeat is a Heartbeat answer (Err: its error, if any).
	GroupHeartbeat
	// GroupLeave is a LeaveGroup answer.
	GroupLeave
	// GroupAssign is a KIP-848 ConsumerGroupHeartbeat answer carrying an
	// assignment, as the member took it: Assignment (every partition it
	// now holds or was told to keep) at member epoch Generation. What the
	// member did not hold before it holds from Return (groups848.go).
	GroupAssign
	// GroupRelease is a KIP-848 member no longer holding the partitions in
	// Assignment, from Call: its revocation done (the heartbeat that
	// stops listing them goes out next), a leave, or, with Err set, an
	// assignment lost (fenced, forgotten, the process restarted), where
	// Call is the last heartbeat the coordinator answered before: after it
	// the coordinator may have given them away without telling the member.
	GroupRelease
)

func (k GroupKind) String() string {
	switch k {
	case GroupJoin:
		return "join"
	case GroupSync:
		return "sync"
	case GroupCommit:
		return "commit"
	case GroupOffsetFetch:
		return "offset-fetch"
	case GroupDeliver:
		return "deliver"
	case GroupSeek:
		return "seek"
	case GroupCoordinatorError:
		return "coordinator-error"
	case GroupHeartbeat:
		return "heartbeat"
	case GroupLeave:
		return "leave"
	case GroupAssign:
		return "assign"
	case GroupRelease:
		return "release"
	}
	return fmt.Sprintf("group-kind(%d)", uint8(k))
}

// GroupOp is one event a group client recorded.
type GroupOp struct {
	Kind   GroupKind
	Group  string
	Client int
	Node   uint64 // the node that answered (0: none)
	Call   int64
	Return int64 // ignored when Ambiguous

	OK        bool
	Ambiguous bool
	Err       string // the Kafka error of a refusal

	Generation int32
	Member     string
	Instance   string   // group.instance.id; "" for a dynamic member
	Leader     bool     // Join: this member leads the generation
	Members    []string // Join answered to the leader: the generation's member ids
	Assignment []string // Sync: the partitions assigned, by history name

	Partition     string // history name, as in History ("t/0", "t#2/0")
	Offset        int64
	End           int64 // Deliver: one past the last offset
	HighWatermark int64 // Commit: the highest the client was told for Partition
	// Reset marks a commit made after the client moved its position on its
	// own since its last commit of the partition (GroupSeek).
	Reset bool
}

// GroupHistory is every group event of a run, in any order.
type GroupHistory []GroupOp

// Group anomaly kinds.
const (
	KindCommitBackwards  = "commit-backwards"
	KindOffsetFetchStale = "offset-fetch-stale"
	KindCommitAboveHW    = "commit-above-hw"
	KindTwoOwners        = "two-owners"
	KindFencedCommit     = "fenced-commit"
	KindUndelivered      = "undelivered"
)

func describeGroupOp(i int, op *GroupOp) string {
	s := fmt.Sprintf("gop#%d client %d %s group %s", i, op.Client, op.Kind, op.Group)
	if op.Member != "" || op.Generation != 0 {
		s += fmt.Sprintf(" gen %d member %s", op.Generation, op.Member)
	}
	if op.Instance != "" {
		s += " instance " + op.Instance
	}
	switch op.Kind {
	case GroupCommit:
		s += fmt.Sprintf(" %s offset %d (hw seen %d)", op.Partition, op.Offset, op.HighWatermark)
		if op.Reset {
			s += " after a reset"
		}
	case GroupOffsetFetch, GroupSeek:
		s += fmt.Sprintf(" %s offset %d", op.Partition, op.Offset)
	case GroupDeliver:
		s += fmt.Sprintf(" %s offsets %d..%d", op.Partition, op.Offset, op.End-1)
	case GroupSync, GroupAssign:
		s += fmt.Sprintf(" assigned %v", op.Assignment)
	case GroupRelease:
		s += fmt.Sprintf(" released %v", op.Assignment)
	}
	switch {
	case op.Ambiguous:
		s += " ambiguous"
	case op.OK:
		s += " ok"
	default:
		s += " refused"
	}
	if op.Err != "" {
		s += " err=" + op.Err
	}
	if op.Node != 0 {
		s += fmt.Sprintf(" from node %d", op.Node)
	}
	if op.Ambiguous {
		return s + fmt.Sprintf(" called %d", op.Call)
	}
	return s + fmt.Sprintf(" [%d,%d]", op.Call, op.Return)
}

// GroupRules is what a run allows a coordinator to do on its own.
type GroupRules struct {
	// Expiry, per group, is the shortest silence (no coordinator answer
	// acknowledging any member of the group: a join, sync, heartbeat or
	// commit) after which the group's offsets may have expired. A group
	// not listed keeps its offsets for the whole run.
	Expiry map[string]int64
}

// CheckGroups runs every group check with offsets that never expire; h is
// the run's partition history (its acknowledged produces are the records
// every group must have been handed below its commits). Anomalies come in a
// stable order, at most anomaliesPerKindMax of each kind.
func CheckGroups(h History, gh GroupHistory) []Anomaly {
	return CheckGroupsWith(h, gh, GroupRules{})
}

// CheckGroupsWith is CheckGroups under rules.
func CheckGroupsWith(h History, gh GroupHistory, rules GroupRules) []Anomaly {
	var out []Anomaly
	quiet := newSilences(gh, rules)
	out = append(out, checkCommittedMonotonic(gh, quiet)...)
	out = append(out, checkCommitAboveHW(gh)...)
	out = append(out, checkOwners(gh, quiet)...)
	out = append(out, checkHeldOnce(gh)...)
	out = append(out, checkMemberEpochCommits(gh)...)
	out = append(out, checkFencedCommits(gh, quiet)...)
	out = append(out, checkDelivered(h, gh)...)
	return out
}

// groupPart keys what belongs to one group's view of one partition.
type groupPart struct{ group, partition string }

// capped appends a unless its kind already has anomaliesPerKindMax.
func capped(out []Anomaly, count map[string]int, a Anomaly) []Anomaly {
	count[a.Kind]++
	if count[a.Kind] > anomaliesPerKindMax {
		return out
	}
	return append(out, a)
}

// sortedGroupParts returns the keys in a stable order.
func sortedGroupParts[V any](m map[groupPart]V) []groupPart {
	keys := make([]groupPart, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].group != keys[j].group {
			return keys[i].group < keys[j].group
		}
		return keys[i].partition < keys[j].partition
	})
	return keys
}

// checkCommittedMonotonic: an observation of a group's committed offset (an
// acknowledged commit, an OffsetFetch answer) that began after another
// ended shows at least as much, unless a reset commit (a client that asked
// to go back) may lie between them.
func checkCommittedMonotonic(gh GroupHistory, quiet silences) []Anomaly {
	obs := map[groupPart][]int{}
	resets := map[groupPart][]int{}
	for i := range gh {
		op := &gh[i]
		k := groupPart{op.Group, op.Partition}
		switch {
		case op.Kind == GroupCommit && op.Reset:
			// A refused reset moved nothing; an accepted or unanswered one
			// may have.
			if op.OK || op.Ambiguous || op.Err == "" {
				resets[k] = append(resets[k], i)
			}
			if op.OK {
				obs[k] = append(obs[k], i)
			}
		case op.Kind == GroupCommit && op.OK, op.Kind == GroupOffsetFetch && op.OK:
			obs[k] = append(obs[k], i)
		}
	}
	var out []Anomaly
	count := map[string]int{}
	for _, k := range sortedGroupParts(obs) {
		idx := obs[k]
		// bound(j) is the time after which an earlier observation still
		// binds observation j: the end of the last reset commit that began
		// before j ended (an ambiguous reset binds nothing before the end
		// of time: it may apply whenever). Observations are grouped by their
		// bound, so each group needs one sort and a prefix maximum.
		const never = int64(1<<63 - 1)
		bound := func(j int) int64 {
			b := int64(-1 << 63)
			for _, r := range resets[k] {
				rop := &gh[r]
				if rop.Call >= gh[j].Return {
					continue
				}
				end := rop.Return
				if rop.Ambiguous || !rop.OK && rop.Err == "" {
					end = never
				}
				b = max(b, end)
			}
			return b
		}
		byBound := map[int64][]int{}
		var bounds []int64
		for _, j := range idx {
			b := bound(j)
			if _, ok := byBound[b]; !ok {
				bounds = append(bounds, b)
			}
			byBound[b] = append(byBound[b], j)
		}
		sort.Slice(bounds, func(a, b int) bool { return bounds[a] < bounds[b] })
		for _, b := range bounds {
			if b == never {
				continue
			}
			// Earlier observations that began after the bound, by end.
			var early []int
			for _, i := range idx {
				if gh[i].Call > b {
					early = append(early, i)
				}
			}
			sort.Slice(early, func(a, c int) bool { return gh[early[a]].Return < gh[early[c]].Return })
			best := make([]int, len(early)) // best[n]: the largest offset among early[:n+1]
			for n, i := range early {
				best[n] = i
				if n > 0 && gh[best[n-1]].Offset >= gh[i].Offset {
					best[n] = best[n-1]
				}
			}
			for _, j := range byBound[b] {
				later := &gh[j]
				n := sort.Search(len(early), func(n int) bool { return gh[early[n]].Return >= later.Call })
				if n == 0 {
					continue
				}
				i := best[n-1]
				if gh[i].Offset <= later.Offset || quiet.expiredBetween(k.group, gh[i].Call, later.Return) {
					continue
				}
				kind := KindCommitBackwards
				if later.Kind == GroupOffsetFetch && gh[i].Kind == GroupCommit {
					kind = KindOffsetFetchStale
				}
				out = capped(out, count, Anomaly{Kind: kind, Partition: k.partition,
					Detail: fmt.Sprintf("group %s: committed offset went back from %d to %d: %s, then %s",
						k.group, gh[i].Offset, later.Offset, describeGroupOp(i, &gh[i]), describeGroupOp(j, later))})
			}
		}
	}
	return out
}

// silences finds the stretches in which a group's coordinator heard from
// none of its members, for the groups whose offsets may expire.
type silences struct {
	expiry map[string]int64
	// Per group, the calls of the requests whose answers acknowledged a
	// member, sorted: the coordinator held the member at some instant
	// after the call, so a silence counted from the call is at least the
	// one the coordinator saw.
	activity map[string][]int64
}

func newSilences(gh GroupHistory, rules GroupRules) silences {
	s := silences{expiry: rules.Expiry, activity: map[string][]int64{}}
	if len(rules.Expiry) == 0 {
		return s
	}
	for i := range gh {
		op := &gh[i]
		if rules.Expiry[op.Group] <= 0 || !op.acknowledgesMember() {
			continue
		}
		s.activity[op.Group] = append(s.activity[op.Group], op.Call)
	}
	for _, a := range s.activity {
		sort.Slice(a, func(i, j int) bool { return a[i] < a[j] })
	}
	return s
}

// acknowledgesMember: the coordinator answered as one that holds the member
// in the group (so the group was not empty then).
func (op *GroupOp) acknowledgesMember() bool {
	switch op.Kind {
	case GroupJoin, GroupSync:
		return op.OK
	case GroupHeartbeat:
		return op.OK || op.Err == "REBALANCE_IN_PROGRESS"
	case GroupCommit:
		return op.OK && op.Generation >= 0
	}
	return false
}

// expiredBetween: the group's offsets may have expired at some instant of
// [from, to], that is, some instant t there has no member acknowledged in
// the group's whole expiry silence before it.
func (s silences) expiredBetween(group string, from, to int64) bool {
	gap := s.expiry[group]
	if gap <= 0 {
		return false
	}
	a := s.activity[group]
	// The candidates are to itself and each instant right before an
	// acknowledgement in (from, to]: between acknowledgements the silence
	// only grows.
	silentAt := func(t int64) bool {
		n := sort.Search(len(a), func(n int) bool { return a[n] > t }) // a[:n] <= t
		return n == 0 || t-a[n-1] >= gap
	}
	if silentAt(to) {
		return true
	}
	n := sort.Search(len(a), func(n int) bool { return a[n] > from })
	for ; n < len(a) && a[n] <= to; n++ {
		if silentAt(a[n] - 1) {
			return true
		}
	}
	return false
}

// era counts the silences long enough for the group's offsets to expire
// that ended by t. A group whose offsets all expired while it was empty is
// deleted, as Kafka deletes it, and one joining under its name later starts
// at generation 1 again: generations name one membership only within an
// era.
func (s silences) era(group string, t int64) int {
	gap := s.expiry[group]
	if gap <= 0 {
		return 0
	}
	a := s.activity[group]
	n := 0
	for i := 1; i < len(a) && a[i] <= t; i++ {
		if a[i]-a[i-1] >= gap {
			n++
		}
	}
	return n
}

// checkCommitAboveHW: a client commits what it processed, which was below
// the high watermark it was told; a commit past it points at records that
// were not (yet) committed to the log.
func checkCommitAboveHW(gh GroupHistory) []Anomaly {
	var out []Anomaly
	count := map[string]int{}
	for i := range gh {
		op := &gh[i]
		if op.Kind == GroupCommit && op.Offset > op.HighWatermark {
			out = capped(out, count, Anomaly{Kind: KindCommitAboveHW, Partition: op.Partition,
				Detail: fmt.Sprintf("group %s: commit of %d above the high watermark %d the client was told: %s",
					op.Group, op.Offset, op.HighWatermark, describeGroupOp(i, op))})
		}
	}
	return out
}

// identity is who a member is: its group.instance.id when static (a static
// member keeps its partitions across member ids), else its member id.
func (op *GroupOp) identity() string {
	if op.Instance != "" {
		return "instance " + op.Instance
	}
	return "member " + op.Member
}

// checkOwners: within one generation of a group, each partition is
// assigned to at most one member. A generation is one assignment, so this
// needs no clock: two members told they own the same partition in the same
// generation is a coordinator that handed out two assignments under one
// generation (one lost across a failover, or one computed twice).
func checkOwners(gh GroupHistory, quiet silences) []Anomaly {
	type genPart struct {
		group     string
		era       int
		gen       int32
		partition string
	}
	owner := map[genPart]int{} // the first sync answer naming an owner
	var keys []genPart
	var out []Anomaly
	count := map[string]int{}
	for i := range gh {
		op := &gh[i]
		if op.Kind != GroupSync || !op.OK {
			continue
		}
		era := quiet.era(op.Group, op.Call)
		for _, p := range op.Assignment {
			k := genPart{op.Group, era, op.Generation, p}
			first, ok := owner[k]
			if !ok {
				owner[k] = i
				keys = append(keys, k)
				continue
			}
			if gh[first].identity() != op.identity() {
				out = capped(out, count, Anomaly{Kind: KindTwoOwners, Partition: p,
					Detail: fmt.Sprintf("group %s generation %d: assigned to two members: %s and %s",
						op.Group, op.Generation, describeGroupOp(first, &gh[first]), describeGroupOp(i, op))})
			}
		}
	}
	return out
}

// checkFencedCommits: an accepted commit names the generation current when
// it applied. A generation is current until a later one is handed out, and
// a member has been given an assignment in the later one only after the
// coordinator stored it; a commit sent after that naming an older
// generation must be refused, whatever the coordinator's memory says. So
// must one naming a static member's old member id, sent after that
// instance joined under a new one.
func checkFencedCommits(gh GroupHistory, quiet silences) []Anomaly {
	// Per group and era, the sync answers in order of their return, with
	// the highest generation handed out by then.
	type groupEra struct {
		group string
		era   int
	}
	syncs := map[groupEra][]handedOut{}
	type instKey struct{ group, instance string }
	joins := map[instKey][]int{}
	for i := range gh {
		op := &gh[i]
		switch {
		case op.Kind == GroupSync && op.OK:
			k := groupEra{op.Group, quiet.era(op.Group, op.Call)}
			syncs[k] = append(syncs[k], handedOut{op.Generation, op.Return, i})
		case op.Kind == GroupJoin && op.OK && op.Instance != "":
			k := instKey{op.Group, op.Instance}
			joins[k] = append(joins[k], i)
		}
	}
	for _, s := range syncs {
		highestByTime(s)
	}
	var out []Anomaly
	count := map[string]int{}
	for i := range gh {
		op := &gh[i]
		if op.Kind != GroupCommit || !op.OK || op.Generation < 0 {
			continue
		}
		s := syncs[groupEra{op.Group, quiet.era(op.Group, op.Call)}]
		n := sort.Search(len(s), func(n int) bool { return s[n].at >= op.Call })
		if n > 0 && s[n-1].gen > op.Generation {
			j := s[n-1].i
			out = capped(out, count, Anomaly{Kind: KindFencedCommit, Partition: op.Partition,
				Detail: fmt.Sprintf("group %s: commit of generation %d accepted after generation %d was handed out: %s, after %s",
					op.Group, op.Generation, s[n-1].gen, describeGroupOp(i, op), describeGroupOp(j, &gh[j]))})
			continue
		}
		if op.Instance == "" {
			continue
		}
		for _, j := range joins[instKey{op.Group, op.Instance}] {
			jop := &gh[j]
			if jop.Return < op.Call && jop.Member != op.Member && jop.Call > lastJoinOf(gh, joins[instKey{op.Group, op.Instance}], op.Member) {
				out = capped(out, count, Anomaly{Kind: KindFencedCommit, Partition: op.Partition,
					Detail: fmt.Sprintf("group %s: commit naming member %s accepted after instance %s joined as %s: %s, after %s",
						op.Group, op.Member, op.Instance, jop.Member, describeGroupOp(i, op), describeGroupOp(j, jop))})
				break
			}
		}
	}
	return out
}

// handedOut is a generation (or a KIP-848 member epoch) a coordinator
// handed out at a time, in op i's answer.
type handedOut struct {
	gen int32
	at  int64
	i   int
}

// highestByTime sorts s by time and turns each entry into the highest
// generation handed out by then (and the op that handed it out).
func highestByTime(s []handedOut) {
	sort.Slice(s, func(a, b int) bool { return s[a].at < s[b].at })
	for n := 1; n < len(s); n++ {
		if s[n-1].gen > s[n].gen {
			s[n].gen, s[n].i = s[n-1].gen, s[n-1].i
		}
	}
}

// lastJoinOf is when the last join answer giving member id m returned (a
// later join of the same instance under another id replaced it).
func lastJoinOf(gh GroupHistory, joins []int, m string) int64 {
	last := int64(-1 << 63)
	for _, j := range joins {
		if gh[j].Member == m {
			last = max(last, gh[j].Return)
		}
	}
	return last
}

// checkDelivered: below an acknowledged commit of a group, every record a
// producer was told was written had been handed to some member of that
// group: a member starts from the committed offset and commits only what it
// processed, so a record below it that no member saw was skipped.
func checkDelivered(h History, gh GroupHistory) []Anomaly {
	committed := map[groupPart]int{} // the acknowledged commit of the largest offset
	delivered := map[groupPart][][2]int64{}
	for i := range gh {
		op := &gh[i]
		k := groupPart{op.Group, op.Partition}
		switch {
		case op.Kind == GroupCommit && op.OK:
			if c, ok := committed[k]; !ok || gh[c].Offset < op.Offset {
				committed[k] = i
			}
		case op.Kind == GroupDeliver && op.End > op.Offset:
			delivered[k] = append(delivered[k], [2]int64{op.Offset, op.End})
		}
	}
	acked := map[string][]int{} // partition -> acknowledged produces
	for i := range h {
		if h[i].Kind == Produce && h[i].OK {
			acked[h[i].Partition] = append(acked[h[i].Partition], i)
		}
	}
	var out []Anomaly
	count := map[string]int{}
	for _, k := range sortedGroupParts(committed) {
		c := committed[k]
		spans := delivered[k]
		sort.Slice(spans, func(a, b int) bool { return spans[a][0] < spans[b][0] })
		// Merge the spans into disjoint ones, then look each record up.
		var merged [][2]int64
		for _, s := range spans {
			if n := len(merged); n > 0 && s[0] <= merged[n-1][1] {
				merged[n-1][1] = max(merged[n-1][1], s[1])
				continue
			}
			merged = append(merged, s)
		}
		seen := func(off int64) bool {
			n := sort.Search(len(merged), func(n int) bool { return merged[n][1] > off })
			return n < len(merged) && merged[n][0] <= off
		}
		missing := 0
		var first int
		for _, i := range acked[k.partition] {
			if off := h[i].Offset; off < gh[c].Offset && !seen(off) {
				if missing == 0 {
					first = i
				}
				missing++
			}
		}
		if missing > 0 {
			out = capped(out, count, Anomaly{Kind: KindUndelivered, Partition: k.partition,
				Detail: fmt.Sprintf("group %s: %d acknowledged records below the committed offset %d were delivered to no member, the first %s; committed by %s",
					k.group, missing, gh[c].Offset, describeOp(first, &h[first]), describeGroupOp(c, &gh[c]))})
		}
	}
	return out
}
