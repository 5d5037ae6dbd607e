package sim

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fill sets every field of m, nested messages and repeated ones included
// (two elements each), to a value that differs per field, so a field the
// copy misses shows as a difference.
func fill(m protoreflect.Message, depth int, n *uint64) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Message() != nil && depth > 2 {
			continue // Message.Responses nests Message: stop somewhere
		}
		scalar := func() protoreflect.Value {
			*n++
			switch fd.Kind() {
			case protoreflect.BoolKind:
				return protoreflect.ValueOfBool(true)
			case protoreflect.EnumKind:
				return protoreflect.ValueOfEnum(protoreflect.EnumNumber(*n % 3))
			case protoreflect.BytesKind:
				return protoreflect.ValueOfBytes([]byte{byte(*n), 1, 2})
			case protoreflect.Uint64Kind:
				return protoreflect.ValueOfUint64(*n)
			}
			panic("raftpb grew a field kind the test does not fill: " + fd.Kind().String())
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for j := 0; j < 2; j++ {
				if fd.Message() != nil {
					e := l.NewElement()
					fill(e.Message(), depth+1, n)
					l.Append(e)
				} else {
					l.Append(scalar())
				}
			}
		case fd.Message() != nil:
			fill(m.Mutable(fd).Message(), depth+1, n)
		default:
			m.Set(fd, scalar())
		}
	}
}

func TestCopyMessageCopiesEveryField(t *testing.T) {
	var m raftpb.Message
	var n uint64
	fill(m.ProtoReflect(), 0, &n)
	if len(m.Entries) != 2 || m.Snapshot.GetMetadata().GetConfState() == nil || len(m.Responses) != 2 {
		t.Fatalf("fill left fields empty: %v", &m)
	}
	c := copyMessage(&m)
	if !proto.Equal(c, &m) {
		t.Fatalf("copy differs:\n got %v\nwant %v", c, &m)
	}
	// It is the message unmarshalling would give.
	rt, err := marshalRoundTrip(&m)
	if err != nil || !proto.Equal(c, rt) {
		t.Fatalf("copy differs from the round trip (%v):\n got %v\nwant %v", err, c, rt)
	}
	// And shares nothing: change everything in the original.
	m.Entries[0].Data[0]++
	*m.Entries[1].Term++
	m.Context[0]++
	m.Snapshot.Data[0]++
	m.Snapshot.Metadata.ConfState.Voters[0]++
	*m.Term++
	*m.Responses[0].Index++
	m.Responses[1].Entries[0].Data[0]++
	if proto.Equal(c, &m) {
		t.Fatal("changing the original changed the copy")
	}
	if !proto.Equal(c, rt) {
		t.Fatalf("changing the original changed the copy:\n got %v\nwant %v", c, rt)
	}
}

// TestCopyMessageKeepsPresence: nil stays nil and empty stays empty, as
// after unmarshalling (raft and node look at len, but a difference would
// still be a difference).
func TestCopyMessageKeepsPresence(t *testing.T) {
	for _, m := range []*raftpb.Message{
		{},
		{Context: []byte{}, Entries: []*raftpb.Entry{{}, {Data: []byte{}}}},
		{Snapshot: &raftpb.Snapshot{}},
		{Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{ConfState: &raftpb.ConfState{}}}},
	} {
		c := copyMessage(m)
		rt, err := marshalRoundTrip(m)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(c, rt) || (c.Context == nil) != (rt.Context == nil) || len(c.Entries) != len(rt.Entries) {
			t.Fatalf("copy %v, round trip %v", c, rt)
		}
		for i := range c.Entries {
			if (c.Entries[i].Data == nil) != (rt.Entries[i].Data == nil) {
				t.Fatalf("entry %d: copy %v, round trip %v", i, c.Entries[i], rt.Entries[i])
			}
		}
	}
}

// TestMarshalPeersSameTrace: carrying raft messages as bytes, as the real
// host does, gives the run copying them gives.
func TestMarshalPeersSameTrace(t *testing.T) {
	cfg := determinismConfig(7, nil)
	cfg.Trace = nil // a nil *bytes.Buffer is not a nil io.Writer
	a := Run(cfg)
	cfg.MarshalPeers = true
	b := Run(cfg)
	if a.TraceHash != b.TraceHash {
		t.Fatalf("copied messages: trace %s, marshalled: %s", a.TraceHash, b.TraceHash)
	}
}
