// Command produce measures ketch's single-node produce path against the two
// yardsticks that matter: the disk it syncs to, and franz-go's in-memory fake
// broker (kfake), which does no I/O at all.
//
// In one run it measures the disk's durable write bandwidth (like
// `dd bs=1M conv=fdatasync`), then for 100-byte and 1 KiB records produces N
// records with a default-options franz-go producer (idempotent, acks=all) to
// an in-process ketch node (fsync on) and to kfake, and prints records/s,
// MB/s and ack latency percentiles with the ratios between them. It reports;
// it does not assert.
//
// The ketch3 row is a three-node cluster in this process: three hosts, each
// with its own data directory on the same disk (fsync on), talking raft over
// loopback TCP as cmd/node -peers does; the topic gets replication factor 3,
// and the producer is the same default one (acks=all). Its goals are half of
// kfake's records/s and 0.8 of a third of the disk (three logs share it).
//
// -targets picks the rows (ketch, ketch3, ketch3-1000p, kfake), -cpuprofile
// profiles the produce runs, and -random-values makes record values
// incompressible: by default they repeat a-z, so franz-go's snappy shrinks
// batches 12-20x and the MB/s-vs-disk ratio counts record bytes the disk
// never sees. -rounds N measures every target N times per record size, the
// targets alternating, and prints each round's ketch3-1000p/ketch3 ratios
// and their median: on a shared machine one run's ratio follows what the
// neighbours did in its two halves as much as the code.
//
// The defaults (shown) make each measurement take seconds on a 2-core VM.
// Both brokers run in this process, sharing its CPUs with the producer, and
// kfake keeps every record in memory (about 1.5 GB for the 1 KiB run):
//
//	go run ./bench/produce -records-small 4000000 -records-large 1500000 -disk-mib 256
package main
