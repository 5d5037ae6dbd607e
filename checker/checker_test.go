package checker

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

const p0 = "t/0"

// Builders for hand-written histories, all on partition p0.

func produced(client int, call, ret int64, value string, offset int64) Op {
	return Op{Client: client, Kind: Produce, Partition: p0, Call: call, Return: ret, Value: value, Offset: offset, OK: true}
}

func timedOut(client int, call int64, value string) Op {
	return Op{Client: client, Kind: Produce, Partition: p0, Call: call, Return: call + 1, Value: value, Ambiguous: true, Err: "REQUEST_TIMED_OUT"}
}

func rejected(client int, call, ret int64, value string) Op {
	return Op{Client: client, Kind: Produce, Partition: p0, Call: call, Return: ret, Value: value, Err: "CORRUPT_MESSAGE"}
}

func fetched(client int, call, ret, offset, hw int64, values ...string) Op {
	return Op{Client: client, Kind: Fetch, Partition: p0, Call: call, Return: ret, Offset: offset,
		OK: true, HighWatermark: hw, Records: records(int(offset), values...)}
}

func kinds(as []Anomaly) []string {
	var ks []string
	for _, a := range as {
		if !slices.Contains(ks, a.Kind) {
			ks = append(ks, a.Kind)
		}
	}
	sort.Strings(ks)
	return ks
}

var historyCases = []struct {
	name         string
	h            History
	anomalies    []string // kinds QueueCheck must report, exactly
	linearizable bool
}{
	// Good histories.
	{
		name: "sequential",
		h: History{
			produced(0, 0, 10, "a", 0),
			produced(0, 20, 30, "b", 1),
			fetched(1, 40, 50, 0, 2, "a", "b"),
			fetched(1, 60, 70, 2, 2), // empty fetch at the log end
			fetched(1, 80, 90, 1, 2), // a prefix of what is there
		},
		linearizable: true,
	},
	{
		name: "concurrent produces land in either order",
		h: History{
			produced(0, 0, 10, "a", 1),
			produced(1, 0, 10, "b", 0),
			fetched(2, 5, 6, 0, 1, "b"), // sees b alone, mid-way
			fetched(2, 20, 30, 0, 2, "b", "a"),
		},
		linearizable: true,
	},
	{
		name: "fetch concurrent with a produce may miss it",
		h: History{
			produced(0, 0, 100, "a", 0),
			fetched(1, 10, 20, 0, 0),
			fetched(1, 30, 40, 0, 1, "a"),
		},
		linearizable: true,
	},
	{
		name: "ambiguous produce took effect after its client gave up",
		h: History{
			timedOut(0, 0, "x"),
			produced(1, 10, 20, "y", 0),
			fetched(2, 30, 40, 0, 2, "y", "x"),
		},
		linearizable: true,
	},
	{
		name: "ambiguous produce never took effect",
		h: History{
			timedOut(0, 0, "x"),
			produced(1, 10, 20, "y", 0),
			fetched(2, 30, 40, 0, 1, "y"),
		},
		linearizable: true,
	},
	{
		name: "ambiguous produce took an offset no read covers",
		h: History{
			timedOut(0, 0, "x"),
			produced(1, 10, 20, "y", 1),
			fetched(2, 30, 40, 1, 2, "y"),
		},
		linearizable: true,
	},
	{
		name: "failed ops are ignored",
		h: History{
			rejected(0, 0, 10, "bad"),
			produced(0, 20, 30, "a", 0),
			{Client: 1, Kind: Fetch, Partition: p0, Call: 40, Return: 50, Err: "NOT_LEADER_OR_FOLLOWER"},
			{Client: 1, Kind: Fetch, Partition: p0, Call: 60, Ambiguous: true, Err: "REQUEST_TIMED_OUT"},
			fetched(1, 70, 80, 0, 1, "a"),
		},
		linearizable: true,
	},

	// Bad histories, each caught by the check named.
	{
		name: "acknowledged write lost: a new leader overwrote its offset",
		h: History{
			produced(0, 0, 10, "a", 0),
			produced(0, 20, 30, "b", 1),
			timedOut(1, 15, "c"),
			fetched(2, 40, 50, 0, 2, "a", "c"),
		},
		anomalies: []string{KindLost},
	},
	{
		name: "value duplicated by a retry",
		h: History{
			timedOut(0, 0, "x"),
			fetched(1, 20, 30, 0, 2, "x", "x"),
		},
		anomalies: []string{KindDuplicate},
	},
	{
		name: "stale read from a deposed leader: empty after an acknowledged write",
		h: History{
			produced(0, 0, 10, "a", 0),
			fetched(1, 20, 30, 0, 0),
		},
		anomalies: []string{KindStaleRead},
	},
	{
		name: "stale read from a deposed leader: lower high watermark",
		h: History{
			produced(0, 0, 10, "a", 0),
			produced(0, 20, 30, "b", 1),
			fetched(1, 40, 50, 0, 1, "a"),
		},
		anomalies: []string{KindStaleRead},
	},
	{
		name: "one offset acknowledged to two values",
		h: History{
			produced(0, 0, 10, "a", 0),
			produced(1, 5, 15, "b", 0),
		},
		anomalies: []string{KindOffsetConflict},
	},
	{
		name: "one offset read as two values",
		h: History{
			timedOut(0, 0, "a"),
			timedOut(1, 0, "b"),
			fetched(2, 20, 30, 0, 1, "a"),
			fetched(3, 20, 30, 0, 1, "b"),
		},
		anomalies: []string{KindOffsetConflict},
	},
	{
		name: "high watermark goes back for one client",
		h: History{
			timedOut(0, 0, "a"),
			timedOut(0, 2, "b"),
			fetched(1, 10, 20, 0, 2, "a", "b"),
			fetched(1, 30, 40, 0, 1, "a"),
		},
		anomalies: []string{KindNonmonotonicRead},
	},
	{
		name: "high watermark goes back across clients",
		h: History{
			timedOut(0, 0, "a"),
			timedOut(0, 2, "b"),
			fetched(1, 10, 20, 0, 2, "a", "b"),
			fetched(2, 30, 40, 0, 1, "a"),
		},
		anomalies: []string{KindHWRegressed},
	},
	{
		name: "phantom value nobody produced",
		h: History{
			produced(0, 0, 10, "a", 0),
			fetched(1, 20, 30, 0, 2, "a", "ghost"),
		},
		anomalies: []string{KindPhantom},
	},
	{
		name: "phantom value from a produce that definitely failed",
		h: History{
			rejected(0, 0, 10, "bad"),
			fetched(1, 20, 30, 0, 1, "bad"),
		},
		anomalies: []string{KindPhantom},
	},
	{
		name: "skipped offset inside a fetch",
		h: History{
			timedOut(0, 0, "a"),
			timedOut(0, 1, "b"),
			timedOut(0, 2, "c"),
			{Client: 1, Kind: Fetch, Partition: p0, Call: 20, Return: 30, Offset: 0, OK: true, HighWatermark: 3,
				Records: []Record{{Offset: 0, Value: "a"}, {Offset: 2, Value: "c"}}},
		},
		anomalies: []string{KindSkippedOffset},
	},
	{
		name: "acknowledged offset is not where the value is",
		h: History{
			produced(0, 0, 10, "a", 1),
			fetched(1, 20, 30, 0, 2, "a"),
		},
		anomalies: []string{KindOffsetMismatch},
	},
	{
		name: "record above the high watermark",
		h: History{
			timedOut(0, 0, "a"),
			fetched(1, 20, 30, 0, 0, "a"),
		},
		anomalies: []string{KindBeyondHW},
	},
	{
		// The queue checks have no notion of when a value was written, so
		// only porcupine sees this one.
		name: "fetch returns a value before it was produced",
		h: History{
			fetched(1, 0, 10, 0, 1, "a"),
			produced(0, 50, 60, "a", 0),
		},
	},
}

func TestQueueCheckAndLinearizable(t *testing.T) {
	for _, tc := range historyCases {
		t.Run(tc.name, func(t *testing.T) {
			got := QueueCheck(tc.h)
			if !slices.Equal(kinds(got), tc.anomalies) {
				t.Errorf("QueueCheck kinds = %v, want %v\n%v", kinds(got), tc.anomalies, got)
			}
			ok, to, err := Linearizable(tc.h, 5*time.Second, "", nil)
			if err != nil || to {
				t.Fatalf("Linearizable: timedOut=%v err=%v", to, err)
			}
			if ok != tc.linearizable {
				t.Errorf("Linearizable = %v, want %v", ok, tc.linearizable)
			}
			res := Check(tc.h, Options{LinearizabilityTimeout: 5 * time.Second})
			if want := tc.linearizable && len(tc.anomalies) == 0; res.OK != want {
				t.Errorf("Check OK = %v, want %v\n%s", res.OK, want, res)
			}
		})
	}
}

func TestCheckWritesAnnotatedVisualisationOnFailure(t *testing.T) {
	dir := t.TempDir()
	viz := filepath.Join(dir, "viz.html")
	bad := History{
		produced(0, 0, 10, "a", 0),
		fetched(1, 20, 30, 0, 0),
	}
	good := History{
		{Client: 0, Kind: Produce, Partition: "t/1", Call: 0, Return: 10, Value: "z", Offset: 0, OK: true},
	}
	h := append(bad, good...)
	res := Check(h, Options{
		VizPath:     viz,
		Annotations: []Annotation{{Start: 12, End: 18, Description: "partition leader n1 from quorum"}},
	})
	if res.OK || res.Linearizable[p0] || !res.Linearizable["t/1"] {
		t.Fatalf("want t/0 failing and t/1 passing:\n%s", res)
	}
	want := filepath.Join(dir, "viz-t_0.html")
	if res.VizPaths[p0] != want || len(res.VizPaths) != 1 {
		t.Fatalf("VizPaths = %v, want only %s", res.VizPaths, want)
	}
	html, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"partition leader n1 from quorum", `fetch(0) → [] hw=0`, "<html"} {
		if !strings.Contains(string(html), s) {
			t.Errorf("visualisation lacks %q", s)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "viz-t_1.html")); !os.IsNotExist(err) {
		t.Errorf("visualisation written for a passing partition: %v", err)
	}
	if s := res.String(); !strings.Contains(s, "t/0: not linearizable (see "+want+")") || !strings.Contains(s, KindStaleRead) {
		t.Errorf("String() does not explain the failure:\n%s", s)
	}
}

func TestLinearizableSinglePartitionVizPathAsGiven(t *testing.T) {
	viz := filepath.Join(t.TempDir(), "one.html")
	ok, _, err := Linearizable(History{fetched(0, 0, 1, 0, 1, "ghost")}, 0, viz, nil)
	if ok || err != nil {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	if _, err := os.Stat(viz); err != nil {
		t.Fatal(err)
	}
}

func TestTimeoutIsReportedNotPassed(t *testing.T) {
	h, _ := genHistory(newRand(1), genConfig{ops: 3000, clients: 8, window: 50, ambiguous: 5, failed: 2,
		fetchMax: 5, fetchBack: 5, finalRead: true}, p0)
	res := Check(h, Options{LinearizabilityTimeout: time.Nanosecond})
	if res.OK || !slices.Equal(res.TimedOut, []string{p0}) || res.Linearizable[p0] {
		t.Fatalf("a timed-out check must fail and say so:\n%s", res)
	}
	if !strings.Contains(res.String(), "timed out") {
		t.Errorf("String() hides the timeout:\n%s", res)
	}
}

func TestMalformedHistoryIsAnError(t *testing.T) {
	for name, h := range map[string]History{
		"two partitions": {produced(0, 0, 1, "a", 0), {Kind: Fetch, Partition: "t/1", OK: true}},
		"unknown kind":   {{Partition: p0, Kind: 9}},
		"return < call":  {produced(0, 10, 5, "a", 0)},
	} {
		if ok, _, err := Linearizable(h, 0, "", nil); ok || err == nil {
			t.Errorf("%s: ok=%v err=%v, want an error", name, ok, err)
		}
	}
}

func TestAnomaliesAreBoundedPerKind(t *testing.T) {
	var h History
	for i := range 100 {
		h = append(h, fetched(0, int64(i), int64(i), int64(i), int64(i+1), fmt.Sprint("ghost", i)))
	}
	got := QueueCheck(h)
	if len(got) != anomaliesPerKindMax+1 || kinds(got)[0] != KindPhantom || len(kinds(got)) != 1 ||
		!strings.Contains(got[len(got)-1].Detail, "80 more") {
		t.Errorf("want %d phantom anomalies and a summary, got %d: %v", anomaliesPerKindMax, len(got), got)
	}
}

func TestLogNode(t *testing.T) {
	a, b := emptyLog, emptyLog
	for i := range 1000 {
		v := string(rune('a' + i%26))
		a, b = a.append(v, false), b.append(v, false)
	}
	if a == b || !logsEqual(a, b) || a.hash != b.hash {
		t.Fatal("equal logs built apart must compare equal")
	}
	for o := int64(0); o < 1000; o++ {
		if got, want := a.at(o).value, string(rune('a'+o%26)); got != want || a.at(o).len != o+1 {
			t.Fatalf("at(%d) = %q len %d", o, got, a.at(o).len)
		}
	}
	c := a.parent.append("z", false)
	if logsEqual(a, c) || logsEqual(a, a.parent) {
		t.Fatal("different logs compare equal")
	}
	// Same values, different order.
	x := emptyLog.append("p", false).append("q", false)
	y := emptyLog.append("q", false).append("p", false)
	if logsEqual(x, y) || x.hash == y.hash {
		t.Fatal("order must matter")
	}
	// Unread entries are interchangeable whatever value they carry, but not
	// with a read one.
	u := x.append("u1", true)
	if v := x.append("u2", true); !logsEqual(u, v) || u.hash != v.hash {
		t.Fatal("unread entries must compare equal")
	}
	if logsEqual(u, x.append("", false)) {
		t.Fatal("an unread entry equals a read one")
	}
}
