package node

import (
	"log/slog"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/ketch-dev/ketch/wal"
)

// Config describes one node. Every field has a usable zero value except ID and Log.
type Config struct {
	ID uint64
	// Peers are the voters of the metadata group: every broker of the cluster, this
	// node included. Empty means a one-node cluster {ID}.
	Peers []uint64
	// AdvertisedHost and AdvertisedPort are what Metadata tells clients to dial for
	// this node.
	AdvertisedHost string
	AdvertisedPort int32
	// Log is this node's write-ahead log (shared by every raft group).
	Log *wal.Log
	// Incarnation tells this run of the node from earlier runs on the same
	// log: it must differ each time the node starts (the host uses the
	// start time; the simulator a seeded draw). It keeps an entry proposed
	// before a restart from answering a request made after it.
	Incarnation uint64

	TickInterval     time.Duration // raft tick; default 100ms
	ElectionTicks    int           // default 10
	HeartbeatTicks   int           // default 3
	MessageMaxBytes  int           // largest record batch accepted; default 1048588 (Kafka's message.max.bytes)
	FrameBytesMax    int           // largest request frame; default wire.FrameBytesMaxDefault
	AutoCreateTopics *bool         // default true (auto.create.topics.enable)
	// MetaSnapshotEntries is how many entries of the metadata group, and of
	// each __consumer_offsets partition, apply between snapshots (which
	// compact their logs); default 4096.
	MetaSnapshotEntries int
	// IndexTailBatches and IndexIntervalBytes shape each partition's offset
	// index (offset_index.go): how many of the newest batches it holds
	// exactly (default 128), and how many bytes of log one sparse point
	// covers below them (default 4096, Kafka's log.index.interval.bytes).
	IndexTailBatches   int
	IndexIntervalBytes int
	// CheckpointBytes is how many bytes of entries a partition applies
	// between two checkpoints of its applied state (checkpoint.go; at least
	// twice the last checkpoint's size, so writing them costs at most half
	// the data). A restart replays only what followed the last one. Default
	// 64 MiB.
	CheckpointBytes   int
	DefaultPartitions int32 // num.partitions; default 1
	// BrokerConfigs are this broker's static configs that topics see, by
	// their Kafka broker names (log.retention.ms, message.max.bytes,
	// log.message.timestamp.type ...; node/configs.go lists them): the
	// default of each topic config no topic or cluster-wide dynamic config
	// sets. DescribeConfigs reports them as STATIC_BROKER_CONFIG. New
	// refuses an unknown name or a bad value.
	BrokerConfigs map[string]string

	// OffsetsPartitions is how many partitions __consumer_offsets gets
	// when first used (offsets.topic.num.partitions). Default 8, not
	// Kafka's 50: each partition is a raft group with its own heartbeats,
	// and 8 spread coordinators over up to 8 brokers.
	OffsetsPartitions int32
	// GroupInitialRebalanceDelay is how long an empty group's first join
	// waits for more members (group.initial.rebalance.delay.ms; default
	// 3s). Zero means the default; negative means none.
	GroupInitialRebalanceDelay time.Duration
	// GroupMinSessionTimeout and GroupMaxSessionTimeout bound the session
	// timeouts members may ask for (group.min/max.session.timeout.ms;
	// defaults 6s and 30 minutes).
	GroupMinSessionTimeout, GroupMaxSessionTimeout time.Duration
	// ConsumerGroupSessionTimeout is the session of a KIP-848 member
	// (group.consumer.session.timeout.ms; default 45s): the broker sets it,
	// not the client.
	ConsumerGroupSessionTimeout time.Duration
	// ConsumerGroupHeartbeatInterval is the interval a KIP-848 member is
	// told to heartbeat at (group.consumer.heartbeat.interval.ms; default
	// 5s), which must stay well below the session.
	ConsumerGroupHeartbeatInterval time.Duration
	// OffsetsRetention is how long the committed offsets of a group
	// without members are kept (offsets.retention.minutes; default 7 days).
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is how often a coordinator looks for
	// expired offsets (offsets.retention.check.interval.ms; default 10
	// minutes).
	OffsetsRetentionCheckInterval time.Duration
	// RetentionCheckInterval is how often partition leaders look for
	// batches past their topic's retention.ms or retention.bytes
	// (log.retention.check.interval.ms; default 5 minutes).
	RetentionCheckInterval time.Duration
	// CleanerInterval is how often partition leaders look for compacted
	// topics' logs worth cleaning (log.cleaner.backoff.ms; default 15 s).
	CleanerInterval time.Duration
	// ProducerIDExpiration is how long a partition keeps an idempotent
	// producer's state after its last batch's timestamp
	// (producer.id.expiration.ms; default 1 day); checked every
	// ProducerIDExpirationCheckInterval (default 10 minutes).
	ProducerIDExpiration              time.Duration
	ProducerIDExpirationCheckInterval time.Duration
	Logger                            *slog.Logger // default: discard

	// FetchWaitsMax bounds the fetches the node holds, parked for MinBytes or
	// waiting for their ReadIndex barrier; default 16,384. Past it a fetch is
	// not parked (it is answered as soon as its barrier completes), and past
	// twice it a fetch is answered NOT_LEADER_OR_FOLLOWER at once. The
	// simulator sets a small one so that runs reach the overload path.
	FetchWaitsMax int
	// Recover lists groups this node must rejoin as a recovering replica, with
	// each group's term floor: the highest term any peer knows for it. The
	// operator sets it when starting a node whose log was lost or wiped (see
	// ARCHITECTURE.md, "Repairing a damaged node"): such a node may have voted
	// or acknowledged entries it no longer remembers. A recovering group grants
	// no votes or pre-votes, never campaigns, ignores messages of terms below
	// its floor and serves nothing; it accepts appends, and is repaired once it
	// has applied an entry of a term above the floor. Groups not listed, or
	// created later, start as usual.
	Recover map[uint64]uint64

	// Observer, if set, hears every applied entry (see Observer).
	Observer Observer
	// Bug plants one of Bugs() in this node. For the simulator and the chaos
	// build only: it makes the broker unsafe on purpose.
	Bug string
}

// ConnID names one client connection; the caller allocates them.
type ConnID uint64

// PeerMessage is what one node sends another: a raft message of one group,
// or (Msg nil) a metadata proposal forwarded to the metadata group's leader,
// since raft's own proposal forwarding is off, or (Alive set) the node-level
// liveness heartbeat every node sends each peer once per raft tick
// (quiesce.go).
type PeerMessage struct {
	Group   uint64
	Msg     *raftpb.Message
	To      uint64 // the destination node (for a raft message, Msg.To)
	Forward []byte // a forwarded metadata proposal
	// Quiesce marks a leader's MsgHeartbeat that asks the follower to stop
	// ticking the group (quiesce.go); a transport must carry it with Msg.
	Quiesce bool
	Alive   *Alive
}

// Alive is the node-level liveness heartbeat: who sends it, and in which
// incarnation (a new one means the peer restarted and leads nothing).
type Alive struct {
	From, Incarnation uint64
}

// Response is bytes to write to a client connection, in order. Close asks the
// caller to close the connection after writing Data (which may be empty).
// Answers is how many requests Data answers: one Process call can complete
// several of a connection's requests, and their answers leave as one
// Response. A caller that bounds a connection's requests in flight must
// release Answers of them, not one per Response. Answers counts acks=0
// produces too: they have no bytes, and are done once their batches are
// handled, so a Response may carry Answers with empty Data.
type Response struct {
	Conn    ConnID
	Data    []byte
	Close   bool
	Answers int
}

// Output is everything a Process call asks the caller to do. Messages may be
// sent only after Process returned (their entries are already durable).
type Output struct {
	Messages  []PeerMessage
	Responses []Response
}
