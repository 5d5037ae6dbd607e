package node

// Metadata (key 3), v0–v12 (kafka-python probes the broker with v0, where an
// empty topic list means every topic). Answered from this node's view: topics and
// placement from the metadata group, leaders and epochs from the partition
// groups this node belongs to. An unknown topic is created when
// auto.create.topics.enable (Config.AutoCreateTopics) is on and the request
// allows it (always before v4), answering LEADER_NOT_AVAILABLE until it exists,
// as Kafka does; clients retry.

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/tracker"
)

const clusterID = "ketch"

func (n *Node) handleMetadata(req *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = n.brokers()
	cid := clusterID
	resp.ClusterID = &cid
	resp.ControllerID = -1
	if mg := n.groups[metaGroup]; mg.lead != 0 {
		resp.ControllerID = int32(mg.lead)
	}
	resp.AuthorizedOperations = -2147483648

	if req.Topics == nil || req.Version == 0 && len(req.Topics) == 0 {
		for _, t := range n.meta.sortedTopics() {
			resp.Topics = append(resp.Topics, n.topicMetadata(t))
		}
		return resp
	}
	autoCreate := *n.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	// A topic named twice is answered once, as Kafka does (it takes the
	// request's topics as a set): naming one topic a million times costs one
	// topic's answer.
	seenName := make(map[string]bool, len(req.Topics))
	seenID := map[[16]byte]bool{}
	for _, rt := range req.Topics {
		if rt.Topic != nil {
			if seenName[*rt.Topic] {
				continue
			}
			seenName[*rt.Topic] = true
		} else {
			if seenID[rt.TopicID] {
				continue
			}
			seenID[rt.TopicID] = true
		}
		var t *topicMeta
		if rt.Topic != nil {
			t = n.meta.topics[*rt.Topic]
		} else {
			t = n.meta.byID[rt.TopicID]
		}
		if t != nil {
			resp.Topics = append(resp.Topics, n.topicMetadata(t))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = rt.Topic
		mt.TopicID = rt.TopicID
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if rt.Topic == nil {
			mt.ErrorCode = kerr.UnknownTopicID.Code // as Kafka answers an id it does not know
		}
		if rt.Topic != nil && autoCreate {
			switch {
			case !validTopicName(*rt.Topic):
				mt.ErrorCode = kerr.InvalidTopicException.Code
			default:
				mt.ErrorCode = kerr.LeaderNotAvailable.Code
				n.autoCreate(*rt.Topic)
			}
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

// autoCreate proposes a topic with the defaults, once at a time (a follower
// forwards the proposal to the metadata leader).
func (n *Node) autoCreate(name string) {
	if name == offsetsTopic {
		n.ensureOffsetsTopic()
		return
	}
	n.createTopicAsync(name, n.cfg.DefaultPartitions)
}

// createTopicAsync proposes a topic's creation on the node's own behalf
// (once at a time per name), answering nobody.
func (n *Node) createTopicAsync(name string, partitions int32) {
	mg := n.groups[metaGroup]
	if mg.lead == 0 || n.creating[name] {
		return
	}
	n.creating[name] = true
	// The creation is the node's, not the asking connection's: it must
	// run its release even if that connection closes.
	handling := n.handling
	n.handling = nil
	defer func() { n.handling = handling }()
	body := appendCreateTopic(nil, name, partitions, n.defaultReplicationFactor())
	release := func() { delete(n.creating, name) }
	n.propose(mg, cmdCreateTopic, body, n.now.Add(30*time.Second), func(any) { release() }, func(int16) { release() })
}

func (n *Node) hosts(group uint64) bool {
	_, ok := n.groups[group]
	return ok
}

func (n *Node) defaultReplicationFactor() int32 {
	return int32(min(3, len(n.voters)))
}

func (n *Node) brokers() []kmsg.MetadataResponseBroker {
	ids := make([]int32, 0, len(n.meta.brokers)+1)
	for id := range n.meta.brokers {
		ids = append(ids, id)
	}
	if _, ok := n.meta.brokers[int32(n.cfg.ID)]; !ok {
		ids = append(ids, int32(n.cfg.ID)) // not registered yet: still reachable here
	}
	slices.Sort(ids)
	out := make([]kmsg.MetadataResponseBroker, 0, len(ids))
	for _, id := range ids {
		if n.meta.fenced[id] && id != int32(n.cfg.ID) {
			continue // its session ended (broker_sessions.go)
		}
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID = id
		info, ok := n.meta.brokers[id]
		if !ok || id == int32(n.cfg.ID) {
			info = brokerInfo{host: n.cfg.AdvertisedHost, port: n.cfg.AdvertisedPort}
		}
		b.Host, b.Port = info.host, info.port
		out = append(out, b)
	}
	return out
}

func (n *Node) topicMetadata(t *topicMeta) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.name
	mt.Topic = &name
	mt.TopicID = t.id
	mt.IsInternal = isInternalTopic(name)
	mt.AuthorizedOperations = -2147483648
	for i, pm := range t.partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader = -1
		mp.LeaderEpoch = -1
		for _, r := range pm.replicas {
			mp.Replicas = append(mp.Replicas, int32(r))
		}
		if g, ok := n.groups[pm.group]; ok && g.lead != 0 {
			mp.Leader = int32(g.lead)
			mp.LeaderEpoch = int32(n.epochOf(g))
			mp.ISR = n.inSync(g)
		} else if li, ok := n.meta.leaders[pm.group]; ok && !n.hosts(pm.group) {
			// Not a replica here: the last leader the group reported. It may
			// be stale; a client sent to a deposed leader is told
			// NOT_LEADER_OR_FOLLOWER and asks again.
			mp.Leader = int32(li.leader)
			mp.LeaderEpoch = int32(li.term)
			mp.ISR = mp.Replicas
		} else {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.ISR = mp.Replicas
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// inSync lists the replicas caught up with the commit index, as the leader
// sees them; elsewhere the replica list is the best this node knows.
func (n *Node) inSync(g *group) []int32 {
	if !g.leader {
		out := make([]int32, len(g.voters))
		for i, v := range g.voters {
			out[i] = int32(v)
		}
		return out
	}
	// Without Status, which copies every progress: Metadata asks this for
	// each partition it lists.
	commit := g.rn.BasicStatus().HardState.GetCommit()
	caught := make([]uint64, 0, len(g.voters))
	g.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if pr.Match >= commit {
			caught = append(caught, id)
		}
	})
	var out []int32
	for _, v := range g.voters {
		if slices.Contains(caught, v) {
			out = append(out, int32(v))
		}
	}
	return out
}
