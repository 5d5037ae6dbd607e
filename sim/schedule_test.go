package sim

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scheduleExempt are the Config fields that are not part of a run's
// schedule text: who the run is (seed, scenario, planted bug, cmd/sim's
// flags), where its output goes, the checker's bounds, and how peer
// messages are carried (MarshalPeers keeps the trace: a test holds it).
var scheduleExempt = map[string]bool{"Seed": true, "Scenario": true, "Bug": true, "Trace": true, "VizPath": true,
	"LinearizabilityTimeout": true, "LinearizabilitySteps": true, "MarshalPeers": true, "Faults": true}

// TestScheduleCoversConfig: every field of Config (and of its nested
// settings) a scenario can set is a knob, so a printed schedule is the whole
// run. A field added later fails here until it is in knobs or exempt.
func TestScheduleCoversConfig(t *testing.T) {
	var c Config
	v := reflect.ValueOf(&c).Elem()
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if scheduleExempt[name] {
			continue
		}
		f := v.Field(i)
		var leaves []reflect.Value
		if f.Kind() == reflect.Struct {
			for j := 0; j < f.NumField(); j++ {
				leaves = append(leaves, f.Field(j))
			}
		} else {
			leaves = append(leaves, f)
		}
		for _, leaf := range leaves {
			before := FormatKnobs(c)
			switch leaf.Kind() {
			case reflect.Int, reflect.Int64:
				leaf.SetInt(leaf.Int() + 7)
			case reflect.Float64:
				leaf.SetFloat(leaf.Float() + 0.25)
			case reflect.Bool:
				leaf.SetBool(!leaf.Bool())
			case reflect.Slice:
				switch leaf.Interface().(type) {
				case []KIP848Group:
					leaf.Set(reflect.ValueOf([]KIP848Group{{Group: 1, Java: true, Assignor: "range"}}))
				default:
					leaf.Set(reflect.ValueOf([]TopicSpec{{Name: "x", Partitions: 3}}))
				}
			default:
				t.Fatalf("Config.%s: kind %v not handled by this test", name, leaf.Kind())
			}
			if FormatKnobs(c) == before {
				t.Errorf("Config.%s is not in the schedule's knobs (sim/schedule.go) nor exempt", name)
			}
		}
	}
}

func roundTripConfig() Config {
	c := determinismConfig(11, nil)
	c.Trace = nil
	c.Faults = append(c.Faults,
		Fault{At: 1234567891 * time.Nanosecond, For: 3 * time.Microsecond, Kind: Split, Node: 2, Group: []int{1, 3}},
		Fault{At: 4 * time.Second, For: 700 * time.Millisecond, Kind: NetChaos, Chaos: NetConfig{Loss: 0.1 / 3, Dup: 0.2, Reorder: 1e-9}},
		Fault{At: 4 * time.Second, For: 2 * time.Second, Kind: OneWay, Node: 3, Peer: 1},
		Fault{At: 5 * time.Second, For: 1500 * time.Millisecond, Kind: ClockJump, Jump: -1500 * time.Millisecond},
		Fault{At: 5500 * time.Millisecond, Kind: CutConns, Node: 1})
	c.Net.LatencyMean = 1234 * time.Microsecond
	c.KIP848 = []KIP848Group{{Group: 0, Assignor: "uniform"}, {Group: 2, Java: true}}
	return c
}

// TestScheduleRoundTrip: parsing the printed schedule gives back the same
// configuration, exactly (durations to the nanosecond, floats to the bit).
func TestScheduleRoundTrip(t *testing.T) {
	c := roundTripConfig()
	text := FormatSchedule(c)
	got := Config{Seed: c.Seed, Scenario: c.Scenario}
	if err := ParseSchedule(&got, text); err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Fatalf("schedule\n%s\ndid not round-trip:\n%s", text, diff)
	}
	// The command-line forms too.
	got = Config{Seed: c.Seed, Scenario: c.Scenario}
	if err := ApplyKnobs(&got, FormatKnobs(c)); err != nil {
		t.Fatal(err)
	}
	faults, err := ParseFaults(FormatFaults(c.Faults, "; "))
	if err != nil {
		t.Fatal(err)
	}
	got.Faults = faults
	if diff := cmp.Diff(c, got); diff != "" {
		t.Fatalf("knobs %q, faults %q did not round-trip:\n%s", FormatKnobs(c), FormatFaults(c.Faults, "; "), diff)
	}
	if err := ValidateSchedule(c); err != nil {
		t.Errorf("a sound schedule is refused: %v", err)
	}
}

func TestScheduleRejectsBadInput(t *testing.T) {
	for _, s := range []string{"crash", "crash@", "crash@1s+x", "nope@1s", "crash@1s node=x", "crash@1s bogus=1",
		"crash@1s node", "split@1s group=1,x", "crash@1s node=-1"} {
		if _, err := ParseFaults(s); err == nil {
			t.Errorf("ParseFaults(%q): no error", s)
		}
	}
	var c Config
	for _, s := range []string{"nodes", "nodes=x", "bogus=1", "topics=a", "topics=a:0", "topics=:3", "duration=3", "loss=x", "topic-churn=maybe"} {
		if err := ApplyKnobs(&c, s); err == nil {
			t.Errorf("ApplyKnobs(%q): no error", s)
		}
	}
	good := roundTripConfig()
	for name, bad := range map[string]func(c *Config){
		"nodes":      func(c *Config) { c.Nodes = 1000 },
		"clients":    func(c *Config) { c.Producers = 1 << 20 },
		"idempotent": func(c *Config) { c.IdempotentProducers = c.Producers + 1 },
		"partitions": func(c *Config) { c.Topics = []TopicSpec{{Name: "a", Partitions: 1 << 30}} },
		"rf":         func(c *Config) { c.Topics = []TopicSpec{{Name: "a", Partitions: 1, ReplicationFactor: 9}} },
		"loss":       func(c *Config) { c.Net.Loss = 2 },
		"duration":   func(c *Config) { c.Duration = -time.Second },
		"fault node": func(c *Config) { c.Faults = []Fault{{At: time.Second, Kind: Crash, Node: 4}} },
		"group":      func(c *Config) { c.Faults = []Fault{{At: time.Second, Kind: Split, Group: []int{0}}} },
	} {
		c := good
		bad(&c)
		if err := ValidateSchedule(c); err == nil {
			t.Errorf("%s: ValidateSchedule accepted %s / %s", name, FormatKnobs(c), FormatFaults(c.Faults, "; "))
		}
	}
}

// TestRemovingAFaultKeepsTheRest: with one fault of the schedule removed,
// the run is the same up to when that fault would have fired, and every
// other fault still fires at its time as written (a later fault means the
// same thing: its time, kind and target are data, not a draw that shifts).
func TestRemovingAFaultKeepsTheRest(t *testing.T) {
	c := roundTripConfig()
	c.Duration, c.Quiet = 7*time.Second, 3*time.Second
	var full, cut bytes.Buffer
	c.Trace = &full
	Run(c)
	removed := c.Faults[2]
	d := c
	d.Faults = append(append([]Fault(nil), c.Faults[:2]...), c.Faults[3:]...)
	d.Trace = &cut
	Run(d)
	prefix := func(b *bytes.Buffer) string {
		var out []string
		for _, line := range strings.Split(b.String(), "\n") {
			var at int64
			if _, err := fmt.Sscanf(line, "%d ", &at); err == nil && at >= int64(removed.At) {
				break
			}
			out = append(out, line)
		}
		return strings.Join(out, "\n")
	}
	if p, q := prefix(&full), prefix(&cut); p != q {
		t.Fatalf("removing %s changed the run before it fired (%d vs %d bytes of trace)", removed, len(p), len(q))
	}
	if full.String() == cut.String() {
		t.Fatalf("removing %s changed nothing: the test cannot see a fault", removed)
	}
	for _, f := range d.Faults {
		want := fmt.Sprintf("%d fault %s", int64(f.At), f)
		if !strings.Contains(cut.String(), want) {
			t.Errorf("without %s, fault %s did not fire at its time (no %q in the trace)", removed, f, want)
		}
	}
}
