package sim

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/wire"
)

// Offset expiry and the coordinator's loading window in the simulator.

// offsetsCheckInterval is how often nodes look for expired offsets when a
// run sets a short OffsetsRetention (0: the node's default).
func (w *World) offsetsCheckInterval() time.Duration {
	if w.cfg.OffsetsRetention == 0 {
		return 0
	}
	return 500 * time.Millisecond
}

// groupRules tells the group checks when offsets may have expired. A group's
// offsets go only once it has had no members for the retention (a classic
// group: the retention after it became empty, which its last member's
// LeaveGroup may make right after that member's last answer), as the
// coordinator's clock counts it. That clock may run fast (drift), and
// another node's clock may have stamped the moment the group became empty
// (skew and drift between two nodes over the run, a clock stepped
// forward); the silence the checks demand is the retention less all of
// that, less a margin (the scenarios set a short retention only where the
// clocks are true).
func (w *World) groupRules() checker.GroupRules {
	if w.cfg.OffsetsRetention == 0 {
		return checker.GroupRules{}
	}
	// Two clocks drifting apart for the whole run, each skewed.
	run := float64(w.cfg.Duration + w.cfg.Quiet)
	ahead := 2*w.cfg.Clock.SkewMax + time.Duration(2*w.cfg.Clock.DriftMax*run)
	for _, f := range w.cfg.Faults {
		if f.Kind == ClockJump && f.Jump > 0 {
			ahead += f.Jump
		}
	}
	gap := time.Duration(float64(w.cfg.OffsetsRetention)/(1+w.cfg.Clock.DriftMax)) - ahead - 50*time.Millisecond
	gap = max(gap, time.Millisecond)
	rules := checker.GroupRules{Expiry: map[string]int64{}}
	for i := 0; i < w.cfg.groups(); i++ {
		rules.Expiry[groupName(i)] = int64(gap)
	}
	return rules
}

// commitStall is a CommitCrash that fired: the coordinator that answered
// the commit is down, and the first other replica of its partition to lead
// it will be cut off its last follower.
type commitStall struct {
	crashed   uint64
	partition int32
}

// Times of a CommitCrash once it fires: the crashed coordinator restarts
// after commitCrashDown; the new coordinator's link to its other follower is
// cut for commitStallFor.
const (
	commitCrashDown = 3 * time.Second
	commitStallFor  = 1500 * time.Millisecond
)

// commitAnswered: the response frame r on connection c answers an accepted
// OffsetCommit (every partition without an error), and for which group.
func (sn *simNode) commitAnswered(c *simConn, data []byte) (string, bool) {
	if len(data) < 8 {
		return "", false
	}
	corr := int32(binary.BigEndian.Uint32(data[4:8]))
	for _, cl := range c.inflight {
		req, ok := cl.req.(*kmsg.OffsetCommitRequest)
		if !ok || cl.corr != corr {
			continue
		}
		_, resp, err := wire.ParseResponse(data[4:], req)
		if err != nil {
			return "", false
		}
		for _, t := range resp.(*kmsg.OffsetCommitResponse).Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return "", false
				}
			}
		}
		return req.Group, len(req.Topics) > 0
	}
	return "", false
}

// commitCrashFires, during a CommitCrash, finds in a node's output an
// accepted OffsetCommit answer. Then only the answers leave: the node loses
// power between writing them and sending its raft messages (the host writes
// each on its own goroutine), so its followers do not learn that the
// commit's entry committed. A follower that becomes the coordinator holds
// the entry but has not applied it: until an entry of its own term commits,
// it has not loaded the group (KAFKA-16030's window), and the fault keeps it
// there a while by cutting it off its other follower as soon as it leads.
func (sn *simNode) commitCrashFires(out *node.Output) *simConn {
	w := sn.w
	for _, r := range out.Responses {
		c := sn.conns[r.Conn]
		if c == nil {
			continue
		}
		group, ok := sn.commitAnswered(c, r.Data)
		if !ok {
			continue
		}
		w.commitCrash = false
		w.stall = &commitStall{crashed: sn.id, partition: node.CoordinatorPartition(group, node.OffsetsPartitionsDefault)}
		w.record(fmt.Sprintf("commit-crash: n%d answered an OffsetCommit of %s; its raft messages are lost with it", sn.id, group))
		w.stat("crash.after-offset-commit", 1)
		out.Messages = nil
		return c
	}
	return nil
}

// afterCommitCrash takes the node down right after its answers left on c,
// and restarts it commitCrashDown later. The answers were written to the
// socket, which the kernel delivers after the process died; here the node
// stops at once (paused: it sends nothing more) and loses power once they
// arrived (a crash closes its connections, and so would drop them).
func (sn *simNode) afterCommitCrash(c *simConn) {
	w := sn.w
	w.faultSpan(commitCrashDown+commitStallFor, fmt.Sprintf("commit-crash fired on node %d", sn.id), string(CommitCrash), sn.id)
	sn.pause()
	inc := sn.incarnation
	w.at(max(c.toClient, w.now)+1, "commit-crash(node)", int64(sn.id), 0, 0, func() {
		if !sn.up || sn.incarnation != inc {
			return
		}
		sn.crash(0, "power loss right after answering an OffsetCommit, before its raft messages left")
		w.after(commitCrashDown, "restart(node)", int64(sn.id), 0, 0, sn.restart)
	})
}

// stallAt runs with every status the invariant checks read: the first node
// other than the crashed one to lead the group's partition, not yet
// serving, loses its link to its other follower for commitStallFor (both
// still answer clients), so it cannot commit an entry of its term until the
// link heals, the crashed node is back, or check-quorum deposes it.
func (w *World) stallAt(id uint64, st *node.GroupStatus) {
	s := w.stall
	if s == nil || !st.Leader || st.Serving || id == s.crashed || st.Topic != node.OffsetsTopic || st.Partition != s.partition {
		return
	}
	w.stall = nil
	for _, v := range st.Voters {
		if v == id || v == s.crashed {
			continue
		}
		w.record(fmt.Sprintf("commit-crash: n%d leads %s/%d in term %d; its link to n%d is cut", id, node.OffsetsTopic, s.partition, st.Term, v))
		w.stat("stall.loading-coordinator", 1)
		links := [][2]uint64{{id, v}, {v, id}}
		for _, l := range links {
			w.cut[l] = true
		}
		w.after(commitStallFor, "heal-link(node,node)", int64(id), int64(v), 0, func() {
			for _, l := range links {
				delete(w.cut, l)
			}
		})
	}
}

// faultSpan notes a fault a fault's trigger caused, from now for d (the
// report's timeline, and the ack gap counts it as touching the cluster).
func (w *World) faultSpan(d time.Duration, desc, tag string, target uint64) {
	end := w.now + int64(d)
	w.notes = append(w.notes, checker.Annotation{Start: w.now, End: end, Description: desc, Tag: tag})
	w.faultNodes = append(w.faultNodes, target)
	w.healedAt = max(w.healedAt, end)
}
