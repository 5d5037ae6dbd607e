// Package osfs is the operating-system implementation of wal.FS, used by
// cmd/node and the real host. It is the only package under wal/ allowed to
// import "os": everything else reaches the disk through wal.FS so the simulator
// can substitute wal.MemFS.
//
// Usage:
//
//	log, err := wal.Open(osfs.New(), "./data/wal", wal.Options{})
package osfs
