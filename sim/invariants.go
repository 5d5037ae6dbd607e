package sim

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/ketch-dev/ketch/node"
)

// invariants checks raft's and Kafka's safety properties while the run goes,
// from what the nodes apply and report:
//   - at most one leader per group per term;
//   - every replica applies the same entry at the same index (committed
//     prefixes agree, so applied state agrees);
//   - a replica's high watermark never goes backwards while it runs, and a
//     serving leader's is never below any high watermark ever reached;
//   - a partition's log start is one non-decreasing function of the index
//     its state is of, on every replica: it never goes back on a replica
//     while it runs, and two replicas at the same index agree (retention
//     and DeleteRecords move it by a replicated entry).
type invariants struct {
	w        *World
	leaders  map[[2]uint64]uint64  // (group, term) -> leader
	applied  map[uint64][][32]byte // group -> entry hash by index (index 0 unused; zero = not seen)
	appliedT map[uint64][]uint64   // group -> term by index
	// seen is, per node (index id-1) and group (index: group id; ids are
	// handed out from a counter, so dense), what this incarnation of the
	// node last reported: slices, not maps, because check runs after every
	// Process and looks at every group.
	seen      [][]groupSeen
	statusBuf []node.GroupStatus
	maxHW     []int64 // group -> highest high watermark any replica reached
	// unsynced holds, per node, what it applied and the high watermarks it
	// reached after an fsync it issued and that has not completed: the real
	// process is still blocked in that fsync, so none of it happened yet,
	// and a crash before the fsync completes undoes it (synced drops it in,
	// crashed forgets it). Only a group of one voter commits, so applies and
	// serves, what its own unfinished fsync holds.
	// Index id-1; kept from fsync to fsync (a node has one in flight about
	// every other Process), so the maps and slices are not made anew.
	unsynced []unsyncedState
	// logStarts is, per partition group, each log start value reported
	// with the lowest and highest state index it was reported at, sorted
	// by value: consistent reports keep the intervals disjoint and in the
	// same order, so a report is checked against its two neighbours.
	logStarts map[uint64][]logStartSpan
	// logStartBad: a group's log starts were found inconsistent, reported
	// once (every later report would repeat it).
	logStartBad map[uint64]bool
}

type logStartSpan struct {
	logStart int64
	lo, hi   uint64
}

type unsyncedState struct {
	active  bool // an fsync is in flight and something happened after it
	applied []appliedEntry
	hw      map[uint64]int64 // group -> highest high watermark reached
}

type appliedEntry struct {
	group, index, term uint64
	sum                [32]byte
}

// groupSeen is one node's group as last seen this incarnation.
type groupSeen struct {
	role        roleSeen
	roleKnown   bool // role was seen this incarnation
	hw          int64
	hasHW       bool
	servingTerm uint64 // term in which it last served
	logStart    int64  // log start as of stateIndex (hasLS: seen)
	stateIndex  uint64
	hasLS       bool
}

func newInvariants(w *World) *invariants {
	return &invariants{w: w, leaders: map[[2]uint64]uint64{}, applied: map[uint64][][32]byte{},
		appliedT: map[uint64][]uint64{}, seen: make([][]groupSeen, w.cfg.Nodes),
		unsynced: make([]unsyncedState, w.cfg.Nodes), logStarts: map[uint64][]logStartSpan{}, logStartBad: map[uint64]bool{}}
}

// groupOf returns the node's slot for a group, growing the table as
// groups are created.
func (inv *invariants) groupOf(id, group uint64) *groupSeen {
	gs := inv.seen[id-1]
	if group >= uint64(len(gs)) {
		gs = append(gs, make([]groupSeen, group+1-uint64(len(gs)))...)
		inv.seen[id-1] = gs
	}
	return &gs[group]
}

type roleSeen struct {
	term, lead      uint64
	leader, serving bool
	// campaigning is for the report's roles only (World.roles), not the
	// trace: the trace line is written when the fields above change.
	campaigning bool
}

func (r roleSeen) traced() roleSeen { r.campaigning = false; return r }

type applyObserver struct {
	inv *invariants
	id  uint64
}

func (inv *invariants) observer(id uint64) node.Observer { return applyObserver{inv, id} }

func (o applyObserver) Applied(group, index, term uint64, data []byte) {
	inv := o.inv
	h := sha256.Sum256(data)
	if inv.w.node(o.id).fs.InFlight() > 0 {
		u := inv.pending(o.id)
		u.applied = append(u.applied, appliedEntry{group, index, term, h})
		return
	}
	inv.applied1(o.id, group, index, term, h)
}

func (inv *invariants) pending(id uint64) *unsyncedState {
	u := &inv.unsynced[id-1]
	if !u.active {
		u.active = true
		if u.hw == nil {
			u.hw = map[uint64]int64{}
		}
	}
	return u
}

// synced takes in what the node did after fsyncs that have now completed.
func (inv *invariants) synced(id uint64) {
	u := &inv.unsynced[id-1]
	if !u.active {
		return
	}
	for _, a := range u.applied {
		inv.applied1(id, a.group, a.index, a.term, a.sum)
	}
	for g, hw := range u.hw { // order-free: a max per group
		inv.raiseMaxHW(g, hw)
	}
	inv.crashed(id)
}

// crashed forgets what the node did after an fsync that never completed.
func (inv *invariants) crashed(id uint64) {
	u := &inv.unsynced[id-1]
	u.active = false
	u.applied = u.applied[:0]
	clear(u.hw)
}

func (inv *invariants) raiseMaxHW(group uint64, hw int64) {
	for uint64(len(inv.maxHW)) <= group {
		inv.maxHW = append(inv.maxHW, 0)
	}
	inv.maxHW[group] = max(inv.maxHW[group], hw)
}

func (inv *invariants) applied1(id, group, index, term uint64, h [32]byte) {
	hs := inv.applied[group]
	ts := inv.appliedT[group]
	for uint64(len(hs)) <= index {
		hs = append(hs, [32]byte{})
		ts = append(ts, 0)
	}
	if ts[index] == 0 {
		hs[index], ts[index] = h, term
	} else if hs[index] != h || ts[index] != term {
		inv.w.violate("group %d index %d: node %d applied term %d %x, another replica applied term %d %x",
			group, index, id, term, h[:4], ts[index], hs[index][:4])
	}
	inv.applied[group], inv.appliedT[group] = hs, ts
}

// restarted forgets a node's per-incarnation state: a restarted replica
// rebuilds its high watermark from the log.
func (inv *invariants) restarted(id uint64) {
	clear(inv.seen[id-1])
}

// check runs after every Process of a node.
func (inv *invariants) check(sn *simNode) {
	// Only the groups whose raft was called since the last check can have
	// changed; the whole list when the report's roles need redrawing or a
	// group came or went (thousands of idle partitions cost nothing here).
	hosted := 0
	inv.statusBuf, hosted = sn.n.AppendChangedStatus(inv.statusBuf[:0])
	if sn.rolesStale || hosted != inv.w.roles.openPer[sn.id] {
		inv.statusBuf = sn.n.AppendStatus(inv.statusBuf[:0])
	}
	for i := range inv.statusBuf {
		st := &inv.statusBuf[i]
		g := inv.groupOf(sn.id, st.Group)
		role := roleSeen{st.Term, st.Lead, st.Leader, st.Serving, st.Campaigning}
		if prev := g.role; !g.roleKnown || prev != role || sn.rolesStale {
			if prev.traced() != role.traced() {
				if role.leader && (!prev.leader || prev.term != role.term) {
					inv.w.stat("raft.leaders-elected", 1)
				}
				inv.w.record(fmt.Sprintf("n%d g%d term %d lead %d leader %v serving %v hw %d", sn.id, st.Group, st.Term, st.Lead, st.Leader, st.Serving, st.HighWatermark))
			}
			g.role, g.roleKnown = role, true
			inv.w.roles.observe(inv.w.now, sn.id, st)
		}
		if inv.w.stall != nil {
			inv.w.stallAt(sn.id, st)
		}
		if st.Leader {
			k := [2]uint64{st.Group, st.Term}
			if other, ok := inv.leaders[k]; !ok {
				inv.leaders[k] = sn.id
			} else if other != sn.id {
				inv.w.violate("group %d term %d has two leaders: node %d and node %d", st.Group, st.Term, other, sn.id)
				inv.leaders[k] = sn.id
			}
		}
		if st.HighWatermark < 0 {
			continue
		}
		inv.checkLogStart(sn, g, st)
		if g.hasHW && st.HighWatermark < g.hw {
			inv.w.violate("node %d %s: high watermark went back from %d to %d", sn.id, partLabel(*st), g.hw, st.HighWatermark)
		}
		g.hw, g.hasHW = st.HighWatermark, true
		for uint64(len(inv.maxHW)) <= st.Group {
			inv.maxHW = append(inv.maxHW, 0)
		}
		// A leader starts serving only once an entry of its term applied, so
		// everything committed before is applied: it must not start below a
		// high watermark some replica already reached. (A deposed leader
		// that has not noticed yet may lag; that is why fetch confirms
		// leadership, and the history checks catch it if it does not.)
		if st.Serving && g.servingTerm != st.Term && st.HighWatermark < inv.maxHW[st.Group] {
			inv.w.violate("node %d starts serving %s in term %d with high watermark %d, below %d reached before", sn.id, partLabel(*st), st.Term, st.HighWatermark, inv.maxHW[st.Group])
		}
		if st.Serving {
			g.servingTerm = st.Term
		}
		if sn.fs.InFlight() > 0 {
			if u := inv.pending(sn.id); st.HighWatermark > u.hw[st.Group] {
				u.hw[st.Group] = st.HighWatermark
			}
		} else if st.HighWatermark > inv.maxHW[st.Group] {
			inv.maxHW[st.Group] = st.HighWatermark
		}
	}
	sn.rolesStale = false
	if hosted != inv.w.roles.openPer[sn.id] {
		inv.w.roles.reconcile(inv.w.now, sn.id, inv.statusBuf)
	}
}

// checkLogStart checks a partition's log start against what this replica
// reported before (it never goes back while the state moves on) and, unless
// an fsync of the node is unfinished (a crash would undo what it applied),
// against every replica's reports at other indexes.
func (inv *invariants) checkLogStart(sn *simNode, g *groupSeen, st *node.GroupStatus) {
	if g.hasLS && st.StateIndex >= g.stateIndex && st.LogStart < g.logStart {
		inv.w.violate("node %d %s: log start went back from %d (index %d) to %d (index %d)", sn.id, partLabel(*st), g.logStart, g.stateIndex, st.LogStart, st.StateIndex)
	}
	g.logStart, g.stateIndex, g.hasLS = st.LogStart, st.StateIndex, true
	if sn.fs.InFlight() > 0 || inv.logStartBad[st.Group] {
		return
	}
	spans := inv.logStarts[st.Group]
	k, found := slices.BinarySearchFunc(spans, st.LogStart, func(s logStartSpan, v int64) int { return cmp.Compare(s.logStart, v) })
	if k > 0 && spans[k-1].hi >= st.StateIndex {
		inv.logStartBad[st.Group] = true
		inv.w.violate("node %d %s: log start %d at index %d, but %d was reported at index %d", sn.id, partLabel(*st), st.LogStart, st.StateIndex, spans[k-1].logStart, spans[k-1].hi)
	}
	next := k
	if found {
		next = k + 1
	}
	if next < len(spans) && spans[next].lo <= st.StateIndex {
		inv.logStartBad[st.Group] = true
		inv.w.violate("node %d %s: log start %d at index %d, but %d was reported at index %d", sn.id, partLabel(*st), st.LogStart, st.StateIndex, spans[next].logStart, spans[next].lo)
	}
	if found {
		spans[k].lo, spans[k].hi = min(spans[k].lo, st.StateIndex), max(spans[k].hi, st.StateIndex)
		return
	}
	inv.logStarts[st.Group] = slices.Insert(spans, k, logStartSpan{st.LogStart, st.StateIndex, st.StateIndex})
}

func partLabel(st node.GroupStatus) string {
	return fmt.Sprintf("%s/%d (group %d)", st.Topic, st.Partition, st.Group)
}
