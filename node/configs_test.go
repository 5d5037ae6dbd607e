package node

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/wire"
)

func createWithConfigs(topic string, partitions int32, rf int16, kv ...string) *kmsg.CreateTopicsRequest {
	r := createReq(topic, partitions, rf)
	for i := 0; i+1 < len(kv); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = kv[i], kmsg.StringPtr(kv[i+1])
		r.Topics[0].Configs = append(r.Topics[0].Configs, c)
	}
	return r
}

func describeTopic(h *harness, id uint64, topic string) kmsg.DescribeConfigsResponseResource {
	r := kmsg.NewPtrDescribeConfigsRequest()
	r.Version = 4
	r.IncludeSynonyms = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	r.Resources = append(r.Resources, rr)
	return h.do(id, r).(*kmsg.DescribeConfigsResponse).Resources[0]
}

func configOf(r kmsg.DescribeConfigsResponseResource, name string) (kmsg.DescribeConfigsResponseResourceConfig, bool) {
	for _, c := range r.Configs {
		if c.Name == name {
			return c, true
		}
	}
	return kmsg.DescribeConfigsResponseResourceConfig{}, false
}

func incAlter(rtype kmsg.ConfigResourceType, name string, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) *kmsg.IncrementalAlterConfigsRequest {
	r := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r.Version = 1
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.Configs = rtype, name, ops
	r.Resources = append(r.Resources, rr)
	return r
}

func op(o kmsg.IncrementalAlterConfigOp, name, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Op, c.Name, c.Value = o, name, kmsg.StringPtr(value)
	return c
}

func bigProduce(topic string, partition int32, valueBytes int) *kmsg.ProduceRequest {
	return produceReq(topic, partition, nil, strings.Repeat("x", valueBytes))
}

// TestTopicConfigs: configs given at CreateTopics are checked, stored on
// every replica, answered (v5+), described with their sources, altered
// through any broker, and honoured at produce (max.message.bytes,
// LogAppendTime); the metadata snapshot and a restart keep them.
func TestTopicConfigs(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) { c.MetaSnapshotEntries = 8 })
	var ctrl int32
	h.until(20*time.Second, "a controller", func() bool {
		ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0
	})
	// Refused: an unknown name, a bad value; nothing is created.
	for _, kv := range [][]string{{"retention.mss", "1"}, {"retention.ms", "soon"}, {"cleanup.policy", "compact,forever"}, {"segment.bytes", "1000"}} {
		r := h.do(uint64(ctrl), createWithConfigs("bad", 1, 3, kv...)).(*kmsg.CreateTopicsResponse).Topics[0]
		if r.ErrorCode != kerr.InvalidConfig.Code || r.ErrorMessage == nil || !strings.Contains(*r.ErrorMessage, kv[0]) {
			t.Fatalf("config %v: code %d message %v, want INVALID_CONFIG naming it", kv, r.ErrorCode, r.ErrorMessage)
		}
	}
	if d := describeTopic(h, 1, "bad"); d.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("refused topic described: %d", d.ErrorCode)
	}
	cr := h.do(uint64(ctrl), createWithConfigs("cfg", 1, 3, "max.message.bytes", "2000", "message.timestamp.type", "LogAppendTime", "cleanup.policy", "compact")).(*kmsg.CreateTopicsResponse).Topics[0]
	if cr.ErrorCode != 0 {
		t.Fatalf("create: %d", cr.ErrorCode)
	}
	got := map[string]string{}
	for _, c := range cr.Configs {
		got[c.Name] = *c.Value + "/" + kmsg.ConfigSource(c.Source).String()
	}
	if got["max.message.bytes"] != "2000/DYNAMIC_TOPIC_CONFIG" || got["retention.ms"] != "604800000/DEFAULT_CONFIG" || len(cr.Configs) != len(topicConfigs) {
		t.Fatalf("CreateTopics configs %v", got)
	}
	leader := uint64(waitTopic(t, h, uint64(ctrl), "cfg"))
	h.until(5*time.Second, "a served produce", func() bool {
		// cfg is compacted: its records need keys.
		return produceKeyed(t, h, leader, "cfg", wire.CodecNone, kv{key: "k", value: "small"}).ErrorCode == 0
	})
	big := h.do(leader, bigProduce("cfg", 0, 2000)).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	if big.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("batch over max.message.bytes: code %d, want MESSAGE_TOO_LARGE", big.ErrorCode)
	}
	before := h.now.UnixMilli()
	p := produceKeyed(t, h, leader, "cfg", wire.CodecNone, kv{key: "k", value: "stamped"})
	if p.ErrorCode != 0 || p.LogAppendTime < before || p.LogAppendTime > h.now.UnixMilli() {
		t.Fatalf("LogAppendTime produce: code %d time %d, want the leader's clock in [%d, %d]", p.ErrorCode, p.LogAppendTime, before, h.now.UnixMilli())
	}
	fp := h.do(leader, fetchReq("cfg", 0, p.BaseOffset, 0, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	bh, err := wire.ParseBatchHeader(fp.RecordBatches)
	if err != nil || !wire.LogAppendTime(fp.RecordBatches) || bh.MaxTimestamp != p.LogAppendTime {
		t.Fatalf("fetched batch: %v, LogAppendTime %v, max timestamp %d, want %d", err, wire.LogAppendTime(fp.RecordBatches), bh.MaxTimestamp, p.LogAppendTime)
	}

	// Altered through a node that is not the controller: forwarded.
	other := uint64(1)
	if other == uint64(ctrl) {
		other = 2
	}
	ar := h.do(other, incAlter(kmsg.ConfigResourceTypeTopic, "cfg",
		op(kmsg.IncrementalAlterConfigOpSet, "max.message.bytes", "100000"),
		op(kmsg.IncrementalAlterConfigOpAppend, "cleanup.policy", "delete"))).(*kmsg.IncrementalAlterConfigsResponse)
	if c := ar.Resources[0].ErrorCode; c != 0 {
		t.Fatalf("alter: %d %v", c, ar.Resources[0].ErrorMessage)
	}
	bad := h.do(other, incAlter(kmsg.ConfigResourceTypeTopic, "cfg", op(kmsg.IncrementalAlterConfigOpAppend, "retention.ms", "5"))).(*kmsg.IncrementalAlterConfigsResponse)
	if c := bad.Resources[0].ErrorCode; c != kerr.InvalidConfig.Code {
		t.Fatalf("append to a non-list: %d", c)
	}
	h.until(5*time.Second, "the alter applied on every node", func() bool {
		for _, id := range h.ids {
			c, _ := configOf(describeTopic(h, id, "cfg"), "cleanup.policy")
			if c.Value == nil || *c.Value != "compact,delete" {
				return false
			}
		}
		return true
	})
	if big := produceKeyed(t, h, leader, "cfg", wire.CodecNone, kv{key: "k", value: strings.Repeat("x", 2000)}); big.ErrorCode != 0 {
		t.Fatalf("batch under the raised max.message.bytes: %d", big.ErrorCode)
	}

	// The cluster-wide broker default: seen by topics without their own.
	ba := kmsg.NewPtrAlterConfigsRequest()
	br := kmsg.NewAlterConfigsRequestResource()
	br.ResourceType = kmsg.ConfigResourceTypeBroker
	bc := kmsg.NewAlterConfigsRequestResourceConfig()
	bc.Name, bc.Value = "message.max.bytes", kmsg.StringPtr("700")
	br.Configs = append(br.Configs, bc)
	ba.Resources = append(ba.Resources, br)
	if c := h.do(other, ba).(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode; c != 0 {
		t.Fatalf("broker alter: %d", c)
	}
	if c := h.do(uint64(ctrl), createReq("plain", 1, 3)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; c != 0 {
		t.Fatalf("create plain: %d", c)
	}
	var mm kmsg.DescribeConfigsResponseResourceConfig
	h.until(5*time.Second, "the broker default", func() bool {
		mm, _ = configOf(describeTopic(h, 3, "plain"), "max.message.bytes")
		return mm.Value != nil && *mm.Value == "700"
	})
	if mm.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig || len(mm.ConfigSynonyms) != 2 || mm.ConfigSynonyms[1].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("max.message.bytes from the broker default: %+v", mm)
	}
	pl := uint64(waitTopic(t, h, uint64(ctrl), "plain"))
	h.until(5*time.Second, "a refused produce on plain", func() bool {
		return h.do(pl, bigProduce("plain", 0, 800)).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode == kerr.MessageTooLarge.Code
	})

	// CreatePartitions: new raft groups, served.
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Version = 3
	cp.TimeoutMillis = 10000
	ct := kmsg.NewCreatePartitionsRequestTopic()
	ct.Topic, ct.Count = "cfg", 3
	cp.Topics = append(cp.Topics, ct)
	if r := h.do(other, cp).(*kmsg.CreatePartitionsResponse).Topics[0]; r.ErrorCode != 0 {
		t.Fatalf("create partitions: %d %v", r.ErrorCode, r.ErrorMessage)
	}
	if r := h.do(other, cp).(*kmsg.CreatePartitionsResponse).Topics[0]; r.ErrorCode != kerr.InvalidPartitions.Code {
		t.Fatalf("create partitions again: %d, want INVALID_PARTITIONS", r.ErrorCode)
	}
	h.until(20*time.Second, "partition 2 served", func() bool {
		l, _ := h.partitionLeader(3, "cfg", 2)
		if l <= 0 {
			return false
		}
		req := produceReq("cfg", 2, nil, "p2")
		req.Topics[0].Partitions[0].Records = wire.AppendBatch(nil, wire.BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
			FirstTimestamp: h.now.UnixMilli(), Records: []wire.Record{{Key: []byte("k"), Value: []byte("p2")}}}) // cfg is compacted: keyed
		return h.do(uint64(l), req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode == 0
	})

	// A restart (from the metadata snapshot plus the log) keeps them all.
	fs := h.crash(3)
	h.start(3, fs)
	h.until(20*time.Second, "node 3's configs after restart", func() bool {
		c, _ := configOf(describeTopic(h, 3, "cfg"), "cleanup.policy")
		return c.Value != nil && *c.Value == "compact,delete"
	})
	if g := h.nodes[3].n.groups[metaGroup]; g.snapIndex == 0 {
		t.Fatalf("the metadata group never snapshotted: the test did not cover the snapshot")
	}
	for _, id := range h.ids {
		a := h.nodes[id].n.meta.encode()
		if b := h.nodes[h.ids[0]].n.meta.encode(); string(a) != string(b) {
			h.until(5*time.Second, "metadata states equal", func() bool {
				return string(h.nodes[id].n.meta.encode()) == string(h.nodes[h.ids[0]].n.meta.encode())
			})
		}
	}
}

// TestMetaSnapshotConfigsRoundTrip: what encode writes, decode reads back.
func TestMetaSnapshotConfigsRoundTrip(t *testing.T) {
	m := newMetaState()
	var eff metaEffects
	h := entryHeader{cmd: cmdCreateTopic}
	if r := m.apply(1, h, appendCreateTopicConfigs(nil, "a", 2, 1, map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}), []uint64{1}, &eff); r.code != 0 {
		t.Fatalf("create: %d %s", r.code, r.msg)
	}
	h.cmd = cmdAlterConfigs
	if r := m.apply(2, h, appendAlterConfigs(nil, resourceBroker, "", false, []configOp{{op: kmsg.IncrementalAlterConfigOpSet, name: "log.retention.hours", value: sp("1")}}), []uint64{1}, &eff); r.code != 0 {
		t.Fatalf("alter: %d %s", r.code, r.msg)
	}
	if r := m.apply(3, h, appendAlterConfigs(nil, resourceTopic, "a", false, []configOp{{op: kmsg.IncrementalAlterConfigOpSet, name: "segment.bytes", value: sp("12")}}), []uint64{1}, &eff); r.code != kerr.InvalidConfig.Code {
		t.Fatalf("a bad value at apply: %d", r.code)
	}
	b := m.encode()
	m2, err := decodeMetaState(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(m2.encode()) != string(b) || m2.topics["a"].configs["cleanup.policy"] != "compact" || m2.brokerConfigs["log.retention.hours"] != "1" {
		t.Fatalf("round trip lost configs: %v %v", m2.topics["a"].configs, m2.brokerConfigs)
	}
	for i := 1; i < len(b); i++ {
		if _, err := decodeMetaState(b[:i]); err == nil {
			t.Fatalf("a snapshot cut to %d of %d bytes decoded", i, len(b))
		}
	}
}

// TestLogAppendTimeSameOnEveryReplica: a LogAppendTime batch holds the
// leader's time on every replica (the digests agree), and planted
// BugAppendTimeAtApply, each replica's own clock at apply, makes them
// differ.
func TestLogAppendTimeSameOnEveryReplica(t *testing.T) {
	for _, bug := range []string{"", BugAppendTimeAtApply} {
		t.Run("bug="+bug, func(t *testing.T) {
			h := newHarness(t, 3, func(c *Config) { c.Bug = bug })
			var ctrl int32
			h.until(20*time.Second, "a controller", func() bool {
				ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
				return ctrl > 0
			})
			if c := h.do(uint64(ctrl), createWithConfigs("lat", 1, 3, "message.timestamp.type", "LogAppendTime")).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; c != 0 {
				t.Fatalf("create: %d", c)
			}
			leader := uint64(waitTopic(t, h, uint64(ctrl), "lat"))
			h.until(5*time.Second, "a served produce", func() bool {
				return produceOne(t, h, leader, "lat", nil, "a").ErrorCode == 0
			})
			for i := 0; i < 5; i++ {
				if c := produceOne(t, h, leader, "lat", nil, "b").ErrorCode; c != 0 {
					t.Fatalf("produce: %d", c)
				}
			}
			group := h.nodes[leader].n.meta.topics["lat"].partitions[0].group
			var digests [][32]byte
			h.until(5*time.Second, "every replica applied", func() bool {
				digests = digests[:0]
				var applied []uint64
				for _, id := range h.ids {
					d, ok, err := h.nodes[id].n.Digest(group)
					if !ok || err != nil {
						return false
					}
					digests, applied = append(digests, d.Digest), append(applied, d.Applied)
				}
				return applied[0] == applied[1] && applied[1] == applied[2] && d0batches(h, group) == 6
			})
			same := digests[0] == digests[1] && digests[1] == digests[2]
			if bug == "" && !same {
				t.Fatalf("replicas of a LogAppendTime partition differ")
			}
			if bug != "" && same {
				t.Fatalf("with %s the replicas still agree: the plant does nothing", bug)
			}
		})
	}
}

func d0batches(h *harness, group uint64) int {
	n := -1
	for _, id := range h.ids {
		d, ok, _ := h.nodes[id].n.Digest(group)
		if !ok || n >= 0 && d.Batches != n {
			return -1
		}
		n = d.Batches
	}
	return n
}

// TestTopicValueResolution: the produce path's fast lookup (topicString)
// and DescribeConfigs' (topicValue) agree at every level, in Kafka's order:
// the topic's own value, then each synonym in turn (dynamic before static),
// then the default, scaled to the topic config's unit.
func TestTopicValueResolution(t *testing.T) {
	n := &Node{meta: newMetaState(), cfg: Config{BrokerConfigs: map[string]string{"log.retention.minutes": "5", "log.roll.ms": "777", "log.retention.bytes": "9"}}}
	n.meta.brokerConfigs["log.retention.hours"] = "2" // below minutes in preference
	n.meta.brokerConfigs["log.retention.bytes"] = "10"
	top := &topicMeta{name: "x", configs: map[string]string{"cleanup.policy": "compact"}}
	want := map[string]string{
		"retention.ms":     "300000/STATIC_BROKER_CONFIG",
		"segment.ms":       "777/STATIC_BROKER_CONFIG",
		"retention.bytes":  "10/DYNAMIC_DEFAULT_BROKER_CONFIG",
		"cleanup.policy":   "compact/DYNAMIC_TOPIC_CONFIG",
		"segment.bytes":    "1073741824/DEFAULT_CONFIG",
		"compression.type": "producer/DEFAULT_CONFIG",
	}
	for i := range topicConfigs {
		d := &topicConfigs[i]
		v, syns := n.topicValue(top, d)
		if got := n.topicString(top, d.name); got != *v.value {
			t.Errorf("%s: topicString %q, topicValue %q", d.name, got, *v.value)
		}
		if w, ok := want[d.name]; ok && *v.value+"/"+v.source.String() != w {
			t.Errorf("%s: %s/%s, want %s", d.name, *v.value, v.source, w)
		}
		if syns[0].source != v.source {
			t.Errorf("%s: first synonym %v, value from %v", d.name, syns[0].source, v.source)
		}
	}
}

// TestBrokerConfigs: a broker resource describes this broker's configs with
// their sources (static from Config.BrokerConfigs, read-only ones marked),
// the empty name the cluster-wide dynamic ones; IncrementalAlterConfigs
// changes those through the metadata group, and refuses read-only and
// unknown names and per-broker alters.
func TestBrokerConfigs(t *testing.T) {
	h := newHarness(t, 1, func(c *Config) { c.BrokerConfigs = map[string]string{"log.segment.bytes": "2097152"} })
	h.until(20*time.Second, "a controller", func() bool {
		return h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID > 0
	})
	describe := func(name string) kmsg.DescribeConfigsResponseResource {
		r := kmsg.NewPtrDescribeConfigsRequest()
		r.Version = 4
		r.IncludeSynonyms = true
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
		r.Resources = append(r.Resources, rr)
		return h.do(1, r).(*kmsg.DescribeConfigsResponse).Resources[0]
	}
	b := describe("1")
	seg, _ := configOf(b, "log.segment.bytes")
	id, _ := configOf(b, "broker.id")
	if b.ErrorCode != 0 || *seg.Value != "2097152" || seg.Source != kmsg.ConfigSourceStaticBrokerConfig || seg.ReadOnly ||
		*id.Value != "1" || !id.ReadOnly {
		t.Fatalf("broker 1: %d, log.segment.bytes %+v, broker.id %+v", b.ErrorCode, seg, id)
	}
	if d := describe("2"); d.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("another broker's resource: %d", d.ErrorCode)
	}
	if d := describe(""); d.ErrorCode != 0 || len(d.Configs) != 0 {
		t.Fatalf("the default resource before any alter: %d %v", d.ErrorCode, d.Configs)
	}
	for _, tc := range []struct {
		name, key, value string
		code             int16
	}{
		{"", "broker.id", "3", kerr.InvalidRequest.Code},
		{"", "log.flush.interval.ms", "3", kerr.InvalidConfig.Code},
		{"", "log.retention.hours", "x", kerr.InvalidConfig.Code},
		{"1", "log.retention.hours", "5", kerr.InvalidRequest.Code},
		{"", "log.retention.hours", "5", 0},
	} {
		r := h.do(1, incAlter(kmsg.ConfigResourceTypeBroker, tc.name, op(kmsg.IncrementalAlterConfigOpSet, tc.key, tc.value))).(*kmsg.IncrementalAlterConfigsResponse)
		if c := r.Resources[0].ErrorCode; c != tc.code {
			t.Fatalf("broker %q %s=%s: %d, want %d", tc.name, tc.key, tc.value, c, tc.code)
		}
	}
	d := describe("")
	if len(d.Configs) != 1 || d.Configs[0].Name != "log.retention.hours" || d.Configs[0].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("the default resource after the alter: %+v", d.Configs)
	}
	h.do(1, createReq("t", 1, 1))
	rm, _ := configOf(describeTopic(h, 1, "t"), "retention.ms")
	if *rm.Value != "18000000" || rm.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("retention.ms under log.retention.hours=5: %+v", rm)
	}
}

// TestRandomConfigRequests: random config changes (known and unknown names,
// values good and bad, every op number, both resource types, through every
// node) are each answered, never panic, and leave every replica with the
// same metadata state, which its snapshot encoding reads back.
func TestRandomConfigRequests(t *testing.T) {
	h := newHarness(t, 3, func(c *Config) { c.MetaSnapshotEntries = 16 })
	var ctrl int32
	h.until(20*time.Second, "a controller", func() bool {
		ctrl = h.do(1, metadataReq()).(*kmsg.MetadataResponse).ControllerID
		return ctrl > 0
	})
	if c := h.do(uint64(ctrl), createReq("r", 1, 3)).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; c != 0 {
		t.Fatalf("create: %d", c)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	names := []string{"retention.ms", "cleanup.policy", "max.message.bytes", "message.timestamp.type", "segment.bytes",
		"log.retention.hours", "message.max.bytes", "broker.id", "nope", ""}
	values := []string{"1", "-1", "compact", "delete,compact", "LogAppendTime", "2097152", "x", "", "99999999999999999999", " 5 "}
	codes := map[int16]int{}
	for i := 0; i < 300; i++ {
		rtype, rname := kmsg.ConfigResourceTypeTopic, []string{"r", "missing"}[rng.IntN(2)]
		if rng.IntN(3) == 0 {
			rtype, rname = kmsg.ConfigResourceTypeBroker, []string{"", "1", "x"}[rng.IntN(3)]
		}
		var ops []kmsg.IncrementalAlterConfigsRequestResourceConfig
		for j := rng.IntN(4); j >= 0; j-- {
			o := op(kmsg.IncrementalAlterConfigOp(rng.IntN(6)-1), names[rng.IntN(len(names))], values[rng.IntN(len(values))])
			if rng.IntN(8) == 0 {
				o.Value = nil
			}
			ops = append(ops, o)
		}
		r, ok := h.tryDo(uint64(1+rng.IntN(3)), incAlter(rtype, rname, ops...), 40*time.Second)
		if !ok {
			t.Fatalf("request %d: no answer", i)
		}
		codes[r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode]++
	}
	if codes[0] == 0 || codes[kerr.InvalidConfig.Code] == 0 {
		t.Fatalf("answers %v: want some successes and some INVALID_CONFIG", codes)
	}
	h.until(10*time.Second, "every replica's metadata equal", func() bool {
		a := h.nodes[1].n.meta.encode()
		return string(a) == string(h.nodes[2].n.meta.encode()) && string(a) == string(h.nodes[3].n.meta.encode())
	})
	m, err := decodeMetaState(h.nodes[1].n.meta.encode())
	if err != nil || string(m.encode()) != string(h.nodes[1].n.meta.encode()) {
		t.Fatalf("the state's encoding does not read back: %v", err)
	}
	for _, id := range h.ids {
		for k, v := range h.nodes[id].n.meta.topics["r"].configs {
			if msg := checkTopicConfig(k, &v); msg != "" {
				t.Fatalf("node %d holds an invalid config: %s", id, msg)
			}
		}
	}
	t.Logf("answers by code: %v", codes)
}
