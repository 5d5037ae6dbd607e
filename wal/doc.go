// Package wal is ketch's write-ahead log and raft storage: one log per node,
// shared by every raft group on it (the metadata group and each partition's
// group), written through the small FS interface so the same code runs on the
// OS disk (wal/osfs) and on the simulator's MemFS.
//
// The raft log is the partition log: a partition's committed entries are its
// record batches, read back from disk by index. Memory holds only a position
// index per group (16 bytes an entry, entryloc.go, with the terms as runs) and
// a bounded cache of each group's newest entries.
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
// Any error from Sync (or a write inside Save), and any failed read of an
// entry, poisons the Log; the node must stop and recover by reopening.
// Snapshots are taken with Storage.CreateSnapshot followed by Storage.Compact;
// segments holding only compacted entries are then deleted by a later Sync,
// oldest first. So that a few idle or small groups do not pin the oldest
// segment (and every later one) forever, a roll may carry their whole live
// logs in the new segment's head (cleaner.go: entries flagged as moved,
// which truncate nothing at replay); a group retaining more than
// cleanGroupBytesMax still pins its segments, as it should: its data is kept.
//
// On disk: segment files %016x.wal, each a sequence of records framed as
// length, CRC-32C of the length, CRC-32C of the body (seeded with the record's
// segment and offset, so a misdirected write fails where it lands), the offset
// at which the record's sync batch began, then kind, group and payload. Each
// segment started by a roll opens with a checkpoint of every group (snapshot,
// compaction point, hard state), so deleting old segments never loses state.
//
// # Sealed segments and their indexes
//
// Every segment but the last is sealed: synced before the roll that followed
// it, and never written again. Once the next segment's head checkpoint is
// durable, the log writes and syncs the sealed segment's index, %016x.idx
// (index.go): what replay takes from each record, without the entries' data.
// Open applies the index instead of reading the segment, so restart time
// grows with the number of entries kept, not with their bytes. A missing,
// damaged or mismatched index is never trusted and never fails Open: that
// segment is replayed (and its index written again). The last segment is
// always replayed, under the rules below.
//
// So a sealed segment's data is checked when it is read, not at Open, as
// Kafka checks only the segments after its recovery point: every entry read
// back is CRC-checked against its segment and offset, and a failed check (or
// a read error) fails the Log with an error naming the file and offset, so
// the node stops and the entry is never served. Open with Options.Verify
// replays every segment, ignoring the indexes, and then refuses the damage
// as below: the check to run before restarting a node that stopped so.
// Damage in a sealed segment's records that are never read again (compacted
// entries, hard states and compaction points superseded by the next head
// checkpoint) goes unnoticed and does no harm.
//
// # Torn tail or corruption
//
// Open must cut a torn write off (nothing in it was acknowledged) and must
// never cut synced data (it was). The rule rests on one fact: the log has one
// fsync in flight at a time and writes nothing while it waits, so the bytes a
// crash can tear are only those written since the last completed fsync, the
// last batch, and they lie in the last segment (a roll happens after a
// completed fsync). Any subset of that batch's sectors may survive, so a hole
// can be followed by valid records of the same batch. Replay stops at the
// first damaged record, at offset D, and:
//
//   - in a segment that is not the last (replayed for want of an index, or
//     with Verify), the damage is corruption;
//   - a valid record after D whose batch began after D proves the bytes at D
//     were synced (that batch was written after their fsync completed):
//     corruption;
//   - otherwise it is a tear only if it looks like one: the record runs past
//     the end of the file, or a lost sector shows, zeroes from D to the end of
//     its sector or a whole zero 4 KiB sector in the damaged span (an
//     unwritten sector reads as zeroes). Bit rot does not zero a sector, so a
//     flipped bit even in the last batch is refused.
//
// A tear is truncated at D; corruption makes Open fail with an error wrapping
// ErrCorrupt that names the file and offset (a latent sector error fails it
// with the read error, naming both too). Open never truncates synced data.
// Known limit: a misdirected write of the very last batch before a crash,
// with nothing synced after it, leaves a zero hole at the tail that is
// indistinguishable from a tear (TigerBeetle keeps redundant headers for
// this); it needs a fault and a crash before the next fsync.
//
// MemFS models what a crash keeps (synced bytes, any subset of the unsynced
// sectors, only directory entries made durable by SyncDir), fsyncs that take
// time (SetDeferSync/CompleteSync), platter faults (bit flips, bad sectors,
// misdirected writes, fsync EIO dropping dirty pages) and can fail any
// mutating operation, for the simulator and the tests.
package wal
