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
		in := op.Input.(modelInput)
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
