package checker

import (
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// goodGroupRun is a small correct history: two members of generation 1
// split two partitions, commit what they were delivered, then generation 2
// hands both partitions to member b, which resumes from the commits.
func goodGroupRun() (History, GroupHistory) {
	var h History
	for off := int64(0); off < 10; off++ {
		for _, p := range []string{"t/0", "t/1"} {
			h = append(h, Op{Kind: Produce, Partition: p, Value: fmt.Sprintf("%s-%d", p, off), Offset: off, OK: true, Call: off, Return: off + 1})
		}
	}
	gh := GroupHistory{
		{Kind: GroupJoin, Group: "g", Client: 1, Generation: 1, Member: "a", Leader: true, Members: []string{"a", "b"}, OK: true, Call: 10, Return: 20},
		{Kind: GroupJoin, Group: "g", Client: 2, Generation: 1, Member: "b", OK: true, Call: 10, Return: 20},
		{Kind: GroupSync, Group: "g", Client: 1, Generation: 1, Member: "a", Assignment: []string{"t/0"}, OK: true, Call: 21, Return: 30},
		{Kind: GroupSync, Group: "g", Client: 2, Generation: 1, Member: "b", Assignment: []string{"t/1"}, OK: true, Call: 21, Return: 30},
		{Kind: GroupOffsetFetch, Group: "g", Client: 1, Partition: "t/0", Offset: -1, OK: true, Call: 31, Return: 35},
		{Kind: GroupDeliver, Group: "g", Client: 1, Generation: 1, Member: "a", Partition: "t/0", Offset: 0, End: 6, OK: true, Call: 36, Return: 40},
		{Kind: GroupCommit, Group: "g", Client: 1, Generation: 1, Member: "a", Partition: "t/0", Offset: 6, HighWatermark: 10, OK: true, Call: 41, Return: 50},
		{Kind: GroupDeliver, Group: "g", Client: 2, Generation: 1, Member: "b", Partition: "t/1", Offset: 0, End: 10, OK: true, Call: 36, Return: 40},
		{Kind: GroupCommit, Group: "g", Client: 2, Generation: 1, Member: "b", Partition: "t/1", Offset: 10, HighWatermark: 10, OK: true, Call: 41, Return: 50},
		// a pauses; the group moves on to generation 2 without it.
		{Kind: GroupJoin, Group: "g", Client: 2, Generation: 2, Member: "b", Leader: true, Members: []string{"b"}, OK: true, Call: 60, Return: 70},
		{Kind: GroupSync, Group: "g", Client: 2, Generation: 2, Member: "b", Assignment: []string{"t/0", "t/1"}, OK: true, Call: 71, Return: 80},
		{Kind: GroupOffsetFetch, Group: "g", Client: 2, Partition: "t/0", Offset: 6, OK: true, Call: 81, Return: 85},
		{Kind: GroupDeliver, Group: "g", Client: 2, Generation: 2, Member: "b", Partition: "t/0", Offset: 6, End: 10, OK: true, Call: 86, Return: 90},
		{Kind: GroupCommit, Group: "g", Client: 2, Generation: 2, Member: "b", Partition: "t/0", Offset: 10, HighWatermark: 10, OK: true, Call: 91, Return: 95},
		// The zombie a commits with its stale generation: refused.
		{Kind: GroupCommit, Group: "g", Client: 1, Generation: 1, Member: "a", Partition: "t/0", Offset: 8, HighWatermark: 10, Err: "ILLEGAL_GENERATION", Call: 100, Return: 105},
		{Kind: GroupOffsetFetch, Group: "g", Client: 2, Partition: "t/0", Offset: 10, OK: true, Call: 110, Return: 115},
	}
	return h, gh
}

func groupKinds(as []Anomaly) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Kind)
	}
	return out
}

func TestGroupChecksPassACorrectRun(t *testing.T) {
	h, gh := goodGroupRun()
	if as := CheckGroups(h, gh); len(as) > 0 {
		t.Fatalf("a correct run was flagged: %v", as)
	}
}

// Each bad history differs from the correct one in one thing a broken
// coordinator (or client) would do, and must be flagged with its kind.
func TestGroupChecksCatchBadRuns(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string
		edit func(h *History, gh *GroupHistory)
	}{
		{"zombie commit accepted", KindFencedCommit, func(h *History, gh *GroupHistory) {
			(*gh)[14].OK, (*gh)[14].Err = true, ""
		}},
		{"offset fetch answers from an unloaded state", KindOffsetFetchStale, func(h *History, gh *GroupHistory) {
			(*gh)[11].Offset = -1 // KAFKA-16030: "no offset" after a commit of 6
		}},
		{"committed offset goes back", KindCommitBackwards, func(h *History, gh *GroupHistory) {
			*gh = append(*gh, GroupOp{Kind: GroupCommit, Group: "g", Client: 2, Generation: 2, Member: "b", Partition: "t/0", Offset: 7, HighWatermark: 10, OK: true, Call: 120, Return: 125})
		}},
		{"later fetch shows less", KindOffsetFetchStale, func(h *History, gh *GroupHistory) {
			*gh = append(*gh, GroupOp{Kind: GroupOffsetFetch, Group: "g", Client: 2, Partition: "t/0", Offset: 6, OK: true, Call: 120, Return: 125})
		}},
		{"commit above the high watermark", KindCommitAboveHW, func(h *History, gh *GroupHistory) {
			(*gh)[13].HighWatermark = 9
		}},
		{"two owners in one generation", KindTwoOwners, func(h *History, gh *GroupHistory) {
			(*gh)[3].Assignment = []string{"t/1", "t/0"}
		}},
		{"generation reused after failover", KindTwoOwners, func(h *History, gh *GroupHistory) {
			// group-state-in-memory: a new coordinator starts over at 1.
			*gh = append(*gh, GroupOp{Kind: GroupSync, Group: "g", Client: 3, Generation: 1, Member: "c", Assignment: []string{"t/0"}, OK: true, Call: 120, Return: 125})
		}},
		{"skipped records", KindUndelivered, func(h *History, gh *GroupHistory) {
			(*gh)[5].End = 4 // a delivered 0..3 but committed 6
		}},
		{"resumed past the commit", KindUndelivered, func(h *History, gh *GroupHistory) {
			(*gh)[12].Offset = 8 // b resumed at 8, not 6
		}},
		{"static member's old id commits", KindFencedCommit, func(h *History, gh *GroupHistory) {
			for i := range *gh {
				if (*gh)[i].Client == 1 {
					(*gh)[i].Instance = "i1"
				}
			}
			*gh = append(*gh,
				GroupOp{Kind: GroupJoin, Group: "g", Client: 1, Generation: 2, Member: "a2", Instance: "i1", OK: true, Call: 96, Return: 98},
				GroupOp{Kind: GroupCommit, Group: "g", Client: 1, Generation: 2, Member: "a", Instance: "i1", Partition: "t/1", Offset: 10, HighWatermark: 10, OK: true, Call: 99, Return: 100})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, gh := goodGroupRun()
			tc.edit(&h, &gh)
			as := CheckGroups(h, gh)
			if !strings.Contains(strings.Join(groupKinds(as), ","), tc.want) {
				t.Fatalf("want a %s anomaly, got %v", tc.want, as)
			}
			for _, a := range as {
				if a.Detail == "" || a.Partition == "" {
					t.Fatalf("anomaly without detail: %+v", a)
				}
			}
		})
	}
}

// A client that asked to go back (a seek, an offset reset) may commit less.
func TestGroupResetCommitMayGoBack(t *testing.T) {
	h, gh := goodGroupRun()
	gh = append(gh,
		GroupOp{Kind: GroupSeek, Group: "g", Client: 2, Partition: "t/0", Offset: 0, OK: true, Call: 116, Return: 116},
		GroupOp{Kind: GroupCommit, Group: "g", Client: 2, Generation: 2, Member: "b", Partition: "t/0", Offset: 2, HighWatermark: 10, Reset: true, OK: true, Call: 120, Return: 125},
		GroupOp{Kind: GroupOffsetFetch, Group: "g", Client: 2, Partition: "t/0", Offset: 2, OK: true, Call: 130, Return: 135})
	if as := CheckGroups(h, gh); len(as) > 0 {
		t.Fatalf("a reset commit was flagged: %v", as)
	}
	// But after the reset is acknowledged, the offset must not go back again.
	gh = append(gh, GroupOp{Kind: GroupOffsetFetch, Group: "g", Client: 2, Partition: "t/0", Offset: 1, OK: true, Call: 140, Return: 145})
	if as := CheckGroups(h, gh); len(as) != 1 || as[0].Kind != KindCommitBackwards {
		t.Fatalf("want one commit-backwards after the reset, got %v", as)
	}
}

// A correct coordinator, modelled: commits apply one at a time at an
// instant inside their call, offsets only grow, and fetches read the value
// at an instant inside theirs. Whatever the interleaving, no anomaly; and
// an answer lowered below a value acknowledged before its call is caught.
func TestGroupCommittedMonotonicProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 40).Draw(t, "ops")
		var gh GroupHistory
		committed, now := int64(-1), int64(0)
		type applied struct {
			at, val int64
		}
		var log []applied // the committed value over time
		for i := 0; i < n; i++ {
			now += int64(rapid.IntRange(1, 5).Draw(t, "gap"))
			call := now
			at := call + int64(rapid.IntRange(0, 10).Draw(t, "apply"))
			ret := at + int64(rapid.IntRange(0, 10).Draw(t, "return"))
			if rapid.Bool().Draw(t, "commit") {
				committed += int64(rapid.IntRange(0, 3).Draw(t, "step"))
				if committed < 0 {
					committed = 0
				}
				log = append(log, applied{at, committed})
				gh = append(gh, GroupOp{Kind: GroupCommit, Group: "g", Partition: "t/0", Generation: -1, Offset: committed, HighWatermark: 1 << 40, OK: true, Call: call, Return: ret})
				now = at // the next op starts after this one applied: applies stay ordered
			} else {
				v := int64(-1)
				for _, a := range log {
					if a.at <= at {
						v = a.val
					}
				}
				gh = append(gh, GroupOp{Kind: GroupOffsetFetch, Group: "g", Partition: "t/0", Offset: v, OK: true, Call: call, Return: ret})
			}
		}
		if as := checkCommittedMonotonic(gh, silences{}); len(as) > 0 {
			t.Fatalf("a correct history flagged: %v", as)
		}
		// Lower one fetch answer below a commit acknowledged before it was called.
		for j := range gh {
			if gh[j].Kind != GroupOffsetFetch {
				continue
			}
			for i := range gh {
				if gh[i].Kind == GroupCommit && gh[i].Return < gh[j].Call && gh[i].Offset >= 0 {
					gh[j].Offset = gh[i].Offset - 1
					if as := checkCommittedMonotonic(gh, silences{}); len(as) == 0 {
						t.Fatalf("a stale answer (%s) after %s was not flagged", describeGroupOp(j, &gh[j]), describeGroupOp(i, &gh[i]))
					}
					return
				}
			}
		}
	})
}

// Ownership, as a property: any history where each generation's
// assignment is one partition of the members is clean; giving one
// partition to a second identity in any generation is caught.
func TestGroupOwnersProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		gens := rapid.IntRange(1, 5).Draw(t, "gens")
		parts := rapid.IntRange(1, 6).Draw(t, "parts")
		var gh GroupHistory
		for g := 1; g <= gens; g++ {
			members := rapid.IntRange(1, 4).Draw(t, "members")
			owned := make([][]string, members)
			for p := 0; p < parts; p++ {
				m := rapid.IntRange(0, members-1).Draw(t, "owner")
				owned[m] = append(owned[m], fmt.Sprintf("t/%d", p))
			}
			for m := 0; m < members; m++ {
				// Each member may be answered more than once (a retried sync).
				for k := rapid.IntRange(1, 2).Draw(t, "answers"); k > 0; k-- {
					gh = append(gh, GroupOp{Kind: GroupSync, Group: "g", Generation: int32(g), Member: fmt.Sprintf("m%d-%d", g, m), Assignment: owned[m], OK: true})
				}
			}
		}
		if as := checkOwners(gh, silences{}); len(as) > 0 {
			t.Fatalf("a clean history flagged: %v", as)
		}
		i := rapid.IntRange(0, len(gh)-1).Draw(t, "victim")
		p := fmt.Sprintf("t/%d", rapid.IntRange(0, parts-1).Draw(t, "part"))
		thief := gh[i]
		thief.Member, thief.Assignment = "thief", []string{p}
		gh = append(gh, thief)
		if as := checkOwners(gh, silences{}); len(as) != 1 || as[0].Kind != KindTwoOwners {
			t.Fatalf("want one two-owners anomaly, got %v", as)
		}
	})
}

// Offsets that expire: an offset gone to none is excused only across a
// silence of the group's expiry length, in which no member was acknowledged.
func TestGroupExpiryNeedsASilence(t *testing.T) {
	h, gh := goodGroupRun()
	rules := GroupRules{Expiry: map[string]int64{"g": 100}}
	// Member b is heard from every 30 until 400; a fetch at 410 finds t/0's
	// offset gone: the group had members all along (expired in a rebalance).
	for at := int64(130); at <= 400; at += 30 {
		gh = append(gh, GroupOp{Kind: GroupHeartbeat, Group: "g", Client: 2, Generation: 2, Member: "b", Err: "REBALANCE_IN_PROGRESS", Call: at - 2, Return: at})
	}
	gone := GroupOp{Kind: GroupOffsetFetch, Group: "g", Client: 3, Partition: "t/0", Offset: -1, OK: true, Call: 405, Return: 410}
	bad := append(append(GroupHistory(nil), gh...), gone)
	if as := CheckGroupsWith(h, bad, rules); len(as) != 1 || as[0].Kind != KindOffsetFetchStale {
		t.Fatalf("an offset expired while the group had members: want one offset-fetch-stale, got %v", as)
	}
	// Without the rule nothing may expire at all, silence or not.
	gone.Call, gone.Return = 600, 610
	late := append(append(GroupHistory(nil), gh...), gone)
	if as := CheckGroups(h, late); len(as) != 1 {
		t.Fatalf("no expiry allowed: want one anomaly, got %v", as)
	}
	// With it, 200 of silence after the last heartbeat excuses it, and a
	// restart from the beginning after it.
	late = append(late, GroupOp{Kind: GroupCommit, Group: "g", Client: 2, Generation: 3, Member: "b", Partition: "t/0", Offset: 3, HighWatermark: 10, OK: true, Call: 620, Return: 625})
	if as := CheckGroupsWith(h, late, rules); len(as) > 0 {
		t.Fatalf("an offset expired after the group was silent for its expiry: %v", as)
	}
	// A silence that ended before the earlier observation excuses nothing.
	early := append(append(GroupHistory(nil), gh...),
		GroupOp{Kind: GroupOffsetFetch, Group: "g", Client: 3, Partition: "t/0", Offset: 10, OK: true, Call: 402, Return: 403},
		GroupOp{Kind: GroupHeartbeat, Group: "g", Client: 2, Generation: 2, Member: "b", OK: true, Call: 404, Return: 404},
		GroupOp{Kind: GroupOffsetFetch, Group: "g", Client: 3, Partition: "t/0", Offset: -1, OK: true, Call: 480, Return: 490})
	if as := CheckGroupsWith(h, early, rules); len(as) != 1 {
		t.Fatalf("a silence of 80 < 100: want one anomaly, got %v", as)
	}
}

// A group whose offsets expired while it was empty is deleted; one joining
// under the name afterwards starts at generation 1 again. Only a silence of
// the expiry's length separates the two: otherwise generation 1 twice is two
// owners.
func TestGroupRecreatedAfterExpiryStartsOver(t *testing.T) {
	h, gh := goodGroupRun()
	again := GroupHistory{
		{Kind: GroupJoin, Group: "g", Client: 3, Generation: 1, Member: "c", Leader: true, Members: []string{"c"}, OK: true, Call: 500, Return: 510},
		{Kind: GroupSync, Group: "g", Client: 3, Generation: 1, Member: "c", Assignment: []string{"t/0", "t/1"}, OK: true, Call: 511, Return: 520},
		{Kind: GroupCommit, Group: "g", Client: 3, Generation: 1, Member: "c", Partition: "t/0", Offset: 10, HighWatermark: 10, OK: true, Call: 521, Return: 530},
	}
	gh = append(gh, again...)
	if as := CheckGroupsWith(h, gh, GroupRules{Expiry: map[string]int64{"g": 300}}); len(as) > 0 {
		t.Fatalf("a group recreated after a silence of its expiry was flagged: %v", as)
	}
	as := CheckGroupsWith(h, gh, GroupRules{Expiry: map[string]int64{"g": 500}})
	if kinds := strings.Join(groupKinds(as), ","); !strings.Contains(kinds, KindTwoOwners) || !strings.Contains(kinds, KindFencedCommit) {
		t.Fatalf("generation 1 again without a long enough silence: want two-owners and fenced-commit, got %v", as)
	}
}
