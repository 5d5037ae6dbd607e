// Package sim is ketch's deterministic simulator: one goroutine, a virtual
// clock and an event queue, in which the real node code (the same node, wal
// and wire packages cmd/node runs) is driven through elections, failovers,
// partitions, crashes, disk faults and clock trouble while simulated Kafka
// clients produce and fetch and record what they saw.
//
// Everything random comes from one seed, split into named streams (network,
// disk, workload, faults, and one per node, which also feeds etcd raft's
// election jitter through crypto/rand.Reader while that node runs). The same
// seed gives the same events, the same trace hash and the same history; a test
// proves it. Run builds the world from a Config (scenarios/ has the named
// ones), runs it, and returns the history, the invariant violations found on
// the way, and the checkers' verdict.
//
// Because crypto/rand.Reader is a process-wide variable, at most one
// simulation may run at a time in a process: tests in packages that call Run
// must not use t.Parallel.
package sim
