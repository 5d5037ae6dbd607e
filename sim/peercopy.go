package sim

import (
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The simulated network hands each receiver its own copy of a raft message:
// nodes share no memory, as over TCP. The real host marshals (node/host
// peer.go); the simulator copies field by field, which gives the receiver
// what unmarshalling the bytes would (nil stays nil, a set field stays set,
// bytes and slices are fresh) in a few allocations instead of one per field
// (raftpb's fields are all pointers). Config.MarshalPeers carries them
// through proto.Marshal/Unmarshal instead; a test holds the two to the same
// trace, and another sets every field raftpb has and compares the copy with
// proto.Equal, so a field added to raftpb and missed here fails a test.

// msgBox holds a message and its scalar fields in one allocation.
type msgBox struct {
	m                                                        raftpb.Message
	typ                                                      raftpb.MessageType
	to, from, term, logTerm, index, commit, vote, rejectHint uint64
	reject                                                   bool
}

type entryBox struct {
	e           raftpb.Entry
	term, index uint64
	typ         raftpb.EntryType
}

// copyMessage returns a deep copy of m sharing no memory with it.
func copyMessage(m *raftpb.Message) *raftpb.Message {
	if m == nil {
		return nil
	}
	b := &msgBox{}
	d := &b.m
	if m.Type != nil {
		b.typ, d.Type = *m.Type, &b.typ
	}
	d.To = copyU64(m.To, &b.to)
	d.From = copyU64(m.From, &b.from)
	d.Term = copyU64(m.Term, &b.term)
	d.LogTerm = copyU64(m.LogTerm, &b.logTerm)
	d.Index = copyU64(m.Index, &b.index)
	d.Commit = copyU64(m.Commit, &b.commit)
	d.Vote = copyU64(m.Vote, &b.vote)
	d.RejectHint = copyU64(m.RejectHint, &b.rejectHint)
	if m.Reject != nil {
		b.reject, d.Reject = *m.Reject, &b.reject
	}
	d.Context = copyBytes(m.Context)
	d.Entries = copyEntries(m.Entries)
	d.Snapshot = copySnapshot(m.Snapshot)
	if len(m.Responses) > 0 {
		d.Responses = make([]*raftpb.Message, len(m.Responses))
		for i, r := range m.Responses {
			d.Responses[i] = copyMessage(r)
		}
	}
	return d
}

func copyU64(src *uint64, slot *uint64) *uint64 {
	if src == nil {
		return nil
	}
	*slot = *src
	return slot
}

// copyBytes keeps the difference unmarshalling keeps: nil is absent, an
// empty slice is present.
func copyBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

func copyEntries(src []*raftpb.Entry) []*raftpb.Entry {
	if len(src) == 0 {
		return nil
	}
	boxes := make([]entryBox, len(src))
	out := make([]*raftpb.Entry, len(src))
	size := 0
	for _, e := range src {
		size += len(e.Data)
	}
	slab := make([]byte, 0, size) // every entry's data in one allocation
	for i, e := range src {
		b := &boxes[i]
		d := &b.e
		d.Term = copyU64(e.Term, &b.term)
		d.Index = copyU64(e.Index, &b.index)
		if e.Type != nil {
			b.typ, d.Type = *e.Type, &b.typ
		}
		if e.Data != nil {
			start := len(slab)
			slab = append(slab, e.Data...)
			d.Data = slab[start:len(slab):len(slab)]
		}
		out[i] = d
	}
	return out
}

func copySnapshot(s *raftpb.Snapshot) *raftpb.Snapshot {
	if s == nil {
		return nil
	}
	d := &raftpb.Snapshot{Data: copyBytes(s.Data)}
	if md := s.Metadata; md != nil {
		d.Metadata = &raftpb.SnapshotMetadata{Index: copyU64(md.Index, new(uint64)), Term: copyU64(md.Term, new(uint64))}
		if cs := md.ConfState; cs != nil {
			c := &raftpb.ConfState{Voters: copyU64s(cs.Voters), Learners: copyU64s(cs.Learners),
				VotersOutgoing: copyU64s(cs.VotersOutgoing), LearnersNext: copyU64s(cs.LearnersNext)}
			if cs.AutoLeave != nil {
				v := *cs.AutoLeave
				c.AutoLeave = &v
			}
			d.Metadata.ConfState = c
		}
	}
	return d
}

func copyU64s(s []uint64) []uint64 {
	if len(s) == 0 {
		return nil
	}
	return append([]uint64(nil), s...)
}

// marshalRoundTrip is the host's way: bytes on the wire, a fresh message
// unmarshalled from them.
func marshalRoundTrip(m *raftpb.Message) (*raftpb.Message, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out raftpb.Message
	if err := proto.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
