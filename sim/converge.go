package sim

import (
	"fmt"
	"sort"
	"time"

	"github.com/ketch-dev/ketch/node"
)

// The final convergence check, on the nodes' own state rather than through
// clients: after the heal and the quiet period, every live replica of every
// raft group (the metadata group 0 and each partition) has applied the same
// entries and holds the same state. For a partition that is the same Kafka
// log: the same batches (bytes, base offsets, leader epochs, raft indexes,
// the max timestamps the index holds),
// the same high watermark and log start, the same idempotent producer state;
// for the metadata group the same state, topic and broker configs included.
//
// The rule, and why it is sound. The clients stop starting operations a
// second before the end (client.running), so when the quiet period ends the
// cluster has had a second without new writes, with every fault healed for
// the whole quiet period. A replica that is then still behind its group's
// commit index is either catching up (it gets a heartbeat with the commit
// index every tick and its missing entries within a few round trips) or
// stuck. So the check first waits: it runs the world on, with no new client
// operations, for up to settleMax, looking every settleStep; a group
// converges when every live replica's applied index equals the highest
// commit index any of them knows, and their digests agree. A replica still
// behind after settleMax (20 heartbeats, two maximal election timeouts) is
// not catching up: a follower paused in StateSnapshot forever, a node that
// never learnt of a group. Comparing only a common prefix would let such a
// replica pass, which is why the check demands the whole log.
const (
	settleMax  = 2 * time.Second
	settleStep = 100 * time.Millisecond
)

// liveNode reports whether a node runs and so must converge: not down, not
// dead of a panic (already a violation of its own).
func (sn *simNode) liveNode() bool { return sn.up && !sn.dead && sn.n != nil }

// settle runs the world past the end of the quiet period until every group
// converged or settleMax passed, and reports what still differs.
func (w *World) settle() []string {
	deadline := w.now + int64(settleMax)
	for {
		problems := w.divergence()
		if len(problems) == 0 {
			if w.now > w.end() {
				w.stat("settle.extra-steps", int((w.now-w.end())/int64(settleStep)))
			}
			return nil
		}
		if w.now >= deadline {
			for i := range problems {
				problems[i] = fmt.Sprintf("convergence (%v after the quiet period): %s", time.Duration(w.now-w.end()), problems[i])
			}
			return problems
		}
		w.runUntil(w.now + int64(settleStep))
	}
}

type replicaState struct {
	id     uint64
	status node.GroupStatus
}

// divergence lists the groups whose live replicas do not (yet) agree.
func (w *World) divergence() []string {
	hosts := map[uint64][]replicaState{}
	var voters = map[uint64][]uint64{}
	live := map[uint64]bool{}
	for _, sn := range w.nodes {
		if !sn.liveNode() {
			continue
		}
		live[sn.id] = true
		for _, st := range sn.n.Status() {
			hosts[st.Group] = append(hosts[st.Group], replicaState{sn.id, st})
			if len(voters[st.Group]) == 0 || st.Leader {
				voters[st.Group] = st.Voters
			}
		}
	}
	groups := make([]uint64, 0, len(hosts))
	for g := range hosts {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i] < groups[j] })
	var out []string
	metaOK := true
	for _, g := range groups {
		reps := hosts[g]
		var commit uint64
		for _, r := range reps {
			commit = max(commit, r.status.Commit)
		}
		behind := ""
		for _, r := range reps {
			if r.status.Applied != commit {
				behind += fmt.Sprintf(" node %d applied %d (commit %d, term %d, lead %d);", r.id, r.status.Applied, r.status.Commit, r.status.Term, r.status.Lead)
			}
		}
		if behind != "" {
			out = append(out, fmt.Sprintf("%s: commit index %d:%s", groupLabel(reps[0].status), commit, behind))
			if g == 0 {
				metaOK = false
			}
			continue
		}
		if msg := w.compareDigests(reps); msg != "" {
			out = append(out, fmt.Sprintf("%s: %s", groupLabel(reps[0].status), msg))
			if g == 0 {
				metaOK = false
			}
		}
	}
	// Once the metadata agrees (so topic creations and deletions are
	// settled), every live voter of a group must host it.
	if metaOK {
		for _, g := range groups {
			hosted := map[uint64]bool{}
			for _, r := range hosts[g] {
				hosted[r.id] = true
			}
			for _, v := range voters[g] {
				if live[v] && !hosted[v] {
					out = append(out, fmt.Sprintf("%s: node %d is a voter but does not host the group", groupLabel(hosts[g][0].status), v))
				}
			}
		}
	}
	return out
}

func groupLabel(st node.GroupStatus) string {
	if st.Topic == "" {
		return fmt.Sprintf("metadata group %d", st.Group)
	}
	return partLabel(st)
}

// compareDigests compares the replicas of one group that applied the same
// index; on a difference it names the first batch where two logs part.
func (w *World) compareDigests(reps []replicaState) string {
	var first node.GroupDigest
	for i, r := range reps {
		d, ok, err := w.node(r.id).n.Digest(r.status.Group)
		if err != nil {
			return fmt.Sprintf("node %d cannot read its log back: %v", r.id, err)
		}
		if !ok {
			return fmt.Sprintf("node %d no longer hosts the group", r.id)
		}
		if i == 0 {
			first = d
			continue
		}
		if d.Digest == first.Digest {
			continue
		}
		msg := fmt.Sprintf("node %d and node %d applied index %d but hold different state (log start %d/%d, high watermark %d/%d, %d/%d batches)",
			reps[0].id, r.id, d.Applied, first.LogStart, d.LogStart, first.HighWatermark, d.HighWatermark, first.Batches, d.Batches)
		if r.status.Topic != "" {
			msg += w.firstBatchDiff(reps[0].id, r.id, r.status.Group)
		}
		return msg
	}
	return ""
}

func (w *World) firstBatchDiff(a, b, group uint64) string {
	ba, errA := w.node(a).n.Batches(group)
	bb, errB := w.node(b).n.Batches(group)
	if errA != nil || errB != nil {
		return fmt.Sprintf("; cannot list batches: %v %v", errA, errB)
	}
	for i := 0; i < min(len(ba), len(bb)); i++ {
		if ba[i] != bb[i] {
			x, y := ba[i], bb[i]
			return fmt.Sprintf("; first difference at batch %d: node %d has offset %d count %d epoch %d raft index %d max timestamp %d sha %x, node %d has offset %d count %d epoch %d raft index %d max timestamp %d sha %x",
				i, a, x.Base, x.Count, x.Epoch, x.RaftIndex, x.MaxTimestamp, x.Sum[:4], b, y.Base, y.Count, y.Epoch, y.RaftIndex, y.MaxTimestamp, y.Sum[:4])
		}
	}
	if len(ba) != len(bb) {
		return fmt.Sprintf("; the batches agree up to %d, then one log goes on", min(len(ba), len(bb)))
	}
	return "; the batches agree: the producer state differs"
}

// offsetsTopic is Kafka's internal topic of group state.
const offsetsTopic = "__consumer_offsets"

// coordinatorLogs checks every live replica of every __consumer_offsets
// partition: the fold of its log, as compacted, is the state it applied
// (Node.CheckCoordinatorLog), the rule that lets a broker or a tool rebuild
// the groups from the log.
func (w *World) coordinatorLogs() []string {
	var out []string
	for _, sn := range w.nodes {
		if !sn.liveNode() {
			continue
		}
		for _, st := range sn.n.Status() {
			if st.Topic != offsetsTopic {
				continue
			}
			if err := sn.n.CheckCoordinatorLog(st.Group); err != nil {
				out = append(out, fmt.Sprintf("coordinator log: node %d: %v", sn.id, err))
			}
		}
	}
	return out
}
