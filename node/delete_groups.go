package node

// DeleteGroups (key 42), v0–v3: each group routed to its coordinator. Only
// a group without members (Empty, or one with only offsets) is deleted, by
// tombstones for its metadata and every committed offset, in one write
// guarded by "no members in the log" (NON_EMPTY_GROUP if one got in
// first); any other state answers NON_EMPTY_GROUP, an unknown group
// GROUP_ID_NOT_FOUND. A delete waits for the group's commits in flight (so
// that its tombstones cover them) and its write in flight; what arrives
// during it (a JoinGroup) runs after it against a new, empty group, as it
// would at Kafka.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

func (n *Node) handleDeleteGroups(cn *conn, corr int32, req *kmsg.DeleteGroupsRequest) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	s := n.newSlot(cn)
	codes := make([]int16, len(req.Groups))
	left := len(req.Groups) + 1
	finish := func() {
		if left--; left > 0 {
			return
		}
		for i, name := range req.Groups {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = name, codes[i]
			resp.Groups = append(resp.Groups, rg)
		}
		n.fill(cn, s, corr, resp)
	}
	for i, name := range req.Groups {
		n.deleteGroup(name, func(code int16) {
			codes[i] = code
			finish()
		})
	}
	finish()
}

// deleteGroup deletes one group if it has no members; done hears the code.
func (n *Node) deleteGroup(name string, done func(code int16)) {
	g, cs, code := n.groupCoordinator(name)
	if code != 0 {
		done(code)
		return
	}
	if cs.commitsInFlight[name] > 0 {
		// A commit proposed before the delete applies before it: the
		// delete must see it to tombstone it, so it waits for it.
		if len(cs.afterCommits[name]) >= groupAfterWriteMax {
			done(kerr.CoordinatorNotAvailable.Code)
			return
		}
		cs.afterCommits[name] = append(cs.afterCommits[name], func() { n.deleteGroup(name, done) })
		return
	}
	lg := cs.live[name]
	if lg == nil {
		// A KIP-848 group's own records go too; its members are checked
		// by the guard at apply, as a classic group's are.
		recs := append(groupTombstones(cs.group(name)), cs.consumerGroupTombstones(name)...)
		if len(recs) == 0 {
			done(kerr.GroupIDNotFound.Code)
			return
		}
		n.writeGroup(g, groupGuard{kind: guardNoMembers, group: name}, recs, func(code int16) {
			done(code)
		})
		return
	}
	ok := lg.whenIdle(func() {
		if lg.state != stateEmpty {
			done(kerr.NonEmptyGroup.Code)
			return
		}
		recs := groupTombstones(cs.group(name))
		if len(recs) == 0 {
			// Known only to the session state, and empty: nothing
			// to delete.
			n.forgetIfIdle(cs, lg)
			done(kerr.GroupIDNotFound.Code)
			return
		}
		n.writeGroupDelete(g, cs, lg, recs, done)
	})
	if !ok {
		done(kerr.CoordinatorNotAvailable.Code)
	}
}

// writeGroupDelete writes the tombstones deleting an empty group with
// session state lg, guarded by "no members in the log".
func (n *Node) writeGroupDelete(g *group, cs *coordState, lg *liveGroup, recs []wire.Record, done func(code int16)) {
	name := lg.name
	n.groupWriteRecords(g, lg, groupGuard{kind: guardNoMembers, group: name}, recs, func(code int16) {
		if code == 0 {
			// The group is gone: what waited for the write meets a
			// new one.
			fresh := n.newLiveGroup(cs, name)
			fresh.afterWrite, fresh.timerAt = lg.afterWrite, lg.timerAt
			*lg = *fresh
			n.forgetIfIdle(cs, lg)
		}
		done(code)
	})
}

// forgetIfIdle drops an empty group's session state when nothing waits on
// it and the log has no record of it.
func (n *Node) forgetIfIdle(cs *coordState, lg *liveGroup) {
	if cs.live[lg.name] == lg && len(lg.members) == 0 && len(lg.pendingMembers) == 0 &&
		len(lg.afterWrite) == 0 && !lg.writing && cs.group(lg.name) == nil {
		delete(cs.live, lg.name)
	}
}

// groupTombstones are the records deleting a group: its metadata (if the
// log has it) and every committed offset.
func groupTombstones(r *groupRec) []wire.Record {
	if r == nil {
		return nil
	}
	var recs []wire.Record
	for _, k := range r.sortedOffsets() {
		recs = append(recs, wire.Record{Key: offsetCommitKey(r.name, k.topic, k.partition)})
	}
	if r.meta != nil {
		recs = append(recs, wire.Record{Key: groupMetadataKey(r.name)})
	}
	return recs
}
