package sim

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/ketch-dev/ketch/checker"
)

// The failover bound (Config.FailoverMax): when a node crashes while nothing
// else is wrong, every raft group it led, idle partitions included, must be
// served by another node within the bound. Idle groups are the point: a
// busy partition's clients notice a dead leader; nobody notices an idle
// one, so only the raft groups' own failure detection (node/quiesce.go's
// liveness, for quiesced groups) can bring them back.
//
// A crash counts when the node stays down for the whole bound and no other
// fault is on from failoverSettle before the crash to the end of the bound
// (another fault may rightly slow an election down). Measured on the
// roles the nodes reported (Result.Roles).

// failoverSettle is how long before a crash the cluster must have been free
// of other faults: one election's worth (ackGapGrace).
const failoverSettle = ackGapGrace

// Nor does a crash while another node is under repair or down (excused):
// its recovering replicas neither vote nor campaign, so a group with one of
// them and the crashed node among three voters has no quorum to elect.
func failoverGaps(spans []RoleSpan, notes []checker.Annotation, faultNodes []uint64, excused []int, bound time.Duration) []string {
	if bound <= 0 {
		return nil
	}
	byGroup := map[uint64][]int{}
	for i := range spans {
		byGroup[spans[i].Group] = append(byGroup[spans[i].Group], i)
	}
	groups := make([]uint64, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i] < groups[j] })
	var out []string
	for i, nt := range notes {
		if nt.Tag != string(Crash) && nt.Tag != string(TornCrash) || i >= len(faultNodes) || slices.Contains(excused, i) {
			continue
		}
		t0, t1 := nt.Start, nt.Start+int64(bound)
		if nt.End < t1 {
			continue // back before the bound: its own restart may win
		}
		alone := true
		for j, o := range notes {
			if j != i && o.Start < t1 && o.End > t0-int64(failoverSettle) {
				alone = false
				break
			}
		}
		if !alone {
			continue
		}
		dead := faultNodes[i]
		missed, first := 0, ""
		for _, g := range groups {
			led := false
			for _, k := range byGroup[g] {
				s := &spans[k]
				if s.Node == dead && (s.Role == RoleLeader || s.Role == RoleNewLeader) && s.Start < t0 && s.End >= t0 {
					led = true
				}
			}
			if !led {
				continue
			}
			replicas := map[uint64]bool{}
			for _, k := range byGroup[g] {
				replicas[spans[k].Node] = true
			}
			if len(replicas) < 3 {
				continue // without the crashed node, no quorum is left to elect
			}
			served := false
			for _, k := range byGroup[g] {
				s := &spans[k]
				if s.Node != dead && s.Role == RoleLeader && s.Start <= t1 && s.End > t0 {
					served = true
				}
			}
			if !served {
				if missed == 0 {
					s := &spans[byGroup[g][0]]
					first = fmt.Sprintf("group %d (%s/%d)", g, s.Topic, s.Partition)
				}
				missed++
			}
		}
		if missed > 0 {
			out = append(out, fmt.Sprintf("failover: node %d crashed at %v with nothing else wrong; %d group(s) it led had no other serving leader within %v, first %s",
				dead, time.Duration(t0).Round(time.Millisecond), missed, bound, first))
		}
	}
	return out
}
