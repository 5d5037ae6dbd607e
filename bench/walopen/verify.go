package main

import "github.com/ketch-dev/ketch/wal"

// setVerify is in its own file so that a build against a tree whose
// wal.Options has no Verify (before indexes) replaces just this file.
func setVerify(opts *wal.Options) { opts.Verify = true }
