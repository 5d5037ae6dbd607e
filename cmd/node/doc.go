// Command node runs one ketch broker for real: a Kafka listener over TCP, the
// OS clock, and its write-ahead log on disk. With no flags it is a one-node
// cluster on localhost:9092 keeping its data in ./data.
package main
