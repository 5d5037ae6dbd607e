package node

import (
	"crypto/sha256"
	"encoding/binary"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// metaGroup is the raft group id of the metadata group. Partition groups get
// ids from metaState.nextGroup, starting at 1.
const metaGroup uint64 = 0

// Limits on what CreateTopics may ask for.
const (
	topicNameBytesMax    = 249 // Kafka's limit
	topicPartitionsMax   = 1024
	replicationFactorMax = 7
	topicsPerClusterMax  = 10000
	brokerHostBytesMax   = 255
)

// metaState is the replicated cluster metadata, applied identically on every
// node from the metadata group's log.
type metaState struct {
	topics         map[string]*topicMeta
	byID           map[[16]byte]*topicMeta
	nextGroup      uint64
	nextProducerID int64
	brokers        map[int32]brokerInfo
	// leaders is the last leader each partition group reported, for the
	// nodes that are not its replicas (Kafka's controller plays this part).
	leaders map[uint64]leaderInfo
	// fenced are the brokers whose session with the controller ended
	// (broker_sessions.go): Metadata leaves them out.
	fenced map[int32]bool
	// brokerConfigs are the cluster-wide dynamic broker configs (altered
	// on the broker resource with an empty name; configs.go).
	brokerConfigs map[string]string
}

type leaderInfo struct {
	leader uint64
	term   uint64
}

type topicMeta struct {
	name       string
	id         [16]byte
	partitions []partMeta
	// configs are the topic configs set on it (configs.go); the others
	// come from the broker.
	configs map[string]string
}

type partMeta struct {
	group    uint64
	replicas []uint64 // replicas[0] is the preferred leader
}

type brokerInfo struct {
	host string
	port int32
}

func newMetaState() *metaState {
	return &metaState{
		topics:    map[string]*topicMeta{},
		byID:      map[[16]byte]*topicMeta{},
		nextGroup: 1,
		brokers:   map[int32]brokerInfo{},
		leaders:   map[uint64]leaderInfo{},
		fenced:    map[int32]bool{},

		brokerConfigs: map[string]string{},
	}
}

func (m *metaState) sortedTopics() []*topicMeta {
	names := make([]string, 0, len(m.topics))
	for n := range m.topics {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*topicMeta, len(names))
	for i, n := range names {
		out[i] = m.topics[n]
	}
	return out
}

// validTopicName follows Kafka's rules: 1..249 of [a-zA-Z0-9._-], not "." or "..".
func validTopicName(s string) bool {
	if len(s) == 0 || len(s) > topicNameBytesMax || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func appendCreateTopic(dst []byte, name string, partitions, rf int32) []byte {
	return appendCreateTopicConfigs(dst, name, partitions, rf, nil)
}

func appendCreateTopicConfigs(dst []byte, name string, partitions, rf int32, configs map[string]string) []byte {
	dst = appendString(dst, name)
	dst = binary.AppendUvarint(dst, uint64(partitions))
	dst = binary.AppendUvarint(dst, uint64(rf))
	if len(configs) == 0 {
		return dst // as entries written before topics had configs
	}
	return appendConfigs(dst, configs)
}

func appendLeader(dst []byte, group, leader, term uint64) []byte {
	dst = binary.AppendUvarint(dst, group)
	dst = binary.AppendUvarint(dst, leader)
	return binary.AppendUvarint(dst, term)
}

func appendRegister(dst []byte, id int32, host string, port int32) []byte {
	dst = binary.AppendVarint(dst, int64(id))
	dst = appendString(dst, host)
	return binary.AppendVarint(dst, int64(port))
}

// metaResult is what applying a metadata command tells its proposer.
type metaResult struct {
	code       int16
	msg        string // the error's message, if it has one
	producerID int64
	topic      *topicMeta
}

// metaEffects tells the node which partition groups appeared or went away.
type metaEffects struct {
	created []*topicMeta
	deleted []*topicMeta
	leaders []uint64 // groups whose leader record changed
}

// apply applies one metadata command. voters are the cluster's brokers (the
// metadata group's voters, sorted), used for replica placement. Applying never
// fails: a bad command yields an error code, the same on every replica.
func (m *metaState) apply(index uint64, h entryHeader, body []byte, voters []uint64, eff *metaEffects) metaResult {
	d := dec{b: body}
	switch h.cmd {
	case cmdCreateTopic:
		name := d.string()
		parts := int32(d.uvarint())
		rf := int32(d.uvarint())
		var configs map[string]string
		if len(d.b) > 0 {
			configs = d.configs()
		}
		if d.err != nil || !validTopicName(name) {
			return metaResult{code: kerr.InvalidTopicException.Code}
		}
		// Checked again here, so that every replica holds only configs
		// it can read (a proposal is checked before it is made).
		names := make([]string, 0, len(configs))
		for k := range configs {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			v := configs[k]
			if msg := checkTopicConfig(k, &v); msg != "" {
				return metaResult{code: kerr.InvalidConfig.Code, msg: msg}
			}
		}
		if _, ok := m.topics[name]; ok {
			return metaResult{code: kerr.TopicAlreadyExists.Code}
		}
		if parts < 1 || parts > topicPartitionsMax {
			return metaResult{code: kerr.InvalidPartitions.Code}
		}
		if rf < 1 || int(rf) > len(voters) || rf > replicationFactorMax {
			return metaResult{code: kerr.InvalidReplicationFactor.Code}
		}
		if len(m.topics) >= topicsPerClusterMax {
			return metaResult{code: kerr.PolicyViolation.Code}
		}
		if name == offsetsTopic && configs == nil {
			// As Kafka creates it: compacted, 100 MiB segments, batches
			// kept as the coordinator writes them.
			configs = map[string]string{"cleanup.policy": "compact", "compression.type": "producer", "segment.bytes": "104857600"}
		}
		t := &topicMeta{name: name, id: topicID(name, index), configs: configs}
		m.addPartitions(t, parts, rf, voters)
		m.topics[name] = t
		m.byID[t.id] = t
		eff.created = append(eff.created, t)
		return metaResult{topic: t}
	case cmdDeleteTopic:
		name := d.string()
		t, ok := m.topics[name]
		if d.err != nil || !ok {
			return metaResult{code: kerr.UnknownTopicOrPartition.Code}
		}
		delete(m.topics, name)
		delete(m.byID, t.id)
		for _, pm := range t.partitions {
			delete(m.leaders, pm.group)
		}
		eff.deleted = append(eff.deleted, t)
		return metaResult{topic: t}
	case cmdAlterConfigs:
		return m.applyAlterConfigs(&d)
	case cmdCreatePartitions:
		return m.applyCreatePartitions(&d, voters, eff)
	case cmdAllocProducer:
		id := m.nextProducerID
		m.nextProducerID++
		return metaResult{producerID: id}
	case cmdLeader:
		// One report or more (a node's reports of one Process travel in
		// one entry: maybeReport), each group, leader, term. All are read
		// before any applies, so a bad entry changes nothing.
		type report struct{ group, leader, term uint64 }
		var rs []report
		for len(d.b) > 0 || len(rs) == 0 {
			rs = append(rs, report{d.uvarint(), d.uvarint(), d.uvarint()})
			if d.err != nil {
				return metaResult{code: kerr.InvalidRequest.Code}
			}
		}
		for _, r := range rs {
			if r.term >= m.leaders[r.group].term && r.group < m.nextGroup {
				m.leaders[r.group] = leaderInfo{leader: r.leader, term: r.term}
				eff.leaders = append(eff.leaders, r.group)
			}
		}
		return metaResult{}
	case cmdFence:
		id := int32(d.varint())
		f := d.b
		if d.err != nil || len(f) != 1 {
			return metaResult{code: kerr.InvalidRequest.Code}
		}
		if f[0] == 1 {
			m.fenced[id] = true
		} else {
			delete(m.fenced, id)
		}
		return metaResult{}
	case cmdRegister:
		id := int32(d.varint())
		host := d.string()
		port := int32(d.varint())
		if d.err != nil || len(host) > brokerHostBytesMax {
			return metaResult{code: kerr.InvalidRequest.Code}
		}
		m.brokers[id] = brokerInfo{host: host, port: port}
		return metaResult{}
	}
	return metaResult{code: kerr.InvalidRequest.Code}
}

// addPartitions gives t partitions up to count, each a new raft group of rf
// replicas. Replicas are spread round-robin from a start that depends on the
// topic, so that partition 0 of every topic does not land on the same broker;
// partitions added later continue the same rotation.
func (m *metaState) addPartitions(t *topicMeta, count, rf int32, voters []uint64) {
	start := int(binary.BigEndian.Uint32(t.id[:4]) % uint32(len(voters)))
	for p := int32(len(t.partitions)); p < count; p++ {
		pm := partMeta{group: m.nextGroup}
		m.nextGroup++
		for r := int32(0); r < rf; r++ {
			pm.replicas = append(pm.replicas, voters[(start+int(p)+int(r))%len(voters)])
		}
		t.partitions = append(t.partitions, pm)
	}
}

// topicID derives a topic's UUID from its name and the raft index that created
// it: deterministic on every replica, and different for a topic re-created
// under the same name.
func topicID(name string, index uint64) [16]byte {
	h := sha256.New()
	h.Write([]byte(name))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], index)
	h.Write(b[:])
	var id [16]byte
	copy(id[:], h.Sum(nil))
	id[6] = id[6]&0x0f | 0x40 // a version-4-shaped UUID, never all zero
	id[8] = id[8]&0x3f | 0x80
	return id
}
