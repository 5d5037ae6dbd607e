package checker

import (
	"testing"
	"time"
)

// TestKnownOffsetReturnsBroughtForward: a produce whose offset is known, and
// a fetch (which sees the log hw long), must have happened before the first
// op proving the log longer returned, so toPorcupine ends their intervals
// there, and the verdict stays the same.
func TestKnownOffsetReturnsBroughtForward(t *testing.T) {
	h := History{
		// acks=0-like: ambiguous, first seen by the fetch returning at 20.
		{Client: 1, Kind: Produce, Partition: "p/0", Value: "a", Call: 0, Ambiguous: true},
		// acknowledged at offset 1 at 5: the log held offset 0 by then.
		{Client: 2, Kind: Produce, Partition: "p/0", Value: "b", Call: 1, Return: 5, OK: true, Offset: 1},
		// acknowledged at 50, but a fetch proved offset 2 there at 30.
		{Client: 3, Kind: Produce, Partition: "p/0", Value: "c", Call: 2, Return: 50, OK: true, Offset: 2},
		{Client: 4, Kind: Fetch, Partition: "p/0", Call: 10, Return: 20, OK: true, Offset: 0, HighWatermark: 2,
			Records: []Record{{Offset: 0, Value: "a"}, {Offset: 1, Value: "b"}}},
		{Client: 4, Kind: Fetch, Partition: "p/0", Call: 25, Return: 30, OK: true, Offset: 2, HighWatermark: 3,
			Records: []Record{{Offset: 2, Value: "c"}}},
		// A parked fetch answered late: it saw the log 1 long, so it came
		// before b's append, acknowledged at 5.
		{Client: 5, Kind: Fetch, Partition: "p/0", Call: 3, Return: 100, OK: true, Offset: 0, HighWatermark: 1,
			Records: []Record{{Offset: 0, Value: "a"}}},
	}
	po, err := toPorcupine(h)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"a": 5, "b": 5, "c": 30}
	for _, op := range po {
		in := op.Input.(*modelInput)
		if in.kind == Fetch && op.ClientId == 5 && op.Return != 5 {
			t.Errorf("the late fetch returns at %d in porcupine's history, want 5", op.Return)
		}
		if in.kind != Produce {
			continue
		}
		if op.Return != want[in.value] {
			t.Errorf("produce %q returns at %d in porcupine's history, want %d", in.value, op.Return, want[in.value])
		}
	}
	if ok, _, err := Linearizable(h, 5*time.Second, "", nil); !ok || err != nil {
		t.Errorf("valid history: linearizable %v, err %v", ok, err)
	}
	// The same history with b acknowledged before a could have been sent
	// is not linearizable, tightened or not.
	h[0].Call = 6
	if ok, _, _ := Linearizable(h, 5*time.Second, "", nil); ok {
		t.Errorf("a at offset 0 written after offset 1 was acknowledged: want not linearizable")
	}
}

// TestCallsInOrderParkedReads: a produce at offset 1 is called before the
// fetch that saw the log 1 long, and k fetches of the final log are parked
// from the start. Porcupine, trying ops in call order, places the produce
// first; it learns that was wrong only at the fetch's return, after placing
// the parked fetches, and then tries every subset of them (2^k). With calls
// raised to where the known offsets put them (callsInOrder), the fetch is
// tried first and the search is linear. The verdict is the same: the
// history with the fetch called after the last append returned is not
// linearizable either way.
func TestCallsInOrderParkedReads(t *testing.T) {
	const parked = 24
	all := []Record{{Offset: 0, Value: "a"}, {Offset: 1, Value: "b"}, {Offset: 2, Value: "c"}, {Offset: 3, Value: "d"}}
	h := History{
		// acks=0: first seen by the fetch returning at 150.
		{Client: 1, Kind: Produce, Partition: "p/0", Value: "a", Call: 0, Ambiguous: true},
		{Client: 2, Kind: Produce, Partition: "p/0", Value: "b", Call: 5, Return: 200, OK: true, Offset: 1},
		{Client: 3, Kind: Fetch, Partition: "p/0", Call: 10, Return: 150, OK: true, Offset: 0, HighWatermark: 1, Records: all[:1]},
		{Client: 4, Kind: Produce, Partition: "p/0", Value: "c", Call: 20, Return: 200, OK: true, Offset: 2},
		{Client: 5, Kind: Produce, Partition: "p/0", Value: "d", Call: 20, Return: 200, OK: true, Offset: 3},
	}
	for i := range parked {
		h = append(h, Op{Client: 10 + i, Kind: Fetch, Partition: "p/0", Call: 1, Return: 1000, OK: true, Offset: 0, HighWatermark: 4, Records: all})
	}
	r := Linearizability(h, Bound{Timeout: 20 * time.Second}, "", nil)
	if !r.OK || r.Err != nil {
		t.Fatalf("valid history: %+v, gave up: %v", r, r.GaveUp)
	}
	if r.Steps > 10*len(h) {
		t.Errorf("%d model steps for %d ops, want a linear search", r.Steps, len(h))
	}
	// Proving a history bad still tries every order, so with few parked
	// fetches: the log read 1 long after offset 3 was acknowledged.
	h = h[:5+2]
	h[2].Call, h[2].Return = 250, 260
	if r := Linearizability(h, Bound{Timeout: 20 * time.Second}, "", nil); r.OK || r.GaveUp != nil || r.Err != nil {
		t.Errorf("the fetch of hw 1 after offset 3 was acknowledged: %+v, gave up: %v; want not linearizable", r, r.GaveUp)
	}
}

// TestToPorcupineAllocsDoNotGrowWithOps: porcupine's inputs, outputs and
// metadata come from slabs, so turning a partition's ops into porcupine's
// costs a bounded number of allocations beside the maps, not a few per op.
func TestToPorcupineAllocsDoNotGrowWithOps(t *testing.T) {
	h := make(History, 0, 1000)
	for i := range 1000 {
		h = append(h, Op{Client: 1, Kind: Produce, Partition: "p/0", Value: "v" + string(rune('a'+i%26)) + string(rune('a'+i/26)),
			Call: int64(2 * i), Return: int64(2*i + 1), OK: true, Offset: int64(i)})
	}
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := toPorcupine(h); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 100 {
		t.Errorf("toPorcupine of 1,000 acknowledged produces: %v allocations, want at most 100", allocs)
	}
}
