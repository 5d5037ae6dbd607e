package sim

import (
	"fmt"
	"strings"
	"time"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/wal"
)

// scheduleFault arms one fault of the schedule. Every fault ends (heals, or
// restarts the node) by Config.Duration at the latest, when the quiet period
// starts.
func (w *World) scheduleFault(f Fault) {
	endAt := int64(f.At + f.For)
	if endAt > int64(w.cfg.Duration) || f.For <= 0 {
		endAt = int64(w.cfg.Duration)
	}
	w.at(int64(f.At), "fault "+f.String(), 0, 0, 0, func() {
		target := w.resolve(f.Node)
		desc := f.String()
		if f.Node <= 0 && target != 0 {
			desc += fmt.Sprintf(" (node %d)", target)
		}
		if !w.inject(f, target) {
			w.record("fault skipped: " + desc)
			w.stat("fault."+string(f.Kind)+".skipped", 1)
			return
		}
		w.stat("fault."+string(f.Kind), 1)
		noteEnd := endAt
		if f.Kind == CutConns && f.For <= 0 {
			noteEnd = w.now // over once done: the clients reconnect at once
		}
		if f.Kind == Crash || f.Kind == TornCrash {
			for _, o := range w.nodes {
				if o.id != target && (o.recover != nil || !o.up) {
					// A replica under repair neither votes nor
					// campaigns: its groups may rightly wait for the
					// crashed node (sim/failover.go). Nor does a node
					// that is down, as one stopped on a disk error is
					// outside any fault's span (swarm seed 63).
					w.failoverExcused = append(w.failoverExcused, len(w.notes))
					break
				}
			}
		}
		w.notes = append(w.notes, checker.Annotation{Start: w.now, End: noteEnd, Description: desc, Tag: string(f.Kind)})
		w.faultNodes = append(w.faultNodes, target)
		w.healedAt = max(w.healedAt, endAt)
		w.at(endAt, "heal "+desc, 0, 0, 0, func() { w.heal(f, target) })
	})
}

func (w *World) resolve(n int) uint64 {
	if n > 0 && n <= len(w.nodes) {
		return uint64(n)
	}
	if n == NodeCoordinator {
		if id := w.coordinatorNode(); id != 0 {
			return id
		}
	}
	if l := w.leaderOf(w.cfg.Topics[0].Name, 0); l != 0 {
		return l
	}
	if l := w.metaLeader(); l != 0 {
		return l
	}
	return uint64(1 + w.faults.IntN(len(w.nodes)))
}

func (w *World) inject(f Fault, id uint64) bool {
	sn := w.node(id)
	switch f.Kind {
	case Crash:
		if !sn.up {
			return false
		}
		sn.crash(0, "fault")
	case TornCrash:
		if !sn.up {
			return false
		}
		keep := w.cfg.Disk.KeepUnsynced
		if keep <= 0 {
			keep = 0.5
		}
		// Power fails while an fsync is in flight: at once if one is, else
		// inside the next one (or after tornCrashWait if the node stays idle).
		if sn.fs.InFlight() > 0 {
			sn.crash(keep, "fault during an fsync, unsynced sectors partly kept")
			break
		}
		sn.tornCrash = keep
		inc := sn.incarnation
		w.after(tornCrashWait, "torn-crash-deadline(node)", int64(id), 0, 0, func() {
			if inc == sn.incarnation && sn.tornCrash > 0 {
				sn.tornCrash = 0
				sn.crash(keep, "fault, unsynced sectors partly kept")
			}
		})
	case Pause:
		if !sn.up || sn.paused {
			return false
		}
		sn.pause()
	case Isolate:
		for _, o := range w.nodes {
			if o.id != id {
				w.cut[[2]uint64{id, o.id}] = true
				w.cut[[2]uint64{o.id, id}] = true
			}
		}
	case Split:
		side := map[uint64]bool{}
		for _, g := range f.Group {
			side[uint64(g)] = true
		}
		for _, a := range w.nodes {
			for _, b := range w.nodes {
				if side[a.id] != side[b.id] {
					w.cut[[2]uint64{a.id, b.id}] = true
				}
			}
		}
	case OneWay:
		peer := uint64(f.Peer)
		if peer == 0 || peer == id {
			peer = id%uint64(len(w.nodes)) + 1
		}
		w.cut[[2]uint64{id, peer}] = true
	case FailSync, FailWrite:
		if !sn.up {
			return false
		}
		if f.Kind == FailSync {
			sn.failNext = "sync"
		} else {
			sn.failNext = "write"
		}
	case BitFlip, ReadError:
		if !sn.up || w.damageElsewhere(id) {
			return false
		}
		sn.crash(0, "fault, before the platter fails")
		name, size := w.syncedSegment(sn)
		if size == 0 {
			return true
		}
		off := w.faults.between(0, int64(size-1))
		if f.Kind == BitFlip {
			_ = sn.fs.FlipBit(name, off, byte(1)<<w.faults.IntN(8))
		} else {
			_ = sn.fs.MarkBad(name, off)
		}
		w.record(fmt.Sprintf("n%d %s at %s offset %d", id, f.Kind, name, off))
		sn.damaged = true
		sn.damagedIn = append(sn.damagedIn, name)
	case Misdirect:
		if !sn.up || w.damageElsewhere(id) {
			return false
		}
		name, size := w.syncedSegment(sn)
		if size == 0 {
			return false
		}
		if names := sn.segments(); len(names) > 1 && w.faults.IntN(2) == 0 {
			target := names[w.faults.IntN(len(names)-1)]
			sn.fs.Misdirect(target, 0)
			// and leaves a hole in the file written next
			sn.damagedIn = append(sn.damagedIn, target, "")
		} else {
			sn.damagedIn = append(sn.damagedIn, "") // lands in the file written next
			sn.fs.Misdirect("", int(w.faults.between(1, int64(size))))
		}
		w.record(fmt.Sprintf("n%d's next write misdirected (active %s)", id, name))
		sn.damaged = true
	case NoSpace:
		if !sn.up {
			return false
		}
		sn.noSpace = true
	case FsyncEIO:
		if !sn.up {
			return false
		}
		sn.failNext = "sync-drop"
	case NetChaos:
		w.chaos = f.Chaos
	case CutConns:
		if !sn.up {
			return false
		}
		sn.closeConns()
	case ClientCut:
		if !sn.up || sn.clientCut {
			return false
		}
		sn.clientCut = true
		for _, c := range sn.conns {
			c.blackholed = true
		}
	case ClockJump:
		if !sn.up {
			return false
		}
		sn.skew += int64(f.Jump)
		if f.Jump < 0 {
			sn.backJumped += int64(-f.Jump)
		}
		sn.startTicks() // its next tick falls at another simulated time now
	case SnapCrash:
		w.snapCrash = true
	case AckCrash:
		w.ackCrash = true
	case CoordCrash:
		w.coordCrash = true
	case CommitCrash:
		w.commitCrash = true
	default:
		w.violate("unknown fault kind %q", f.Kind)
		return false
	}
	return true
}

// tornCrashWait bounds how long a TornCrash waits for an fsync to land in.
const tornCrashWait = 50 * time.Millisecond

func (w *World) heal(f Fault, id uint64) {
	sn := w.node(id)
	switch f.Kind {
	case Crash, TornCrash, FailSync, FailWrite, BitFlip, ReadError, NoSpace:
		sn.failNext, sn.noSpace = "", false
		sn.restart()
	case Misdirect, FsyncEIO:
		// The damage (a misdirected write, pages the failed fsync dropped)
		// shows once the page cache is gone. A node that stopped on the
		// EIO, as it must, is down already.
		if sn.failNext == "sync-drop" {
			sn.failNext = ""
		}
		sn.crash(w.cfg.Disk.KeepUnsynced, fmt.Sprintf("power loss after %s", f.Kind))
		sn.restart()
	case Pause:
		sn.resume()
	case Isolate, Split, OneWay:
		w.cut = map[[2]uint64]bool{}
	case NetChaos:
		w.chaos = NetConfig{}
	case ClientCut:
		sn.healClientCut()
	case SnapCrash:
		w.snapCrash = false
	case AckCrash:
		w.ackCrash = false
	case CoordCrash:
		w.coordCrash = false
	case CommitCrash:
		w.commitCrash = false
	}
}

func (w *World) healAll() {
	w.snapCrash, w.ackCrash, w.coordCrash, w.commitCrash, w.stall = false, false, false, false, nil
	if len(w.cut) > 0 || w.chaos != (NetConfig{}) {
		w.cut = map[[2]uint64]bool{}
		w.chaos = NetConfig{}
	}
	for _, sn := range w.nodes {
		sn.failNext, sn.noSpace = "", false
		sn.healClientCut()
		if !sn.up {
			sn.restart()
		} else if sn.paused {
			sn.resume()
		}
	}
	w.healedAt = max(w.healedAt, int64(w.cfg.Duration))
}

// damageElsewhere: another node is damaged or under repair, or this node
// holds the only replica of a partition. The sim damages one node at a
// time, as protocol-aware recovery assumes a majority of intact replicas;
// a partition of one replica has no peer to repair it from (the operator's
// wipe would lose it by design).
func (w *World) damageElsewhere(id uint64) bool {
	if w.node(id).holdsSoleReplica() {
		return true
	}
	for _, o := range w.nodes {
		if o.id != id && (o.damaged || o.recover != nil) {
			return true
		}
	}
	return false
}

// holdsSoleReplica: the node is up and hosts a group of one voter.
func (sn *simNode) holdsSoleReplica() bool {
	if !sn.up {
		return false
	}
	for _, st := range sn.n.Status() {
		if len(st.Voters) == 1 {
			return true
		}
	}
	return false
}

// segments lists the node's log segment files, oldest first.
func (sn *simNode) segments() []string {
	var out []string
	for _, name := range sn.fs.Files() {
		if strings.HasPrefix(name, "wal/") && strings.HasSuffix(name, ".wal") {
			out = append(out, name)
		}
	}
	return out
}

// syncedSegment picks a segment of the node's log holding synced bytes,
// preferring the active (newest) one, where recovery is hardest.
func (w *World) syncedSegment(sn *simNode) (string, int) {
	names := sn.segments()
	if len(names) == 0 {
		return "", 0
	}
	name := names[len(names)-1]
	if len(names) > 1 && w.faults.IntN(3) == 0 {
		name = names[w.faults.IntN(len(names)-1)]
	}
	return name, sn.fs.SyncedSize(name)
}

// lostAcked reports a group whose recovered log lacks an entry the node
// acknowledged to its leader and that committed ("" if none): what a log
// that cuts synced data on corruption does.
func (w *World) lostAcked(sn *simNode, l *wal.Log) string {
	for _, g := range l.Groups() {
		need := w.acked[[2]uint64{sn.id, g}]
		if last, _ := l.Storage(g).LastIndex(); last < need {
			return fmt.Sprintf("group %d holds entries up to %d, acknowledged %d (committed)", g, last, need)
		}
	}
	return ""
}
