package wal

import "io"

// FS is the disk boundary of the log. Names are slash-separated paths. The log
// only ever touches the disk through it, so the simulator can swap in a MemFS
// that crashes and fails on command, and cmd/node the OS (wal/osfs).
type FS interface {
	Create(name string) (File, error) // create or truncate, read-write
	Open(name string) (File, error)   // existing file, read-write; writes append at the end
	Remove(name string) error
	Rename(oldname, newname string) error
	List(dir string) ([]string, error) // base names, sorted
	MkdirAll(dir string) error
	SyncDir(dir string) error // makes creates/renames/removes in dir durable
}

// File is one open file. Writes always append: the log never overwrites, so
// a torn write can only ever damage the tail.
type File interface {
	io.ReaderAt
	Write(p []byte) (int, error) // appends at the end of the file
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}
