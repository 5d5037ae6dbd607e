package sim

import (
	"crypto/sha256"
	"fmt"

	"github.com/ketch-dev/ketch/node"
)

// invariants checks raft's and Kafka's safety properties while the run goes,
// from what the nodes apply and report:
//   - at most one leader per group per term;
//   - every replica applies the same entry at the same index (committed
//     prefixes agree, so applied state agrees);
//   - a replica's high watermark never goes backwards while it runs, and a
//     serving leader's is never below any high watermark ever reached.
type invariants struct {
	w           *World
	leaders     map[[2]uint64]uint64   // (group, term) -> leader
	applied     map[uint64][][32]byte  // group -> entry hash by index (index 0 unused; zero = not seen)
	appliedT    map[uint64][]uint64    // group -> term by index
	hw          map[[2]uint64]int64    // (node, group) -> last high watermark, this incarnation
	role        map[[2]uint64]roleSeen // (node, group) -> last role seen, for the trace
	servingTerm map[[2]uint64]uint64   // (node, group) -> term in which it last served
	statusBuf   []node.GroupStatus
	maxHW       map[uint64]int64 // group -> highest high watermark any replica reached
}

func newInvariants(w *World) *invariants {
	return &invariants{w: w, leaders: map[[2]uint64]uint64{}, applied: map[uint64][][32]byte{},
		appliedT: map[uint64][]uint64{}, hw: map[[2]uint64]int64{}, role: map[[2]uint64]roleSeen{}, servingTerm: map[[2]uint64]uint64{}, maxHW: map[uint64]int64{}}
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
			group, index, o.id, term, h[:4], ts[index], hs[index][:4])
	}
	inv.applied[group], inv.appliedT[group] = hs, ts
}

// restarted forgets a node's per-incarnation state: a restarted replica
// rebuilds its high watermark from the log.
func (inv *invariants) restarted(id uint64) {
	for k := range inv.hw {
		if k[0] == id {
			delete(inv.hw, k)
		}
	}
	for k := range inv.role {
		if k[0] == id {
			delete(inv.role, k)
			delete(inv.servingTerm, k)
		}
	}
}

// check runs after every Process of a node.
func (inv *invariants) check(sn *simNode) {
	inv.statusBuf = sn.n.AppendStatus(inv.statusBuf[:0])
	for i := range inv.statusBuf {
		st := &inv.statusBuf[i]
		role := roleSeen{st.Term, st.Lead, st.Leader, st.Serving, st.Campaigning}
		rk := [2]uint64{sn.id, st.Group}
		if prev, seen := inv.role[rk]; !seen || prev != role || sn.rolesStale {
			if prev.traced() != role.traced() {
				if role.leader && (!prev.leader || prev.term != role.term) {
					inv.w.stat("raft.leaders-elected", 1)
				}
				inv.w.record(fmt.Sprintf("n%d g%d term %d lead %d leader %v serving %v hw %d", sn.id, st.Group, st.Term, st.Lead, st.Leader, st.Serving, st.HighWatermark))
			}
			inv.role[rk] = role
			inv.w.roles.observe(inv.w.now, sn.id, st)
		}
		if st.Leader {
			k := [2]uint64{st.Group, st.Term}
			if other, ok := inv.leaders[k]; ok && other != sn.id {
				inv.w.violate("group %d term %d has two leaders: node %d and node %d", st.Group, st.Term, other, sn.id)
			}
			inv.leaders[k] = sn.id
		}
		if st.HighWatermark < 0 {
			continue
		}
		k := [2]uint64{sn.id, st.Group}
		if prev, ok := inv.hw[k]; ok && st.HighWatermark < prev {
			inv.w.violate("node %d %s: high watermark went back from %d to %d", sn.id, partLabel(*st), prev, st.HighWatermark)
		}
		inv.hw[k] = st.HighWatermark
		// A leader starts serving only once an entry of its term applied, so
		// everything committed before is applied: it must not start below a
		// high watermark some replica already reached. (A deposed leader
		// that has not noticed yet may lag; that is why fetch confirms
		// leadership, and the history checks catch it if it does not.)
		sk := [2]uint64{sn.id, st.Group}
		if st.Serving && inv.servingTerm[sk] != st.Term && st.HighWatermark < inv.maxHW[st.Group] {
			inv.w.violate("node %d starts serving %s in term %d with high watermark %d, below %d reached before", sn.id, partLabel(*st), st.Term, st.HighWatermark, inv.maxHW[st.Group])
		}
		if st.Serving {
			inv.servingTerm[sk] = st.Term
		}
		if st.HighWatermark > inv.maxHW[st.Group] {
			inv.maxHW[st.Group] = st.HighWatermark
		}
	}
	sn.rolesStale = false
	inv.w.roles.reconcile(inv.w.now, sn.id, inv.statusBuf)
}

func partLabel(st node.GroupStatus) string {
	return fmt.Sprintf("%s/%d (group %d)", st.Topic, st.Partition, st.Group)
}
