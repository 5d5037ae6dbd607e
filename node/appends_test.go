package node

import (
	"fmt"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

func appMsg(group, to, term, index, commit uint64, ents int) PeerMessage {
	m := &raftpb.Message{Type: raftpb.MessageType_MsgApp.Enum(), To: &to, Term: &term, Index: &index, Commit: &commit}
	for i := 0; i < ents; i++ {
		m.Entries = append(m.Entries, &raftpb.Entry{Index: new(index + uint64(i) + 1), Term: &term, Data: []byte("x")})
	}
	return PeerMessage{Group: group, To: to, Msg: m}
}

func heartbeatMsg(group, to, term, commit uint64) PeerMessage {
	return PeerMessage{Group: group, To: to, Msg: &raftpb.Message{Type: raftpb.MessageType_MsgHeartbeat.Enum(), To: &to, Term: &term, Commit: &commit}}
}

// describeMsgs renders messages as "group/to:type@index+entries c=commit".
func describeMsgs(msgs []PeerMessage) string {
	s := ""
	for _, pm := range msgs {
		m := pm.Msg
		if m == nil {
			s += fmt.Sprintf("[%d/%d:forward]", pm.Group, pm.To)
			continue
		}
		s += fmt.Sprintf("[%d/%d:%v@%d+%d c=%d t=%d]", pm.Group, pm.To, m.GetType(), m.GetIndex(), len(m.GetEntries()), m.GetCommit(), m.GetTerm())
	}
	return s
}

func TestMergeAppends(t *testing.T) {
	later := map[appKey]appMark{}
	cases := []struct {
		name     string
		in, want []PeerMessage
	}{
		{"commit-only then entries: the empty one goes",
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 0), appMsg(1, 2, 5, 10, 9, 2)},
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 2)}},
		{"entries then the commit past them: the entries take the commit",
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 2), appMsg(1, 2, 5, 12, 11, 0)},
			[]PeerMessage{appMsg(1, 2, 5, 10, 11, 2)}},
		{"a chain folds into the one with entries",
			[]PeerMessage{appMsg(1, 2, 5, 10, 8, 0), heartbeatMsg(1, 2, 5, 8), appMsg(1, 2, 5, 10, 9, 2), appMsg(1, 2, 5, 12, 11, 0)},
			[]PeerMessage{heartbeatMsg(1, 2, 5, 8), appMsg(1, 2, 5, 10, 11, 2)}},
		{"another term keeps both",
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 0), appMsg(1, 2, 6, 10, 9, 2)},
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 0), appMsg(1, 2, 6, 10, 9, 2)}},
		{"another follower or group keeps both",
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 0), appMsg(1, 3, 5, 10, 9, 2), appMsg(2, 2, 5, 10, 9, 2)},
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 0), appMsg(1, 3, 5, 10, 9, 2), appMsg(2, 2, 5, 10, 9, 2)}},
		{"a later commit lower than the empty one's keeps both",
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 0), appMsg(1, 2, 5, 10, 8, 2)},
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 0), appMsg(1, 2, 5, 10, 8, 2)}},
		{"a later index lower than the empty one's keeps both",
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 0), appMsg(1, 2, 5, 7, 9, 2)},
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 0), appMsg(1, 2, 5, 7, 9, 2)}},
		{"a commit-only message not just past the entries keeps both",
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 2), appMsg(1, 2, 5, 13, 11, 0)},
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 2), appMsg(1, 2, 5, 13, 11, 0)}},
		{"two with entries both stay",
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 2), appMsg(1, 2, 5, 12, 11, 1)},
			[]PeerMessage{appMsg(1, 2, 5, 10, 9, 2), appMsg(1, 2, 5, 12, 11, 1)}},
		{"forwards and heartbeats keep their place",
			[]PeerMessage{{Group: 0, To: 2, Forward: []byte("p")}, appMsg(1, 2, 5, 10, 9, 0), heartbeatMsg(0, 2, 3, 4), appMsg(1, 2, 5, 10, 9, 1)},
			[]PeerMessage{{Group: 0, To: 2, Forward: []byte("p")}, heartbeatMsg(0, 2, 3, 4), appMsg(1, 2, 5, 10, 9, 1)}},
	}
	for _, c := range cases {
		got := mergeAppends(c.in, later)
		if describeMsgs(got) != describeMsgs(c.want) {
			t.Errorf("%s:\n got %s\nwant %s", c.name, describeMsgs(got), describeMsgs(c.want))
		}
		if len(later) != 0 {
			t.Errorf("%s: scratch left with %d keys", c.name, len(later))
		}
	}
}

// TestCommitOnlyAppendsHeld: a commit-only MsgApp waits up to commitHoldMax
// for a MsgApp with entries to carry its commit, and leaves when it passed.
func TestCommitOnlyAppendsHeld(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	n := &Node{now: t0}
	turn := func(at time.Duration, in []PeerMessage, want []PeerMessage, held int) {
		t.Helper()
		n.now = t0.Add(at)
		n.out.Messages = in
		n.sendAppends()
		if describeMsgs(n.out.Messages) != describeMsgs(want) {
			t.Errorf("at %v:\n got %s\nwant %s", at, describeMsgs(n.out.Messages), describeMsgs(want))
		}
		if len(n.heldApps) != held {
			t.Errorf("at %v: %d held, want %d", at, len(n.heldApps), held)
		}
	}
	turn(0, []PeerMessage{appMsg(1, 2, 5, 10, 9, 0), heartbeatMsg(0, 2, 3, 4)}, []PeerMessage{heartbeatMsg(0, 2, 3, 4)}, 1)
	if !n.heldUntil.Equal(t0.Add(commitHoldMax)) {
		t.Fatalf("held until %v, want %v", n.heldUntil, t0.Add(commitHoldMax))
	}
	// A proposal's MsgApp carries the commit: the held one is not sent.
	turn(time.Millisecond, []PeerMessage{appMsg(1, 2, 5, 10, 9, 2)}, []PeerMessage{appMsg(1, 2, 5, 10, 9, 2)}, 0)
	if !n.heldUntil.IsZero() {
		t.Errorf("nothing held, yet a deadline at %v", n.heldUntil)
	}
	// Its commit, held again; another follower's too.
	turn(2*time.Millisecond, []PeerMessage{appMsg(1, 2, 5, 12, 11, 0)}, nil, 1)
	turn(3*time.Millisecond, []PeerMessage{appMsg(1, 3, 5, 12, 11, 0)}, nil, 2)
	// Nothing came to carry them: both leave at the first deadline, in order.
	turn(2*time.Millisecond+commitHoldMax-1, nil, nil, 2)
	turn(2*time.Millisecond+commitHoldMax, []PeerMessage{heartbeatMsg(0, 3, 3, 4)},
		[]PeerMessage{appMsg(1, 2, 5, 12, 11, 0), appMsg(1, 3, 5, 12, 11, 0), heartbeatMsg(0, 3, 3, 4)}, 0)
	if !n.heldUntil.IsZero() {
		t.Errorf("all sent, yet a deadline at %v", n.heldUntil)
	}
}
