package sim

import (
	"sort"

	"github.com/ketch-dev/ketch/node"
)

// Role is what a node was in one raft group during a RoleSpan.
type Role string

const (
	RoleLeader    Role = "leader"     // leader, serving: an entry of its term applied (safety rule 1)
	RoleNewLeader Role = "new-leader" // leader not serving yet
	RoleFollower  Role = "follower"   // follows a known leader
	RoleNoLeader  Role = "no-leader"  // a follower that knows no leader
	RoleCandidate Role = "candidate"  // asking for votes (pre-vote or vote)
	RoleDown      Role = "down"       // crashed (power loss, panic) and not restarted yet
	RolePaused    Role = "paused"     // process stopped (SIGSTOP)
	RoleStopped   Role = "stopped"    // the node stopped itself on a disk error
)

// roleStoppedWhy is the crash reason of a node that stopped on a disk error.
const roleStoppedWhy = "stopped after disk fault"

// RoleSpan is a stretch of simulated time [Start, End) in which a node held
// one role in one raft group. Term and Lead are the node's view (zero while
// it is down, paused or stopped).
type RoleSpan struct {
	Node, Group uint64
	Topic       string // "" for the metadata group (0)
	Partition   int32
	Role        Role
	Term, Lead  uint64
	Start, End  int64
}

// roleLog records every node's role per group over the run, for the report
// (Result.Roles). It is fed only when a role changes (the invariants notice
// that already) and when a node goes down, pauses or stops, so a run pays
// nothing per event for it; it reaches neither the trace nor any draw.
type roleLog struct {
	spans []RoleSpan
	open  map[[2]uint64]int // (node, group) -> index in spans of its open span
	// openPer counts each node's open spans: a node listing fewer groups
	// than it has open spans lost one (a deleted topic).
	openPer []int // by node id
}

func newRoleLog(nodes int) *roleLog {
	return &roleLog{open: map[[2]uint64]int{}, openPer: make([]int, nodes+1)}
}

func roleOf(st *node.GroupStatus) Role {
	switch {
	case st.Leader && st.Serving:
		return RoleLeader
	case st.Leader:
		return RoleNewLeader
	case st.Campaigning:
		return RoleCandidate
	case st.Lead != 0:
		return RoleFollower
	}
	return RoleNoLeader
}

// observe notes a node's status of one group at time now.
func (rl *roleLog) observe(now int64, id uint64, st *node.GroupStatus) {
	role := roleOf(st)
	k := [2]uint64{id, st.Group}
	if i, ok := rl.open[k]; ok {
		s := &rl.spans[i]
		if s.Role == role && s.Term == st.Term && s.Lead == st.Lead {
			return
		}
		s.End = now
	} else {
		rl.openPer[id]++
	}
	rl.open[k] = len(rl.spans)
	rl.spans = append(rl.spans, RoleSpan{Node: id, Group: st.Group, Topic: st.Topic, Partition: st.Partition,
		Role: role, Term: st.Term, Lead: st.Lead, Start: now, End: -1})
}

// groupsOf lists the groups a node has open spans in, sorted.
func (rl *roleLog) groupsOf(id uint64) []uint64 {
	var out []uint64
	for k := range rl.open {
		if k[0] == id {
			out = append(out, k[1])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// nodeState puts every group of the node in role (down, paused, stopped).
func (rl *roleLog) nodeState(now int64, id uint64, role Role) {
	for _, g := range rl.groupsOf(id) {
		k := [2]uint64{id, g}
		i := rl.open[k]
		prev := rl.spans[i]
		if prev.Role == role {
			continue
		}
		rl.spans[i].End = now
		rl.open[k] = len(rl.spans)
		rl.spans = append(rl.spans, RoleSpan{Node: id, Group: g, Topic: prev.Topic, Partition: prev.Partition,
			Role: role, Start: now, End: -1})
	}
}

// reconcile closes the node's spans of groups its status no longer lists.
func (rl *roleLog) reconcile(now int64, id uint64, status []node.GroupStatus) {
	if rl.openPer[id] == len(status) {
		return
	}
	listed := make(map[uint64]bool, len(status))
	for i := range status {
		listed[status[i].Group] = true
	}
	for _, g := range rl.groupsOf(id) {
		if !listed[g] {
			k := [2]uint64{id, g}
			rl.spans[rl.open[k]].End = now
			delete(rl.open, k)
			rl.openPer[id]--
		}
	}
}

// finish closes every open span at now and returns the spans by group,
// node and start.
func (rl *roleLog) finish(now int64) []RoleSpan {
	for k, i := range rl.open {
		rl.spans[i].End = now
		delete(rl.open, k)
	}
	out := rl.spans
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return a.Start < b.Start
	})
	return out
}
