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

	TickInterval      time.Duration // raft tick; default 100ms
	ElectionTicks     int           // default 10
	HeartbeatTicks    int           // default 1
	MessageMaxBytes   int           // largest record batch accepted; default 1048588 (Kafka's message.max.bytes)
	FrameBytesMax     int           // largest request frame; default wire.FrameBytesMaxDefault
	AutoCreateTopics  *bool         // default true (auto.create.topics.enable)
	DefaultPartitions int32         // num.partitions; default 1
	Logger            *slog.Logger  // default: discard

	// Observer, if set, hears every applied entry (see Observer).
	Observer Observer
	// Bug plants one of Bugs() in this node. For the simulator and the chaos
	// build only: it makes the broker unsafe on purpose.
	Bug string
}

// ConnID names one client connection; the caller allocates them.
type ConnID uint64

// PeerMessage is a raft message of one group.
type PeerMessage struct {
	Group uint64
	Msg   *raftpb.Message
}

// Response is bytes to write to a client connection, in order. Close asks the
// caller to close the connection after writing Data (which may be empty).
type Response struct {
	Conn  ConnID
	Data  []byte
	Close bool
}

// Output is everything a Process call asks the caller to do. Messages may be
// sent only after Process returned (their entries are already durable).
type Output struct {
	Messages  []PeerMessage
	Responses []Response
}
