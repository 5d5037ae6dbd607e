package node

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ketch-dev/ketch/wire"
)

// FuzzConsumerGroupRecords: any key and value reaching the fold of a
// __consumer_offsets partition is folded or skipped, never a panic, and the
// records of a group ketch writes fold back to that group.
func FuzzConsumerGroupRecords(f *testing.F) {
	g := newCGGroup("g")
	g.epoch, g.assignEpoch, g.metaHash = 3, 3, 42
	g.members["m"] = &cgMember{id: "m", instanceID: "i", clientID: "c", clientHost: "/", topics: []string{"a", "b"},
		regex: "x.*", assignor: assignorRange, rebalMs: 1000, epoch: 3, prevEpoch: 2, state: cgUnrevoked,
		assigned: partSet{{1}: {0, 2}}, revoking: partSet{{2}: {1}}, target: partSet{{1}: {0, 2, 3}}}
	for _, r := range cgRecords(nil, g) {
		f.Add(r.Key, r.Value)
	}
	f.Add([]byte{0, 3}, []byte{})
	f.Add([]byte{0, 7, 0, 1, 'g', 0xff, 0xff}, []byte{0, 0, 0x80, 0x80, 0x80, 0x80, 0x08})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		cs := newCoordState()
		cs.fold(key, value)
		cs.fold(key, nil)
		for _, r := range cgRecords(nil, g) {
			cs.fold(r.Key, r.Value)
		}
		if err := cgSamePersisted(cs.consumer["g"], g); err != nil && len(key) > 2 && key[0] == 0 && key[1] >= 3 && key[1] <= 8 {
			// A fuzzed record folded first may have left other state
			// (another group, or a member of "g" ours does not name);
			// ours must still read back whole.
			if cs.consumer["g"] == nil || cs.consumer["g"].members["m"] == nil {
				t.Fatalf("our records did not fold back: %v", err)
			}
			m, want := cs.consumer["g"].members["m"], g.members["m"]
			if !m.sameMetadata(want) || !m.sameCurrent(want) || !m.target.equal(want.target) {
				t.Fatalf("our member did not fold back: %+v", m)
			}
		} else if err != nil {
			t.Fatalf("our records did not fold back: %v", err)
		}
	})
}

func TestConsumerGroupDeleteRecords(t *testing.T) {
	cs := newCoordState()
	g := newCGGroup("g")
	g.epoch, g.assignEpoch = 2, 2
	g.members["m"] = &cgMember{id: "m", assigned: partSet{}, revoking: partSet{}, target: partSet{}}
	for _, r := range cgRecords(nil, g) {
		cs.fold(r.Key, r.Value)
	}
	if _, code := cs.consumerGroupDeleteRecords("g"); code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete with a member: %d, want NON_EMPTY_GROUP", code)
	}
	empty := g.clone()
	delete(empty.members, "m")
	empty.epoch = 3
	for _, r := range cgRecords(g, empty) {
		cs.fold(r.Key, r.Value)
	}
	if l := cs.consumerGroupListing(); len(l) != 1 || l[0].state != "Assigning" && l[0].state != "Empty" {
		t.Fatalf("listing: %+v", l)
	}
	recs, code := cs.consumerGroupDeleteRecords("g")
	if code != 0 {
		t.Fatalf("delete of an empty group: %d", code)
	}
	for _, r := range recs {
		cs.fold(r.Key, r.Value)
	}
	if cs.consumer["g"] != nil || len(cs.consumerGroupListing()) != 0 {
		t.Fatalf("group still folded after its tombstones: %+v", cs.consumer["g"])
	}
}

// TestConsumerWriteGuard: a consumer group write computed at a count of
// applied writes is refused once another write applied in between (the
// first timed out at its proposer, the second was computed without it).
func TestConsumerWriteGuard(t *testing.T) {
	p := newPartState(offsetsTopic, 0, 1)
	g := newCGGroup("g")
	g.epoch, g.assignEpoch = 1, 1
	g.members["m"] = &cgMember{id: "m", assigned: partSet{}, revoking: partSet{}, target: partSet{}}
	body := func(gen int32, recs []wire.Record) []byte {
		return appendGroupWrite(nil, groupGuard{kind: guardConsumer, group: "g", gen: gen}, groupRecordsBatch(0, recs))
	}
	// Two writes computed from the same (empty) state.
	w1 := body(0, cgRecords(nil, g))
	other := g.clone()
	other.members["n"] = &cgMember{id: "n", assigned: partSet{}, revoking: partSet{}, target: partSet{}}
	w2 := body(0, cgRecords(nil, other))
	if r := p.applyGroupWrite(1, 1, w1, ""); r.code != 0 {
		t.Fatalf("first write: %d", r.code)
	}
	if r := p.applyGroupWrite(2, 1, w2, ""); r.code != kerr.NotCoordinator.Code {
		t.Fatalf("write from a stale state: %d, want NOT_COORDINATOR", r.code)
	}
	if cg := p.coord.consumer["g"]; cg == nil || cg.writes != 1 || cg.members["n"] != nil {
		t.Fatalf("fold after a refused stale write: %+v", cg)
	}
	// One computed at the current count applies, and a snapshot keeps the
	// count.
	if r := p.applyGroupWrite(3, 1, body(1, cgRecords(g, other)), ""); r.code != 0 {
		t.Fatalf("write at the current count: %d", r.code)
	}
	q := newPartState(offsetsTopic, 0, 1)
	p.logStart, p.idx = p.next, offsetIndex{} // as at a snapshot point (maybeSnapshotPart)
	if _, err := q.restoreState(p.encodeState(3, 3), 3); err != nil {
		t.Fatal(err)
	}
	if err := cgSamePersisted(q.coord.consumer["g"], p.coord.consumer["g"]); err != nil {
		t.Fatalf("restored from a snapshot: %v", err)
	}
}
