// Package host runs a node.Node for real: one event-loop goroutine owns the
// sans-IO core, TCP connections from Kafka clients feed it whole request
// frames, the OS clock ticks it, and the OS disk (through wal/osfs) holds its
// write-ahead log.
//
// The loop is what turns many producers into one fsync: it blocks for one
// input, drains whatever else is already queued, and only then calls
// Process, so every request that arrived meanwhile shares the same sync.
//
// What a client makes the host hold is bounded per connection (requests in
// flight, and bytes of requests and unwritten answers: Config.ConnHeldBytes)
// by not reading its socket past the bound, and the connections are bounded
// (Config.ConnectionsMax).
//
// Use it as cmd/node does:
//
//	h, err := host.Start(host.Config{Listen: "localhost:9092", DataDir: "data", Node: node.Config{ID: 1}})
//	...
//	<-h.Done()       // the loop died (disk failure): h.Err() says why
//	err = h.Close()  // or a clean shutdown
package host
