package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A run's schedule as text: the fault list and the workload and world knobs
// a scenario drew from the seed, so that a run can be printed, edited,
// shrunk and pasted back (cmd/sim -knobs '...' -faults '...'). The seed
// still drives every stream of the world (network, disk, workload, fault
// targets); the schedule only replaces what the scenario drew.
//
// Knobs are space-separated key=value tokens (FormatKnobs, ApplyKnobs).
// Faults are one per line or separated by ';' (FormatFaults, ParseFaults):
//
//	crash@2.086666318s+747.376255ms node=leader
//	split@5s+1.5s node=2 group=1,3
//	net-chaos@11s+1s node=leader loss=0.05 dup=0.07 reorder=0.01
//
// A fault's time, kind and target are data, so removing one fault leaves
// the run identical up to the time it would have fired, and every other
// fault fires as written (sim's TestRemovingAFaultKeepsTheRest). What the
// world draws after that point differs, as the run does: the network and
// disk streams are shared by every message and fsync, and the faults stream
// (a leader-less fault's target, a bit flip's offset) by every fault, so a
// later bit flip may land elsewhere once an earlier one is gone.
//
// Durations are Go durations with "us" for microseconds (plain ASCII, so a
// shell takes them as typed); floats print exactly (strconv 'g', -1), so
// parsing what was printed gives back the same Config and the same trace.

// FormatFaults prints faults in the text ParseFaults reads, joined by sep
// ("; " for a command line, "\n" for a file). No faults print as "none".
func FormatFaults(faults []Fault, sep string) string {
	if len(faults) == 0 {
		return "none"
	}
	parts := make([]string, len(faults))
	for i, f := range faults {
		parts[i] = formatFault(f)
	}
	return strings.Join(parts, sep)
}

func formatFault(f Fault) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%s", f.Kind, formatDur(f.At))
	if f.For != 0 {
		b.WriteString("+" + formatDur(f.For))
	}
	if f.Node == NodeCoordinator {
		b.WriteString(" node=coordinator")
	} else if f.Node == 0 {
		b.WriteString(" node=leader")
	} else {
		fmt.Fprintf(&b, " node=%d", f.Node)
	}
	if f.Peer != 0 {
		fmt.Fprintf(&b, " peer=%d", f.Peer)
	}
	if f.Group != nil {
		g := make([]string, len(f.Group))
		for i, n := range f.Group {
			g[i] = strconv.Itoa(n)
		}
		b.WriteString(" group=" + strings.Join(g, ","))
	}
	for _, kv := range []struct {
		k string
		v float64
	}{{"loss", f.Chaos.Loss}, {"dup", f.Chaos.Dup}, {"reorder", f.Chaos.Reorder}} {
		if kv.v != 0 {
			b.WriteString(" " + kv.k + "=" + formatFloat(kv.v))
		}
	}
	if f.Chaos.LatencyMin != 0 {
		b.WriteString(" latency-min=" + formatDur(f.Chaos.LatencyMin))
	}
	if f.Chaos.LatencyMean != 0 {
		b.WriteString(" latency-mean=" + formatDur(f.Chaos.LatencyMean))
	}
	if f.Jump != 0 {
		b.WriteString(" jump=" + formatDur(f.Jump))
	}
	return b.String()
}

// faultKinds are the kinds ParseFaults accepts.
var faultKinds = []FaultKind{Crash, TornCrash, Pause, Isolate, Split, OneWay, FailSync, FailWrite, NetChaos,
	CutConns, ClientCut, ClockJump, SnapCrash, AckCrash, BitFlip, ReadError, Misdirect, NoSpace, FsyncEIO, CoordCrash, CommitCrash}

// ParseFaults reads what FormatFaults printed: faults separated by ';' or
// newlines, '#' starting a comment; "none" (or nothing) is no fault.
func ParseFaults(s string) ([]Fault, error) {
	var out []Fault
	for _, line := range splitSchedule(s) {
		if line == "none" {
			continue
		}
		f, err := parseFault(line)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// splitSchedule cuts text into its non-empty statements (lines or
// ';'-separated parts, comments dropped).
func splitSchedule(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, part := range strings.Split(line, ";") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func parseFault(s string) (Fault, error) {
	fields := strings.Fields(s)
	head := fields[0]
	kind, when, ok := strings.Cut(head, "@")
	if !ok {
		return Fault{}, fmt.Errorf("fault %q: want kind@at[+for]", s)
	}
	f := Fault{Kind: FaultKind(kind)}
	known := false
	for _, k := range faultKinds {
		known = known || k == f.Kind
	}
	if !known {
		return Fault{}, fmt.Errorf("fault %q: no fault kind %q", s, kind)
	}
	at, length, hasFor := strings.Cut(when, "+")
	var err error
	if f.At, err = parseDur(at); err != nil {
		return Fault{}, fmt.Errorf("fault %q: at: %v", s, err)
	}
	if hasFor {
		if f.For, err = parseDur(length); err != nil {
			return Fault{}, fmt.Errorf("fault %q: for: %v", s, err)
		}
	}
	for _, kv := range fields[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Fault{}, fmt.Errorf("fault %q: %q is not key=value", s, kv)
		}
		switch k {
		case "node":
			if v == "leader" {
				f.Node = 0
			} else if v == "coordinator" {
				f.Node = NodeCoordinator
			} else if f.Node, err = strconv.Atoi(v); err == nil && f.Node < 0 {
				return Fault{}, fmt.Errorf("fault %q: negative node", s)
			}
		case "peer":
			f.Peer, err = strconv.Atoi(v)
		case "group":
			f.Group = []int{}
			for _, g := range strings.Split(v, ",") {
				var n int
				if n, err = strconv.Atoi(g); err != nil {
					break
				}
				f.Group = append(f.Group, n)
			}
		case "loss":
			f.Chaos.Loss, err = strconv.ParseFloat(v, 64)
		case "dup":
			f.Chaos.Dup, err = strconv.ParseFloat(v, 64)
		case "reorder":
			f.Chaos.Reorder, err = strconv.ParseFloat(v, 64)
		case "latency-min":
			f.Chaos.LatencyMin, err = parseDur(v)
		case "latency-mean":
			f.Chaos.LatencyMean, err = parseDur(v)
		case "jump":
			f.Jump, err = parseDur(v)
		default:
			return Fault{}, fmt.Errorf("fault %q: unknown key %q", s, k)
		}
		if err != nil {
			return Fault{}, fmt.Errorf("fault %q: %s: %v", s, k, err)
		}
	}
	if f.Node < 0 && f.Node != NodeCoordinator || f.Peer < 0 {
		return Fault{}, fmt.Errorf("fault %q: negative node", s)
	}
	return f, nil
}

// knob is one workload or world setting of the schedule text.
type knob struct {
	name string
	get  func(c *Config) string
	set  func(c *Config, v string) error
}

func durKnob(name string, p func(c *Config) *time.Duration) knob {
	return knob{name, func(c *Config) string { return formatDur(*p(c)) },
		func(c *Config, v string) (err error) { *p(c), err = parseDur(v); return }}
}

func int64Knob(name string, p func(c *Config) *int64) knob {
	return knob{name, func(c *Config) string { return strconv.FormatInt(*p(c), 10) },
		func(c *Config, v string) (err error) { *p(c), err = strconv.ParseInt(v, 10, 64); return }}
}

func intKnob(name string, p func(c *Config) *int) knob {
	return knob{name, func(c *Config) string { return strconv.Itoa(*p(c)) },
		func(c *Config, v string) (err error) { *p(c), err = strconv.Atoi(v); return }}
}

func floatKnob(name string, p func(c *Config) *float64) knob {
	return knob{name, func(c *Config) string { return formatFloat(*p(c)) },
		func(c *Config, v string) (err error) { *p(c), err = strconv.ParseFloat(v, 64); return }}
}

func boolKnob(name string, p func(c *Config) *bool) knob {
	return knob{name, func(c *Config) string { return strconv.FormatBool(*p(c)) },
		func(c *Config, v string) (err error) { *p(c), err = strconv.ParseBool(v); return }}
}

// knobs lists every field of Config a scenario draws, in print order. A
// field added to Config must be added here (or to scheduleExempt in the
// test), or a printed schedule would not reproduce its run.
var knobs = []knob{
	intKnob("nodes", func(c *Config) *int { return &c.Nodes }),
	topicsKnob("topics", func(c *Config) *[]TopicSpec { return &c.Topics }),
	boolKnob("topic-churn", func(c *Config) *bool { return &c.TopicChurn }),
	boolKnob("topic-configs", func(c *Config) *bool { return &c.TopicConfigs }),
	boolKnob("overload", func(c *Config) *bool { return &c.Overload }),
	boolKnob("idle", func(c *Config) *bool { return &c.Idle }),
	intKnob("parked-fetches", func(c *Config) *int { return &c.ParkedFetches }),
	intKnob("fetch-waits-max", func(c *Config) *int { return &c.FetchWaitsMax }),
	durKnob("duration", func(c *Config) *time.Duration { return &c.Duration }),
	durKnob("quiet", func(c *Config) *time.Duration { return &c.Quiet }),
	intKnob("producers", func(c *Config) *int { return &c.Producers }),
	intKnob("idempotent", func(c *Config) *int { return &c.IdempotentProducers }),
	intKnob("consumers", func(c *Config) *int { return &c.Consumers }),
	intKnob("group-consumers", func(c *Config) *int { return &c.GroupConsumers }),
	intKnob("groups", func(c *Config) *int { return &c.Groups }),
	durKnob("group-session", func(c *Config) *time.Duration { return &c.GroupSession }),
	durKnob("offsets-retention", func(c *Config) *time.Duration { return &c.OffsetsRetention }),
	{"kip848", formatKIP848, parseKIP848},
	durKnob("latency-min", func(c *Config) *time.Duration { return &c.Net.LatencyMin }),
	durKnob("latency-mean", func(c *Config) *time.Duration { return &c.Net.LatencyMean }),
	floatKnob("loss", func(c *Config) *float64 { return &c.Net.Loss }),
	floatKnob("dup", func(c *Config) *float64 { return &c.Net.Dup }),
	floatKnob("reorder", func(c *Config) *float64 { return &c.Net.Reorder }),
	durKnob("sync-mean", func(c *Config) *time.Duration { return &c.Disk.SyncLatencyMean }),
	floatKnob("keep-unsynced", func(c *Config) *float64 { return &c.Disk.KeepUnsynced }),
	durKnob("skew-max", func(c *Config) *time.Duration { return &c.Clock.SkewMax }),
	floatKnob("drift-max", func(c *Config) *float64 { return &c.Clock.DriftMax }),
	topicsKnob("idle-topics", func(c *Config) *[]TopicSpec { return &c.IdleTopics }),
	durKnob("failover-max", func(c *Config) *time.Duration { return &c.FailoverMax }),
	boolKnob("retention", func(c *Config) *bool { return &c.Retention.Enabled }),
	int64Knob("retention-ms", func(c *Config) *int64 { return &c.Retention.Ms }),
	int64Knob("retention-bytes", func(c *Config) *int64 { return &c.Retention.Bytes }),
	boolKnob("delete-records", func(c *Config) *bool { return &c.Retention.DeleteRecords }),
	durKnob("retention-check", func(c *Config) *time.Duration { return &c.Retention.CheckInterval }),
	boolKnob("compaction", func(c *Config) *bool { return &c.Compaction.Enabled }),
	intKnob("compaction-keys", func(c *Config) *int { return &c.Compaction.Keys }),
	int64Knob("delete-retention-ms", func(c *Config) *int64 { return &c.Compaction.DeleteRetentionMs }),
	durKnob("cleaner-interval", func(c *Config) *time.Duration { return &c.Compaction.CleanerInterval }),
	int64Knob("log-roll-ms", func(c *Config) *int64 { return &c.LogRollMs }),
}

// FormatKnobs prints every knob of cfg as key=value tokens, in the order
// ApplyKnobs reads them.
func FormatKnobs(cfg Config) string {
	parts := make([]string, len(knobs))
	for i, k := range knobs {
		parts[i] = k.name + "=" + k.get(&cfg)
	}
	return strings.Join(parts, " ")
}

// ApplyKnobs sets the knobs s names (key=value tokens, separated by spaces,
// newlines or ';') on cfg; knobs s does not name keep their value.
func ApplyKnobs(cfg *Config, s string) error {
	for _, stmt := range splitSchedule(s) {
		for _, tok := range strings.Fields(stmt) {
			name, v, ok := strings.Cut(tok, "=")
			if !ok {
				return fmt.Errorf("knob %q is not key=value", tok)
			}
			var k *knob
			for i := range knobs {
				if knobs[i].name == name {
					k = &knobs[i]
				}
			}
			if k == nil {
				return fmt.Errorf("no knob %q (have: %s)", name, knobNames())
			}
			if err := k.set(cfg, v); err != nil {
				return fmt.Errorf("knob %s: %v", name, err)
			}
		}
	}
	return nil
}

func knobNames() string {
	names := make([]string, len(knobs))
	for i, k := range knobs {
		names[i] = k.name
	}
	return strings.Join(names, ", ")
}

// FormatSchedule prints cfg's schedule as a file: a line of knobs, then one
// fault a line. ParseSchedule reads it back.
func FormatSchedule(cfg Config) string {
	return "# ketch schedule: seed " + strconv.FormatInt(cfg.Seed, 10) + ", scenario " + cfg.Scenario + "\n" +
		FormatKnobs(cfg) + "\n" + FormatFaults(cfg.Faults, "\n") + "\n"
}

// ParseSchedule applies a schedule file to cfg: lines whose first word holds
// '@' (or the word "none") are faults and replace cfg.Faults as a whole;
// the other lines are knobs.
func ParseSchedule(cfg *Config, s string) error {
	var faults, knobLines []string
	for _, stmt := range splitSchedule(s) {
		first := strings.Fields(stmt)[0]
		if strings.Contains(first, "@") || first == "none" {
			faults = append(faults, stmt)
		} else {
			knobLines = append(knobLines, stmt)
		}
	}
	if err := ApplyKnobs(cfg, strings.Join(knobLines, "\n")); err != nil {
		return err
	}
	f, err := ParseFaults(strings.Join(faults, "\n"))
	if err != nil {
		return err
	}
	cfg.Faults = f
	return nil
}

func topicsKnob(name string, p func(c *Config) *[]TopicSpec) knob {
	return knob{name, func(c *Config) string { return formatTopics(*p(c)) },
		func(c *Config, v string) (err error) { *p(c), err = parseTopics(v); return }}
}

// formatKIP848 prints the KIP-848 groups as index/client/assignor
// ("0/franz-go/uniform,2/java/default"), "none" for none.
func formatKIP848(c *Config) string {
	if len(c.KIP848) == 0 {
		return "none"
	}
	parts := make([]string, len(c.KIP848))
	for i, k := range c.KIP848 {
		client, assignor := "franz-go", k.Assignor
		if k.Java {
			client = "java"
		}
		if assignor == "" {
			assignor = "default"
		}
		parts[i] = fmt.Sprintf("%d/%s/%s", k.Group, client, assignor)
	}
	return strings.Join(parts, ",")
}

func parseKIP848(c *Config, v string) error {
	c.KIP848 = nil
	if v == "none" {
		return nil
	}
	for _, g := range strings.Split(v, ",") {
		f := strings.Split(g, "/")
		if len(f) != 3 || f[1] != "franz-go" && f[1] != "java" || f[2] != "default" && f[2] != "uniform" && f[2] != "range" {
			return fmt.Errorf("KIP-848 group %q: want index/franz-go|java/default|uniform|range", g)
		}
		i, err := strconv.Atoi(f[0])
		if err != nil || i < 0 {
			return fmt.Errorf("KIP-848 group %q: bad group index", g)
		}
		k := KIP848Group{Group: i, Java: f[1] == "java", Assignor: f[2]}
		if k.Assignor == "default" {
			k.Assignor = ""
		}
		c.KIP848 = append(c.KIP848, k)
	}
	return nil
}

// formatTopics prints the topics as name:partitions[:rf],... ("none" for
// no topic, which Run replaces by its default for Config.Topics).
func formatTopics(topics []TopicSpec) string {
	if len(topics) == 0 {
		return "none"
	}
	parts := make([]string, len(topics))
	for i, t := range topics {
		parts[i] = fmt.Sprintf("%s:%d", t.Name, t.Partitions)
		if t.ReplicationFactor != 0 {
			parts[i] += fmt.Sprintf(":%d", t.ReplicationFactor)
		}
	}
	return strings.Join(parts, ",")
}

func parseTopics(v string) ([]TopicSpec, error) {
	var topics []TopicSpec
	if v == "none" {
		return nil, nil
	}
	for _, t := range strings.Split(v, ",") {
		f := strings.Split(t, ":")
		if len(f) < 2 || len(f) > 3 || f[0] == "" {
			return nil, fmt.Errorf("topic %q: want name:partitions[:rf]", t)
		}
		p, err := strconv.ParseInt(f[1], 10, 32)
		if err != nil || p < 1 {
			return nil, fmt.Errorf("topic %q: bad partition count", t)
		}
		spec := TopicSpec{Name: f[0], Partitions: int32(p)}
		if len(f) == 3 {
			rf, err := strconv.ParseInt(f[2], 10, 16)
			if err != nil || rf < 1 {
				return nil, fmt.Errorf("topic %q: bad replication factor", t)
			}
			spec.ReplicationFactor = int16(rf)
		}
		topics = append(topics, spec)
	}
	return topics, nil
}

// formatDur prints d as time.Duration does, with "us" for "µs".
func formatDur(d time.Duration) string {
	return strings.ReplaceAll(d.String(), "µs", "us")
}

func parseDur(s string) (time.Duration, error) { return time.ParseDuration(s) }

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Limits on a schedule read from a person or a file: a typo must give an
// error, not a run that takes the machine's memory.
const (
	scheduleNodesMax      = 9
	scheduleClientsMax    = 200
	schedulePartitionsMax = 2000
	scheduleParkedMax     = 100_000
	scheduleDurationMax   = time.Hour
)

// ValidateSchedule reports a schedule no scenario would draw and the
// simulator cannot run sensibly: nodes out of range, a fault naming a node
// the cluster lacks, probabilities outside [0, 1], negative or huge
// durations. Unset knobs are checked as Run would default them.
func ValidateSchedule(c Config) error {
	if c.Duration < 0 || c.Quiet < 0 || c.Producers < 0 || c.Consumers < 0 || c.IdempotentProducers > c.Producers {
		return fmt.Errorf("duration=%v quiet=%v producers=%d idempotent=%d consumers=%d: want no negative, idempotent at most producers",
			c.Duration, c.Quiet, c.Producers, c.IdempotentProducers, c.Consumers)
	}
	c.Topics = append([]TopicSpec(nil), c.Topics...) // defaults fills them in place
	c.IdleTopics = append([]TopicSpec(nil), c.IdleTopics...)
	c.defaults()
	if c.Nodes < 1 || c.Nodes > scheduleNodesMax {
		return fmt.Errorf("nodes=%d: want 1..%d", c.Nodes, scheduleNodesMax)
	}
	if c.Producers < 0 || c.Consumers < 0 || c.GroupConsumers < 0 || c.Producers+c.Consumers+c.GroupConsumers > scheduleClientsMax {
		return fmt.Errorf("producers=%d consumers=%d group-consumers=%d: want 0..%d clients", c.Producers, c.Consumers, c.GroupConsumers, scheduleClientsMax)
	}
	if c.Groups < 0 || c.GroupConsumers > 0 && (c.GroupSession < time.Second || c.GroupSession > time.Minute) {
		return fmt.Errorf("groups=%d group-session=%v: want groups >= 0, a session of 1s..1m", c.Groups, c.GroupSession)
	}
	if c.OffsetsRetention != 0 && (c.OffsetsRetention < time.Second || c.OffsetsRetention > time.Hour) {
		return fmt.Errorf("offsets-retention=%v: want 0 (Kafka's default) or 1s..1h", c.OffsetsRetention)
	}
	if c.IdempotentProducers < 0 || c.IdempotentProducers > c.Producers {
		return fmt.Errorf("idempotent=%d: want 0..producers (%d)", c.IdempotentProducers, c.Producers)
	}
	if c.ParkedFetches < 0 || c.ParkedFetches > scheduleParkedMax || c.FetchWaitsMax < 0 || c.FetchWaitsMax > scheduleParkedMax {
		return fmt.Errorf("parked-fetches=%d fetch-waits-max=%d: want 0..%d", c.ParkedFetches, c.FetchWaitsMax, scheduleParkedMax)
	}
	parts := 0
	for _, t := range c.Topics {
		parts += int(t.Partitions)
		if int(t.ReplicationFactor) > c.Nodes {
			return fmt.Errorf("topic %s: replication factor %d above nodes=%d", t.Name, t.ReplicationFactor, c.Nodes)
		}
	}
	if parts > schedulePartitionsMax {
		return fmt.Errorf("%d partitions: want at most %d", parts, schedulePartitionsMax)
	}
	for _, d := range []time.Duration{c.Duration, c.Quiet, c.Net.LatencyMin, c.Net.LatencyMean, c.Disk.SyncLatencyMean, c.Clock.SkewMax} {
		if d < 0 || d > scheduleDurationMax {
			return fmt.Errorf("duration %v: want 0..%v", d, scheduleDurationMax)
		}
	}
	for _, p := range []float64{c.Net.Loss, c.Net.Dup, c.Net.Reorder, c.Disk.KeepUnsynced, c.Clock.DriftMax} {
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("probability or fraction %v: want 0..1", p)
		}
	}
	for _, f := range c.Faults {
		bad := f.Node > c.Nodes || f.Peer > c.Nodes || f.At < 0 || f.At > scheduleDurationMax || f.For < 0 || f.For > scheduleDurationMax ||
			f.Jump < -scheduleDurationMax || f.Jump > scheduleDurationMax
		for _, g := range f.Group {
			bad = bad || g < 1 || g > c.Nodes
		}
		for _, p := range []float64{f.Chaos.Loss, f.Chaos.Dup, f.Chaos.Reorder} {
			bad = bad || !(p >= 0 && p <= 1)
		}
		if bad {
			return fmt.Errorf("fault %s: a node, time or probability out of range (nodes=%d)", formatFault(f), c.Nodes)
		}
	}
	return nil
}
