package sim

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func determinismConfig(seed int64, trace *bytes.Buffer) Config {
	return Config{Seed: seed, Scenario: "determinism", Duration: 6 * time.Second, Quiet: 4 * time.Second,
		// Several topics, one deleted and created again, and an overload
		// phase: every path of the workload is in the trace.
		Topics:     []TopicSpec{{Name: "a", Partitions: 3}, {Name: "b", Partitions: 1}},
		TopicChurn: true, Overload: true, ParkedFetches: 1500,
		Net:   NetConfig{LatencyMin: 100 * time.Microsecond, LatencyMean: time.Millisecond, Loss: 0.02, Dup: 0.01, Reorder: 0.02},
		Clock: ClockConfig{SkewMax: time.Second, DriftMax: 0.1},
		Disk:  DiskConfig{SyncLatencyMean: time.Millisecond, KeepUnsynced: 0.5},
		Faults: []Fault{{At: 2 * time.Second, For: 2 * time.Second, Kind: TornCrash},
			{At: 3 * time.Second, For: time.Second, Kind: Isolate, Node: 2}},
		Trace: trace}
}

// TestDeterminism: the same seed twice gives the same trace and the same
// history; another seed gives another trace.
func TestDeterminism(t *testing.T) {
	var t1, t2, t3 bytes.Buffer
	a := Run(determinismConfig(7, &t1))
	b := Run(determinismConfig(7, &t2))
	c := Run(determinismConfig(8, &t3))
	if a.TraceHash != b.TraceHash || !bytes.Equal(t1.Bytes(), t2.Bytes()) {
		l1, l2 := bytes.Split(t1.Bytes(), []byte("\n")), bytes.Split(t2.Bytes(), []byte("\n"))
		for i := range min(len(l1), len(l2)) {
			if !bytes.Equal(l1[i], l2[i]) {
				t.Fatalf("seed 7 twice: traces differ (hash %s vs %s) first at line %d:\n  %s\n  %s", a.TraceHash, b.TraceHash, i, l1[i], l2[i])
			}
		}
		t.Fatalf("seed 7 twice: traces differ (%s vs %s)", a.TraceHash, b.TraceHash)
	}
	if diff := cmp.Diff(a.History, b.History); diff != "" {
		t.Fatalf("seed 7 twice: histories differ:\n%s", diff)
	}
	if len(a.History) == 0 || a.Events < 1000 {
		t.Fatalf("seed 7 did almost nothing: %d ops, %d events", len(a.History), a.Events)
	}
	if a.TraceHash == c.TraceHash {
		t.Fatalf("seeds 7 and 8 gave the same trace %s", a.TraceHash)
	}
	if !a.OK {
		t.Errorf("seed 7 failed: %v %s", a.Violations, a.Check.String())
	}
}
