// Command chaos runs the chaos harness (package chaos) once: three real
// cmd/node processes on loopback, franz-go producers and consumers, a seeded
// schedule of SIGKILLs, SIGTERMs, SIGSTOPs and cut peer links, then the
// checker's verdict on the history.
//
//	go run ./cmd/chaos -duration 2m -seed 7
//	go run ./cmd/chaos -duration 1m -bug ack-before-commit
//
// Exit status: 0 the history checked out, 1 it did not (the reasons, the node
// logs and the visualisation are printed), 2 the run could not be set up.
package main
