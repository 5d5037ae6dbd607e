package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// faultKind is one kind of fault the schedule injects.
type faultKind int

const (
	// killLeader SIGKILLs the partition's leader and restarts it later on
	// the same data: acknowledged writes must survive, the rest fail over.
	killLeader faultKind = iota
	// killFollower SIGKILLs a node that does not lead the partition.
	killFollower
	// isolateLeader cuts every peer link of the leader while clients can
	// still reach it: it must stop acknowledging and serving (CheckQuorum,
	// ReadIndex) while the others elect a new leader.
	isolateLeader
	// isolateFollower cuts a follower off; when healed it must catch up
	// without deposing the leader (PreVote).
	isolateFollower
	// termRestart stops a node with SIGTERM (leadership handed away) and
	// starts it again.
	termRestart
	// pauseLeader freezes the leader (SIGSTOP) and cuts its links; the
	// others elect a new leader and take writes; then the old leader wakes
	// still isolated, believing it leads until CheckQuorum notices, and
	// clients that still think so ask it. A leader that serves a fetch
	// without confirming its leadership answers stale data here.
	pauseLeader
	faultKinds
)

func (k faultKind) String() string {
	return [...]string{"kill-leader", "kill-follower", "isolate-leader", "isolate-follower", "term-restart", "pause-leader"}[k]
}

// plannedFault is one step of the schedule, all drawn from the seed before
// the run starts, so that a seed names the same schedule every time.
type plannedFault struct {
	gap  time.Duration // wait before it
	kind faultKind
	hold time.Duration // how long the fault lasts
	pick int           // which node, when the kind leaves a choice (index into candidates)
	mode CutMode       // for isolations
}

func (f plannedFault) String() string {
	s := fmt.Sprintf("after %.1fs %s for %.1fs", f.gap.Seconds(), f.kind, f.hold.Seconds())
	if f.kind == isolateLeader || f.kind == isolateFollower || f.kind == pauseLeader {
		s += " (" + f.mode.String() + ")"
	}
	return s
}

// planFaults draws a schedule that fills d. One fault at a time, so a quorum
// is always up once each fault is undone; each is held long enough for an
// election (1 s of raft ticks by default) and the clients to notice.
func planFaults(seed int64, d time.Duration) []plannedFault {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6b657463682d6368)) // "ketch-ch"
	var plan []plannedFault
	// Kinds are dealt from a shuffled deck, so a short run still gets
	// several different faults and a long one gets every kind.
	var deck []faultKind
	for t := time.Duration(0); ; {
		if len(deck) == 0 {
			for k := range faultKinds {
				deck = append(deck, k)
			}
			rng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
		}
		kind := deck[0]
		deck = deck[1:]
		f := plannedFault{
			gap:  time.Duration(1000+rng.IntN(3000)) * time.Millisecond,
			kind: kind,
			hold: time.Duration(2000+rng.IntN(4000)) * time.Millisecond,
			pick: rng.IntN(1 << 16),
			mode: CutMode(rng.IntN(2)),
		}
		// Restarting takes a node's log replay and the election after it;
		// count a few seconds for it so the plan does not overrun much.
		t += f.gap + f.hold + 2*time.Second
		if t > d && len(plan) > 0 {
			return plan
		}
		plan = append(plan, f)
	}
}

// faultDone is what ran, for the summary and the visualisation.
type faultDone struct {
	start, end int64 // ns since the run's start
	what       string
}

// inject runs one planned fault to the end (the node restarted, resumed or
// healed) and says what it did. leader is the partition leader as the
// cluster reports it now (noLeader if none).
func (r *run) inject(ctx context.Context, f plannedFault, leader int) (faultDone, error) {
	ids := make([]int, 0, len(r.cl.Nodes()))
	var followers []int
	for _, p := range r.cl.Nodes() {
		ids = append(ids, p.ID)
		if p.ID != leader {
			followers = append(followers, p.ID)
		}
	}
	target, role := 0, "follower"
	switch f.kind {
	case killLeader, isolateLeader, pauseLeader:
		target, role = leader, "leader"
		if leader == noLeader {
			// Nobody leads right now: hit anyone, it still tests recovery.
			target, role = ids[f.pick%len(ids)], "no leader known"
		}
	case killFollower, isolateFollower:
		if len(followers) == 0 {
			followers = ids // a lone node: it is all there is to hit
		}
		target = followers[f.pick%len(followers)]
		if target == leader {
			role = "leader"
		}
	case termRestart:
		target = ids[f.pick%len(ids)]
		if target == leader {
			role = "leader"
		}
	}
	start := r.rec.now()
	var what string
	var err error
	switch f.kind {
	case killLeader, killFollower:
		r.cl.Kill(target)
		what = fmt.Sprintf("SIGKILL node %d (%s), restart after %.1fs", target, role, f.hold.Seconds())
		if err = r.sleep(ctx, f.hold); err == nil {
			err = r.cl.Start(ctx, target)
		}
	case isolateLeader, isolateFollower:
		r.cl.Isolate(target, f.mode)
		what = fmt.Sprintf("isolate node %d (%s, %s) for %.1fs", target, role, f.mode, f.hold.Seconds())
		err = r.sleep(ctx, f.hold)
		r.cl.HealLinks()
	case termRestart:
		what = fmt.Sprintf("SIGTERM node %d (%s), restart after %.1fs", target, role, f.hold.Seconds())
		if err = r.cl.Term(target); err != nil {
			break
		}
		if err = r.sleep(ctx, f.hold); err == nil {
			err = r.cl.Start(ctx, target)
		}
	case pauseLeader:
		r.cl.Isolate(target, f.mode)
		r.cl.Pause(target)
		what = fmt.Sprintf("SIGSTOP node %d (%s) and isolate it (%s) for %.1fs, SIGCONT, heal 2s later", target, role, f.mode, f.hold.Seconds())
		err = r.sleep(ctx, f.hold)
		r.cl.Resume(target)
		if err == nil {
			err = r.sleep(ctx, 2*time.Second)
		}
		r.cl.HealLinks()
	}
	return faultDone{start: start, end: r.rec.now(), what: what}, err
}

// sleep waits d unless the run is cancelled: the schedule's own timing.
func (r *run) sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
