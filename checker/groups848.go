package checker

// The KIP-848 groups' share of the group checks. A KIP-848 group has no
// generation all its members share: each member has its own epoch, and a
// partition moves from one member to another in two steps, the old owner
// revoking it (its heartbeat stops listing it) before the coordinator gives
// it to the new one. So two-owners is judged on the clock: a partition is
// held from the heartbeat answer that assigns it (GroupAssign's Return)
// until the member lets it go (GroupRelease's Call), and no two members may
// hold it at once. fenced-commit is judged on the member's own epochs: a
// member's epoch only grows, so a commit naming an epoch older than one the
// member was already told is from a member the coordinator has moved past.

import (
	"fmt"
	"sort"
)

// heldSpan is one member holding one partition, from start to end.
type heldSpan struct {
	identity   string
	start, end int64
	from, to   int // the GroupAssign that began it, the GroupRelease that ended it (-1: none)
}

// checkHeldOnce: in a KIP-848 group, no partition is held by two members
// (identities: a static member is one across its member ids) at the same
// time.
func checkHeldOnce(gh GroupHistory) []Anomaly {
	const open = int64(1<<63 - 1)
	type clientPart struct {
		client    int
		partition string
	}
	// Each client's events are in the order it saw them, so a client's
	// assignments and releases pair up in history order.
	held := map[clientPart]int{} // the assign a client holds a partition by
	spans := map[groupPart][]heldSpan{}
	var cps []clientPart
	for i := range gh {
		op := &gh[i]
		switch {
		case op.Kind == GroupAssign && op.OK:
			for _, p := range op.Assignment {
				k := clientPart{op.Client, p}
				if _, ok := held[k]; !ok {
					held[k] = i
					cps = append(cps, k)
				}
			}
		case op.Kind == GroupRelease:
			for _, p := range op.Assignment {
				k := clientPart{op.Client, p}
				a, ok := held[k]
				if !ok {
					continue
				}
				delete(held, k)
				from := &gh[a]
				spans[groupPart{from.Group, p}] = append(spans[groupPart{from.Group, p}],
					heldSpan{identity: from.identity(), start: from.Return, end: op.Call, from: a, to: i})
			}
		}
	}
	for _, k := range cps {
		a, ok := held[k]
		if !ok {
			continue
		}
		delete(held, k)
		from := &gh[a]
		spans[groupPart{from.Group, k.partition}] = append(spans[groupPart{from.Group, k.partition}],
			heldSpan{identity: from.identity(), start: from.Return, end: open, from: a, to: -1})
	}
	var out []Anomaly
	count := map[string]int{}
	for _, k := range sortedGroupParts(spans) {
		ss := spans[k]
		sort.SliceStable(ss, func(a, b int) bool { return ss[a].start < ss[b].start })
		for j := range ss {
			for i := 0; i < j; i++ {
				if ss[i].identity == ss[j].identity || ss[i].end <= ss[j].start || ss[i].start >= ss[i].end || ss[j].start >= ss[j].end {
					continue
				}
				until := "still holding it at the end"
				if ss[i].to >= 0 {
					until = "until " + describeGroupOp(ss[i].to, &gh[ss[i].to])
				}
				out = capped(out, count, Anomaly{Kind: KindTwoOwners, Partition: k.partition,
					Detail: fmt.Sprintf("group %s: held by two members at once: %s, %s; and %s",
						k.group, describeGroupOp(ss[i].from, &gh[ss[i].from]), until, describeGroupOp(ss[j].from, &gh[ss[j].from]))})
				break
			}
		}
	}
	return out
}

// checkMemberEpochCommits: an accepted commit of a KIP-848 member names
// the epoch the member was at when it applied; a member's epoch never goes
// down, so once an answer gave it a later epoch, a commit sent after that
// naming an older one must be refused (STALE_MEMBER_EPOCH).
func checkMemberEpochCommits(gh GroupHistory) []Anomaly {
	type memberKey struct{ group, member string }
	byMember := map[memberKey][]handedOut{}
	for i := range gh {
		op := &gh[i]
		if op.Kind == GroupAssign && op.OK && op.Generation > 0 {
			k := memberKey{op.Group, op.Member}
			byMember[k] = append(byMember[k], handedOut{op.Generation, op.Return, i})
		}
	}
	for _, ts := range byMember {
		highestByTime(ts)
	}
	var out []Anomaly
	count := map[string]int{}
	for i := range gh {
		op := &gh[i]
		if op.Kind != GroupCommit || !op.OK || op.Generation < 0 {
			continue
		}
		ts := byMember[memberKey{op.Group, op.Member}]
		n := sort.Search(len(ts), func(n int) bool { return ts[n].at >= op.Call })
		if n > 0 && ts[n-1].gen > op.Generation {
			j := ts[n-1].i
			out = capped(out, count, Anomaly{Kind: KindFencedCommit, Partition: op.Partition,
				Detail: fmt.Sprintf("group %s: commit of member %s at epoch %d accepted after the member was given epoch %d: %s, after %s",
					op.Group, op.Member, op.Generation, ts[n-1].gen, describeGroupOp(i, op), describeGroupOp(j, &gh[j]))})
		}
	}
	return out
}
