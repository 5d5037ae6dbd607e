// Package wal is ketch's write-ahead log and raft storage: one log per node,
// shared by every raft group on it (the metadata group and each partition's
// group), written through the small FS interface so the same code runs on the
// OS disk (wal/osfs) and on the simulator's MemFS.
//
// The raft log is the partition log: a partition's committed entries are its
// record batches, read back from disk by index. Memory holds only a position
// index per group and a bounded cache of each group's newest entries.
//
// Use it the way etcd raft's RawNode contract asks, once per event-loop iteration:
//
//	log, err := wal.Open(fs, dir, wal.Options{})
//	st := log.Storage(group)            // a raft.Storage; pass it to raft.Config
//	...
//	st.Save(rd.HardState, rd.Entries, rd.Snapshot) // for every group's Ready
//	err = log.Sync()                    // one fsync makes all of them durable
//	// only now send rd.Messages, then apply and Advance
//
// Any error from Sync (or a write inside Save) poisons the Log; the node must
// stop and recover by reopening. Snapshots are taken with Storage.CreateSnapshot
// followed by Storage.Compact; segments holding only compacted entries are then
// deleted by a later Sync.
//
// On disk: segment files %016x.wal, each a sequence of records framed as
// length, CRC-32C of the length, CRC-32C of the body, then kind, group and
// payload. Each segment started by a roll opens with a checkpoint of every
// group (snapshot, compaction point, hard state), so deleting old segments
// never loses state. Open truncates a torn tail of the last segment and
// refuses damage anywhere else with an error wrapping ErrCorrupt.
//
// MemFS models what a crash keeps (synced bytes, a chosen share of unsynced
// ones, and only directory entries made durable by SyncDir) and can fail any
// mutating operation, for the simulator and the tests.
package wal
