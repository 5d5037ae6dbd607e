// Package node is ketch's broker core: a sans-IO state machine that serves the
// Kafka protocol and replicates every partition with etcd raft.
//
// One caller drives a Node, like etcd raft's RawNode: it feeds inputs (Tick with
// the current time, a peer's raft message with Step, a client's request frame
// with HandleFrame, CloseConn) and then calls Process, which runs every raft
// group's Ready cycle with a single fsync of the shared write-ahead log (group
// commit) and returns what to send: framed Kafka responses per connection and
// raft messages per peer. The real host (node/host) and the simulator (sim) are
// two callers of the same functions.
//
// There is no goroutine, clock, randomness or OS call here; etcd raft's election
// jitter comes from crypto/rand.Reader, which the simulator replaces with a
// seeded stream.
//
// Layout: one raft group per partition plus group 0, the metadata group, which
// holds topics, partition placement, registered brokers and producer-id
// allocation. Kafka offsets are assigned when an entry is applied, identically
// on every replica; the raft log is the partition log (each produce entry holds
// one record batch, exactly as the producer sent it, and the base offset and
// leader epoch are stamped when it is served). The Kafka handlers live in one
// file per API (produce.go, fetch.go, ...), each opening with the versions it
// serves; versions.go is the single table ApiVersions advertises from.
package node
