package node

// Topic and broker configs, as Kafka 4.x names, validates and reports them.
//
// A topic holds only the configs set on it (CreateTopics, AlterConfigs,
// IncrementalAlterConfigs), in the replicated metadata state; every other
// value comes from the broker: first the cluster-wide dynamic default (set by
// altering the broker resource with an empty name, also in the metadata
// state), then this node's static config (Config.BrokerConfigs, from cmd/node
// flags), then Kafka's default. Each topic config has its broker synonyms in
// Kafka's order of preference (retention.ms: log.retention.ms, then
// log.retention.minutes, then log.retention.hours). Every change is a
// metadata entry, validated again when it applies, so every replica holds the
// same configs. Per-broker dynamic configs (a broker resource named by its
// id) are not kept: ketch's broker configs that topics see are cluster-wide.
//
// What is enforced: max.message.bytes and segment.bytes at produce (a batch
// over them is refused, MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE, as Kafka's
// UnifiedLog does), message.timestamp.type=LogAppendTime (the leader stamps
// the batch before proposing it), compression.type (producer keeps the
// producer's codec; a codec's name makes the leader rebuild each batch in
// it before proposing, as Kafka's LogValidator does), retention.ms and
// retention.bytes (retention.go), cleanup.policy, delete.retention.ms and
// min.compaction.lag.ms (compaction.go). Stored and described but not
// enforced: segment.ms (the log is one shared WAL: segments are the node's,
// not a topic's).

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BugAppendTimeAtApply (databend PR #7325, "when expiring a record, leader
// and followers should use the same now time": each replica read its own
// clock while applying a log entry, so their states drifted apart): for a
// LogAppendTime topic the leader does not stamp the batch before proposing;
// each replica takes its own clock when it applies the entry, keeps that
// time in its index (what ListOffsets by time reads) and stamps it on what
// it serves. Replicas hold different times for the same batch, and a
// consumer reading across a failover sees a record's timestamp change.
const BugAppendTimeAtApply = "append-time-at-apply"

// bugStampAtApply is BugAppendTimeAtApply's stamp, when the entry at
// raftIndex applied as a new batch.
func (n *Node) bugStampAtApply(p *partState, raftIndex uint64) {
	if p.idx.empty() || p.idx.last().raftIndex != raftIndex {
		return // a retry answered from producer state: nothing appended
	}
	if n.topicString(n.meta.topics[p.topic], "message.timestamp.type") != "LogAppendTime" {
		return
	}
	p.idx.last().maxTS = n.now.UnixMilli() // the index is dense under this bug: the stamp stays

	p.bugAppendTime = true
}

// Bounds on what a config request may carry.
const (
	configValueBytesMax    = 1024 // no supported config needs more
	configsPerResourceMax  = 32   // so a forwarded alter stays under stepForward's 64 KiB
	configResourcesMax     = 1024
	createPartitionsTopics = 1024
)

// brokerConfigDef is a broker config that topics see (a synonym of a topic
// config) or a read-only one ketch reports.
type brokerConfigDef struct {
	name     string
	typ      kmsg.ConfigType
	def      *string // Kafka's default; nil: none (the next synonym decides)
	unitMs   int64   // a time synonym's unit in ms (log.retention.hours: 3600000); 0: not a time
	min      int64   // the least value of a number
	dynamic  bool    // may be altered at runtime (cluster-wide)
	choices  []string
	list     bool // a comma-separated list of choices
	doc      string
	readOnly func(n *Node) string // a read-only config's value on this node
}

// topicConfigDef is a topic config: its type, bounds and broker synonyms.
type topicConfigDef struct {
	name     string
	typ      kmsg.ConfigType
	min      int64
	choices  []string
	list     bool
	synonyms []string // broker configs, most preferred first
	doc      string
}

func sp(s string) *string { return &s }

var (
	timestampTypes   = []string{"CreateTime", "LogAppendTime"}
	cleanupPolicies  = []string{"compact", "delete"}
	compressionTypes = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}
)

// topicConfigs are the topic configs ketch accepts, sorted by name (the order
// DescribeConfigs lists them).
var topicConfigs = []topicConfigDef{
	{name: "cleanup.policy", typ: kmsg.ConfigTypeList, choices: cleanupPolicies, list: true, synonyms: []string{"log.cleanup.policy"},
		doc: "delete (retention), compact (the newest record of every key is kept), or both"},
	{name: "compression.type", typ: kmsg.ConfigTypeString, choices: compressionTypes, synonyms: []string{"compression.type"},
		doc: "the codec batches are stored in: producer keeps the producer's; a codec's name makes the leader recompress each batch in it"},
	{name: "delete.retention.ms", typ: kmsg.ConfigTypeLong, min: 0, synonyms: []string{"log.cleaner.delete.retention.ms"},
		doc: "how long a compacted log keeps a tombstone after the clean that first kept it"},
	{name: "max.message.bytes", typ: kmsg.ConfigTypeInt, min: 0, synonyms: []string{"message.max.bytes"},
		doc: "the largest record batch a produce may append"},
	{name: "message.timestamp.type", typ: kmsg.ConfigTypeString, choices: timestampTypes, synonyms: []string{"log.message.timestamp.type"},
		doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps the leader's clock on each batch"},
	{name: "min.compaction.lag.ms", typ: kmsg.ConfigTypeLong, min: 0, synonyms: []string{"log.cleaner.min.compaction.lag.ms"},
		doc: "the least time a record stays uncompacted"},
	{name: "retention.bytes", typ: kmsg.ConfigTypeLong, min: -1 << 63, synonyms: []string{"log.retention.bytes"},
		doc: "the most bytes a partition keeps under cleanup.policy delete, -1 for no limit"},
	{name: "retention.ms", typ: kmsg.ConfigTypeLong, min: -1, synonyms: []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
		doc: "how long records are kept under cleanup.policy delete, -1 for ever"},
	{name: "segment.bytes", typ: kmsg.ConfigTypeInt, min: 1 << 20, synonyms: []string{"log.segment.bytes"},
		doc: "the size of a log segment; a batch larger than it is refused"},
	{name: "segment.ms", typ: kmsg.ConfigTypeLong, min: 1, synonyms: []string{"log.roll.ms", "log.roll.hours"},
		doc: "how long after its first batch's timestamp a segment rolls at the next append; the cleaner never cleans the active segment"},
}

// brokerConfigs are the broker configs ketch reports, sorted by name: the
// synonyms of topic configs (dynamic, cluster-wide) and a few read-only ones.
var brokerConfigs = []brokerConfigDef{
	{name: "auto.create.topics.enable", typ: kmsg.ConfigTypeBoolean, doc: "Metadata and Produce create unknown topics",
		readOnly: func(n *Node) string { return strconv.FormatBool(*n.cfg.AutoCreateTopics) }},
	{name: "broker.id", typ: kmsg.ConfigTypeInt, doc: "this broker's id",
		readOnly: func(n *Node) string { return strconv.FormatUint(n.cfg.ID, 10) }},
	{name: "compression.type", typ: kmsg.ConfigTypeString, def: sp("producer"), choices: compressionTypes, dynamic: true,
		doc: "the default compression.type of topics"},
	{name: "log.cleaner.delete.retention.ms", typ: kmsg.ConfigTypeLong, def: sp("86400000"), dynamic: true,
		doc: "the default delete.retention.ms of topics"},
	{name: "log.cleaner.min.compaction.lag.ms", typ: kmsg.ConfigTypeLong, def: sp("0"), dynamic: true,
		doc: "the default min.compaction.lag.ms of topics"},
	{name: "log.cleanup.policy", typ: kmsg.ConfigTypeList, def: sp("delete"), choices: cleanupPolicies, list: true, dynamic: true,
		doc: "the default cleanup.policy of topics"},
	{name: "log.message.timestamp.type", typ: kmsg.ConfigTypeString, def: sp("CreateTime"), choices: timestampTypes, dynamic: true,
		doc: "the default message.timestamp.type of topics"},
	{name: "log.retention.bytes", typ: kmsg.ConfigTypeLong, def: sp("-1"), min: -1 << 63, dynamic: true,
		doc: "the default retention.bytes of topics"},
	{name: "log.retention.hours", typ: kmsg.ConfigTypeInt, def: sp("168"), unitMs: 3600000, min: -1 << 31, dynamic: true,
		doc: "the default retention.ms of topics, in hours (after log.retention.ms and log.retention.minutes)"},
	{name: "log.retention.minutes", typ: kmsg.ConfigTypeInt, unitMs: 60000, min: -1 << 31, dynamic: true,
		doc: "the default retention.ms of topics, in minutes (after log.retention.ms)"},
	{name: "log.retention.ms", typ: kmsg.ConfigTypeLong, unitMs: 1, min: -1 << 63, dynamic: true,
		doc: "the default retention.ms of topics"},
	{name: "log.roll.hours", typ: kmsg.ConfigTypeInt, def: sp("168"), unitMs: 3600000, min: 1, dynamic: true,
		doc: "the default segment.ms of topics, in hours (after log.roll.ms)"},
	{name: "log.roll.ms", typ: kmsg.ConfigTypeLong, unitMs: 1, min: 1, dynamic: true,
		doc: "the default segment.ms of topics"},
	{name: "log.segment.bytes", typ: kmsg.ConfigTypeInt, def: sp("1073741824"), min: 1 << 20, dynamic: true,
		doc: "the default segment.bytes of topics"},
	{name: "message.max.bytes", typ: kmsg.ConfigTypeInt, def: sp("1048588"), min: 0, dynamic: true,
		doc: "the default max.message.bytes of topics"},
	{name: "num.partitions", typ: kmsg.ConfigTypeInt, doc: "partitions of a topic created without a count",
		readOnly: func(n *Node) string { return strconv.Itoa(int(n.cfg.DefaultPartitions)) }},
	{name: "offsets.topic.num.partitions", typ: kmsg.ConfigTypeInt, doc: "partitions of __consumer_offsets",
		readOnly: func(n *Node) string { return strconv.Itoa(int(n.cfg.OffsetsPartitions)) }},
}

func topicConfigDefOf(name string) *topicConfigDef {
	for i := range topicConfigs {
		if topicConfigs[i].name == name {
			return &topicConfigs[i]
		}
	}
	return nil
}

func brokerConfigDefOf(name string) *brokerConfigDef {
	for i := range brokerConfigs {
		if brokerConfigs[i].name == name {
			return &brokerConfigs[i]
		}
	}
	return nil
}

// checkValue validates a config value as Kafka's ConfigDef does, with its
// messages ("Invalid value x for configuration y: ...").
func checkValue(name, v string, typ kmsg.ConfigType, min int64, choices []string, list bool) string {
	bad := func(why string) string {
		return fmt.Sprintf("Invalid value %s for configuration %s: %s", v, name, why)
	}
	if len(v) > configValueBytesMax {
		return fmt.Sprintf("Invalid value for configuration %s: longer than %d bytes", name, configValueBytesMax)
	}
	switch typ {
	case kmsg.ConfigTypeInt, kmsg.ConfigTypeLong:
		bits, tname := 64, "LONG"
		if typ == kmsg.ConfigTypeInt {
			bits, tname = 32, "INT"
		}
		x, err := strconv.ParseInt(strings.TrimSpace(v), 10, bits)
		if err != nil {
			return bad("Not a number of type " + tname)
		}
		if x < min {
			return bad(fmt.Sprintf("Value must be at least %d", min))
		}
	case kmsg.ConfigTypeBoolean:
		if _, err := strconv.ParseBool(v); err != nil {
			return bad("Expected value to be either true or false")
		}
	case kmsg.ConfigTypeString, kmsg.ConfigTypeList:
		vals := []string{v}
		if list {
			vals = strings.Split(v, ",")
		}
		for _, x := range vals {
			if !slices.Contains(choices, strings.TrimSpace(x)) {
				return bad("String must be one of: " + strings.Join(choices, ", "))
			}
		}
	}
	return ""
}

// checkTopicConfig validates one topic config; "" if it is fine, else the
// INVALID_CONFIG message.
func checkTopicConfig(name string, v *string) string {
	d := topicConfigDefOf(name)
	if d == nil {
		return "Unknown topic config name: " + name
	}
	if v == nil {
		return "Null value not supported for topic configs: " + name
	}
	return checkValue(name, *v, d.typ, d.min, d.choices, d.list)
}

// checkBrokerConfig validates one cluster-wide dynamic broker config.
func checkBrokerConfig(name string, v *string) (int16, string) {
	d := brokerConfigDefOf(name)
	switch {
	case d == nil:
		return kerr.InvalidConfig.Code, "Unknown broker config name: " + name
	case !d.dynamic:
		return kerr.InvalidRequest.Code, "Cannot update these configs dynamically: " + name
	case v == nil:
		return kerr.InvalidConfig.Code, "Null value not supported for broker configs: " + name
	}
	if msg := checkValue(name, *v, d.typ, d.min, d.choices, d.list); msg != "" {
		return kerr.InvalidConfig.Code, msg
	}
	return 0, ""
}

// normalize trims a value as Kafka's parser does (numbers and lists
// without surrounding spaces), so the stored form is canonical.
func normalizeConfig(v string) string {
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return strings.Join(parts, ",")
}

// configValue is a resolved config: its value and where it came from.
type configValue struct {
	name   string
	value  *string
	source kmsg.ConfigSource
}

// brokerValue resolves a broker config on this node: the cluster-wide
// dynamic default, then the static config, then Kafka's default.
func (n *Node) brokerValue(d *brokerConfigDef) configValue {
	if d.readOnly != nil {
		return configValue{d.name, sp(d.readOnly(n)), kmsg.ConfigSourceStaticBrokerConfig}
	}
	if v, ok := n.meta.brokerConfigs[d.name]; ok {
		return configValue{d.name, sp(v), kmsg.ConfigSourceDynamicDefaultBrokerConfig}
	}
	if v, ok := n.cfg.BrokerConfigs[d.name]; ok {
		return configValue{d.name, sp(v), kmsg.ConfigSourceStaticBrokerConfig}
	}
	return configValue{d.name, d.def, kmsg.ConfigSourceDefaultConfig}
}

// topicValue resolves a topic config: the topic's own value, else the first
// broker synonym with a value set (dynamic, then static), else the first
// synonym's default, scaled to the topic config's unit. synonyms lists every
// level that has a value, most preferred first (Kafka's ConfigSynonyms).
func (n *Node) topicValue(t *topicMeta, d *topicConfigDef) (v configValue, synonyms []configValue) {
	if t != nil {
		if x, ok := t.configs[d.name]; ok {
			synonyms = append(synonyms, configValue{d.name, sp(x), kmsg.ConfigSourceDynamicTopicConfig})
		}
	}
	for _, s := range d.synonyms {
		if x, ok := n.meta.brokerConfigs[s]; ok {
			synonyms = append(synonyms, configValue{s, sp(x), kmsg.ConfigSourceDynamicDefaultBrokerConfig})
		}
		if x, ok := n.cfg.BrokerConfigs[s]; ok {
			synonyms = append(synonyms, configValue{s, sp(x), kmsg.ConfigSourceStaticBrokerConfig})
		}
	}
	for _, s := range d.synonyms {
		if bd := brokerConfigDefOf(s); bd != nil && bd.def != nil {
			synonyms = append(synonyms, configValue{s, bd.def, kmsg.ConfigSourceDefaultConfig})
			break
		}
	}
	first := synonyms[0] // every topic config has a synonym with a default
	v = configValue{d.name, first.value, first.source}
	if first.source != kmsg.ConfigSourceDynamicTopicConfig {
		v.value = sp(scaleSynonym(first.name, *first.value))
	}
	return v, synonyms
}

// topicString is a topic config's value in effect on this node: what
// topicValue resolves, without building the synonyms (the produce path asks
// for it on every batch).
func (n *Node) topicString(t *topicMeta, name string) string {
	d := topicConfigDefOf(name)
	if t != nil {
		if x, ok := t.configs[name]; ok {
			return x
		}
	}
	for _, s := range d.synonyms {
		if x, ok := n.meta.brokerConfigs[s]; ok {
			return scaleSynonym(s, x)
		}
		if x, ok := n.cfg.BrokerConfigs[s]; ok {
			return scaleSynonym(s, x)
		}
	}
	for _, s := range d.synonyms {
		if bd := brokerConfigDefOf(s); bd != nil && bd.def != nil {
			return scaleSynonym(s, *bd.def)
		}
	}
	return "" // every topic config has a synonym with a default
}

// topicInt is a numeric topic config's value in effect on this node.
func (n *Node) topicInt(t *topicMeta, name string) int64 {
	x, _ := strconv.ParseInt(n.topicString(t, name), 10, 64)
	return x
}

// scaleSynonym converts a broker synonym's value to its topic config's unit
// (log.retention.hours to ms; a negative time is -1, "for ever").
func scaleSynonym(name, v string) string {
	bd := brokerConfigDefOf(name)
	if bd == nil || bd.unitMs <= 1 {
		return v
	}
	x, _ := strconv.ParseInt(v, 10, 64)
	if x < 0 {
		return "-1"
	}
	return strconv.FormatInt(x*bd.unitMs, 10)
}

// topicConfigEntries lists a topic's configs as CreateTopics v5+ answers them.
func (n *Node) topicConfigEntries(t *topicMeta) []kmsg.CreateTopicsResponseTopicConfig {
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(topicConfigs))
	for i := range topicConfigs {
		v, _ := n.topicValue(t, &topicConfigs[i])
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.Source = v.name, v.value, int8(v.source)
		out = append(out, c)
	}
	return out
}

// prepareBrokerConfigs validates Config.BrokerConfigs at New (before the
// defaults are filled in) and keeps its own copy. An explicit
// MessageMaxBytes is the static message.max.bytes; a message.max.bytes in
// the map sets MessageMaxBytes (the bound of what the node itself writes).
func prepareBrokerConfigs(cfg *Config) error {
	m := make(map[string]string, len(cfg.BrokerConfigs)+1)
	names := make([]string, 0, len(cfg.BrokerConfigs))
	for k := range cfg.BrokerConfigs {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := cfg.BrokerConfigs[k]
		if code, msg := checkBrokerConfig(k, &v); code != 0 {
			return fmt.Errorf("node: broker config %s: %s", k, msg)
		}
		m[k] = normalizeConfig(v)
	}
	if v, ok := m["message.max.bytes"]; ok {
		x, _ := strconv.Atoi(v)
		cfg.MessageMaxBytes = max(x, 1)
	} else if cfg.MessageMaxBytes > 0 {
		m["message.max.bytes"] = strconv.Itoa(cfg.MessageMaxBytes)
	}
	cfg.BrokerConfigs = m
	return nil
}

// Config changes are metadata entries (cmdAlterConfigs). The body names the
// resource and says whether the ops replace the resource's whole set
// (AlterConfigs) or change it (IncrementalAlterConfigs).

const (
	resourceTopic  = byte(kmsg.ConfigResourceTypeTopic)
	resourceBroker = byte(kmsg.ConfigResourceTypeBroker)
)

type configOp struct {
	op    kmsg.IncrementalAlterConfigOp
	name  string
	value *string
}

func appendAlterConfigs(dst []byte, rtype byte, name string, replace bool, ops []configOp) []byte {
	dst = append(dst, rtype)
	dst = appendString(dst, name)
	if replace {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(ops)))
	for _, o := range ops {
		dst = append(dst, byte(o.op))
		dst = appendString(dst, o.name)
		if o.value == nil {
			dst = append(dst, 0)
		} else {
			dst = append(dst, 1)
			dst = appendString(dst, *o.value)
		}
	}
	return dst
}

func appendConfigs(dst []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = appendString(dst, k)
		dst = appendString(dst, m[k])
	}
	return dst
}

func (d *dec) configs() map[string]string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errShortEntry
		return nil
	}
	m := make(map[string]string, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.string()
		m[k] = d.string()
	}
	return m
}

func (d *dec) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errShortEntry
		return 0
	}
	b := d.b[0]
	d.b = d.b[1:]
	return b
}

// applyConfigOps computes a resource's new set of configs from its current
// one (nil if replace), checking each op; the first bad one fails the whole
// change, as Kafka fails a resource.
func applyConfigOps(cur map[string]string, rtype byte, replace bool, ops []configOp) (map[string]string, int16, string) {
	out := map[string]string{}
	if !replace {
		for k, v := range cur {
			out[k] = v
		}
	}
	seen := map[string]bool{}
	for _, o := range ops {
		if seen[o.name] {
			return nil, kerr.InvalidRequest.Code, "Error due to duplicate config keys"
		}
		seen[o.name] = true
		var list bool
		if rtype == resourceTopic {
			d := topicConfigDefOf(o.name)
			if d == nil {
				return nil, kerr.InvalidConfig.Code, "Unknown topic config name: " + o.name
			}
			list = d.list
		} else {
			d := brokerConfigDefOf(o.name)
			if d == nil {
				return nil, kerr.InvalidConfig.Code, "Unknown broker config name: " + o.name
			}
			if !d.dynamic {
				return nil, kerr.InvalidRequest.Code, "Cannot update these configs dynamically: " + o.name
			}
			list = d.list
		}
		v := o.value
		switch o.op {
		case kmsg.IncrementalAlterConfigOpSet:
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(out, o.name)
			continue
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if !list {
				verb := "append"
				if o.op == kmsg.IncrementalAlterConfigOpSubtract {
					verb = "subtract"
				}
				return nil, kerr.InvalidConfig.Code, "Config value " + verb + " is not allowed for config key: " + o.name
			}
			if v == nil {
				return nil, kerr.InvalidConfig.Code, "Null value not supported for : " + o.name
			}
			var items []string
			if x, ok := out[o.name]; ok && x != "" {
				items = strings.Split(x, ",")
			}
			for _, it := range strings.Split(*v, ",") {
				it = strings.TrimSpace(it)
				has := slices.Contains(items, it)
				if o.op == kmsg.IncrementalAlterConfigOpAppend && !has {
					items = append(items, it)
				}
				if o.op == kmsg.IncrementalAlterConfigOpSubtract && has {
					items = slices.DeleteFunc(items, func(s string) bool { return s == it })
				}
			}
			if len(items) == 0 {
				delete(out, o.name) // nothing left: back to the default
				continue
			}
			v = sp(strings.Join(items, ","))
		default:
			return nil, kerr.InvalidRequest.Code, fmt.Sprintf("Unknown config operation %d for %s", o.op, o.name)
		}
		if rtype == resourceTopic {
			if msg := checkTopicConfig(o.name, v); msg != "" {
				return nil, kerr.InvalidConfig.Code, msg
			}
		} else if code, msg := checkBrokerConfig(o.name, v); code != 0 {
			return nil, code, msg
		}
		out[o.name] = normalizeConfig(*v)
	}
	return out, 0, ""
}

// applyAlterConfigs applies a cmdAlterConfigs entry to the metadata state.
func (m *metaState) applyAlterConfigs(d *dec) metaResult {
	rtype := d.byte()
	name := d.string()
	replace := d.byte() == 1
	count := d.uvarint()
	if d.err != nil || count > configsPerResourceMax {
		return metaResult{code: kerr.InvalidRequest.Code}
	}
	ops := make([]configOp, 0, count)
	for i := uint64(0); i < count && d.err == nil; i++ {
		o := configOp{op: kmsg.IncrementalAlterConfigOp(d.byte()), name: d.string()}
		if d.byte() == 1 {
			o.value = sp(d.string())
		}
		ops = append(ops, o)
	}
	if d.err != nil {
		return metaResult{code: kerr.InvalidRequest.Code}
	}
	switch rtype {
	case resourceTopic:
		t := m.topics[name]
		if t == nil {
			return metaResult{code: kerr.UnknownTopicOrPartition.Code, msg: "The topic '" + name + "' does not exist."}
		}
		next, code, msg := applyConfigOps(t.configs, rtype, replace, ops)
		if code != 0 {
			return metaResult{code: code, msg: msg}
		}
		t.configs = next
		return metaResult{topic: t}
	case resourceBroker:
		if name != "" {
			return metaResult{code: kerr.InvalidRequest.Code, msg: "broker configs are cluster-wide: alter the default broker resource (an empty name)"}
		}
		next, code, msg := applyConfigOps(m.brokerConfigs, rtype, replace, ops)
		if code != 0 {
			return metaResult{code: code, msg: msg}
		}
		m.brokerConfigs = next
		return metaResult{}
	}
	return metaResult{code: kerr.InvalidRequest.Code}
}
