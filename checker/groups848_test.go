package checker

import (
	"fmt"
	"strings"
	"testing"
)

// good848Run is a small correct KIP-848 history: member a holds both
// partitions; b joins, a revokes t/1 (commits, releases, heartbeats without
// it), and only then is b given t/1, which it resumes from a's commit.
// Then a is paused past its session, loses its assignment (its last
// confirmed heartbeat was at 60), and b is given t/0 too.
func good848Run() (History, GroupHistory) {
	var h History
	for off := int64(0); off < 10; off++ {
		for _, p := range []string{"t/0", "t/1"} {
			h = append(h, Op{Kind: Produce, Partition: p, Value: fmt.Sprintf("%s-%d", p, off), Offset: off, OK: true, Call: off, Return: off + 1})
		}
	}
	gh := GroupHistory{
		{Kind: GroupJoin, Group: "g", Client: 1, Generation: 1, Member: "a", OK: true, Call: 10, Return: 20},
		{Kind: GroupAssign, Group: "g", Client: 1, Generation: 1, Member: "a", Assignment: []string{"t/0", "t/1"}, OK: true, Call: 10, Return: 20},
		{Kind: GroupDeliver, Group: "g", Client: 1, Generation: 1, Member: "a", Partition: "t/1", Offset: 0, End: 5, OK: true, Call: 25, Return: 25},
		{Kind: GroupDeliver, Group: "g", Client: 1, Generation: 1, Member: "a", Partition: "t/0", Offset: 0, End: 3, OK: true, Call: 26, Return: 26},
		{Kind: GroupJoin, Group: "g", Client: 2, Generation: 2, Member: "b", OK: true, Call: 30, Return: 31},
		{Kind: GroupAssign, Group: "g", Client: 2, Generation: 2, Member: "b", OK: true, Call: 30, Return: 31},
		// a is told to give t/1 up, at its epoch.
		{Kind: GroupAssign, Group: "g", Client: 1, Generation: 1, Member: "a", Assignment: []string{"t/0"}, OK: true, Call: 32, Return: 33},
		{Kind: GroupCommit, Group: "g", Client: 1, Generation: 1, Member: "a", Partition: "t/1", Offset: 5, HighWatermark: 10, OK: true, Call: 34, Return: 36},
		{Kind: GroupRelease, Group: "g", Client: 1, Member: "a", Assignment: []string{"t/1"}, OK: true, Call: 37, Return: 37},
		{Kind: GroupAssign, Group: "g", Client: 1, Generation: 2, Member: "a", Assignment: []string{"t/0"}, OK: true, Call: 37, Return: 39},
		{Kind: GroupAssign, Group: "g", Client: 2, Generation: 2, Member: "b", Assignment: []string{"t/1"}, OK: true, Call: 40, Return: 42},
		{Kind: GroupOffsetFetch, Group: "g", Client: 2, Partition: "t/1", Offset: 5, OK: true, Call: 43, Return: 44},
		{Kind: GroupDeliver, Group: "g", Client: 2, Generation: 2, Member: "b", Partition: "t/1", Offset: 5, End: 10, OK: true, Call: 45, Return: 45},
		{Kind: GroupCommit, Group: "g", Client: 2, Generation: 2, Member: "b", Partition: "t/1", Offset: 10, HighWatermark: 10, OK: true, Call: 46, Return: 48},
		{Kind: GroupHeartbeat, Group: "g", Client: 1, Generation: 2, Member: "a", OK: true, Call: 60, Return: 61},
		// a's session runs out; b gets t/0 while a, paused, still believes
		// it holds it; a hears it is gone at 120.
		{Kind: GroupAssign, Group: "g", Client: 2, Generation: 3, Member: "b", Assignment: []string{"t/0", "t/1"}, OK: true, Call: 100, Return: 101},
		{Kind: GroupCommit, Group: "g", Client: 1, Generation: 2, Member: "a", Partition: "t/0", Offset: 0, HighWatermark: 10, Err: "UNKNOWN_MEMBER_ID", Call: 119, Return: 120},
		{Kind: GroupRelease, Group: "g", Client: 1, Member: "a", Assignment: []string{"t/0"}, Err: "UNKNOWN_MEMBER_ID", OK: true, Call: 60, Return: 120},
	}
	return h, gh
}

func TestGroup848ChecksPassACorrectRun(t *testing.T) {
	h, gh := good848Run()
	if as := CheckGroups(h, gh); len(as) > 0 {
		t.Fatalf("a correct run was flagged: %v", as)
	}
}

// The two mistakes of a KIP-848 coordinator the checks must see, each one
// change to the correct run.
func TestGroup848ChecksCatchBadRuns(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind string
		edit func(gh GroupHistory) GroupHistory
	}{
		{
			// KAFKA-16147: b is given t/1 while a is still revoking it.
			name: "assigned-before-revoked", kind: KindTwoOwners,
			edit: func(gh GroupHistory) GroupHistory {
				out := append(GroupHistory(nil), gh[:7]...)
				out = append(out, GroupOp{Kind: GroupAssign, Group: "g", Client: 2, Generation: 2, Member: "b", Assignment: []string{"t/1"}, OK: true, Call: 34, Return: 35})
				for _, op := range gh[7:] {
					if op.Kind == GroupAssign && op.Client == 2 && op.Return == 42 {
						continue
					}
					out = append(out, op)
				}
				return out
			},
		},
		{
			// b is given t/0 before a's last confirmed heartbeat: a held
			// it then, so the coordinator gave it out twice.
			name: "assigned-while-confirmed", kind: KindTwoOwners,
			edit: func(gh GroupHistory) GroupHistory {
				out := append(GroupHistory(nil), gh...)
				for i := range out {
					if out[i].Kind == GroupAssign && out[i].Client == 2 && out[i].Generation == 3 {
						out[i].Call, out[i].Return = 50, 51
					}
				}
				return out
			},
		},
		{
			// a's commit at its old epoch 1, sent after it was told epoch
			// 2, accepted.
			name: "stale-epoch-commit", kind: KindFencedCommit,
			edit: func(gh GroupHistory) GroupHistory {
				return append(append(GroupHistory(nil), gh...),
					GroupOp{Kind: GroupCommit, Group: "g", Client: 1, Generation: 1, Member: "a", Partition: "t/0", Offset: 3, HighWatermark: 10, OK: true, Call: 50, Return: 52})
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, gh := good848Run()
			as := CheckGroups(h, tc.edit(gh))
			kinds := groupKinds(as)
			if len(kinds) != 1 || kinds[0] != tc.kind {
				t.Fatalf("want one %s, got %v: %v", tc.kind, kinds, as)
			}
			if !strings.Contains(as[0].Detail, "group g") {
				t.Fatalf("detail does not name the group: %s", as[0].Detail)
			}
		})
	}
}
