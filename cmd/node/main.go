package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with -pprof
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/node/host"
)

func main() {
	id := flag.Uint64("id", 1, "node id")
	listen := flag.String("listen", "localhost:9092", "Kafka listener `HOST:PORT`")
	advertise := flag.String("advertise", "", "`HOST:PORT` Metadata tells clients to dial (default: the listen address)")
	data := flag.String("data", "./data", "data `DIR` (the write-ahead log is DIR/wal)")
	raftAddr := flag.String("raft", "", "peer `HOST:PORT` other nodes dial (default: this node's entry in -peers)")
	peersFlag := flag.String("peers", "", "every voter's peer address, this node's included: `1=HOST:PORT,2=HOST:PORT,...` (empty: a one-node cluster)")
	maxConns := flag.Int("max-connections", 0, "client connections served at once; one past it is closed (default 4096)")
	verbose := flag.Bool("v", false, "debug logs")
	pprofAddr := flag.String("pprof", "", "serve Go's profiles (net/http/pprof) on `HOST:PORT` (default: none)")
	offsetsParts := flag.Int("offsets-partitions", 0, "partitions of __consumer_offsets when first created (offsets.topic.num.partitions; default 8)")
	offsetsRetention := flag.Duration("offsets-retention", 0, "how long an empty group's committed offsets are kept (offsets.retention.minutes; default 168h)")
	checkpointBytes := flag.Int("checkpoint-bytes", 0, "bytes of entries a partition applies between checkpoints of its state, from which a restart resumes (default 64 MiB)")
	producerExpiration := flag.Duration("producer-id-expiration", 0, "how long a partition keeps an idempotent producer's state after its last batch (producer.id.expiration.ms; default 24h)")
	cgSession := flag.Duration("group-consumer-session-timeout", 0, "session of a KIP-848 consumer group member (group.consumer.session.timeout.ms; default 45s)")
	retentionCheck := flag.Duration("retention-check-interval", 0, "how often partition leaders look for records past retention.ms or retention.bytes (log.retention.check.interval.ms; default 5m)")
	rebalanceDelay := flag.Duration("group-initial-rebalance-delay", 0, "how long an empty group's first join waits for more members (group.initial.rebalance.delay.ms; default 3s, negative for none)")
	brokerConfigs := map[string]string{}
	flag.Func("config", "a broker config topics default to, Kafka's `NAME=VALUE` (log.retention.ms, message.max.bytes, log.message.timestamp.type, ...; repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("%q: want NAME=VALUE", s)
		}
		brokerConfigs[strings.TrimSpace(k)] = strings.TrimSpace(v)
		return nil
	})
	flag.Func("config-file", "a server.properties-style `FILE` of broker configs (NAME=VALUE lines, # comments); -config wins over it", func(path string) error {
		return readConfigFile(path, brokerConfigs)
	})
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "node: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}

	peers, err := parsePeers(*peersFlag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "node: -peers: %v\n", err)
		os.Exit(2)
	}
	if len(peers) > 0 {
		if _, ok := peers[*id]; !ok {
			fmt.Fprintf(os.Stderr, "node: -peers does not list this node's id %d\n", *id)
			os.Exit(2)
		}
	} else if *raftAddr != "" {
		fmt.Fprintln(os.Stderr, "node: -raft needs -peers")
		os.Exit(2)
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *pprofAddr != "" {
		go func() {
			// Profiles only: http.DefaultServeMux has nothing else.
			if err := http.ListenAndServe(*pprofAddr, nil); err != nil {
				log.Error("pprof listener", "err", err)
			}
		}()
	}

	// Catch signals before starting, so one that arrives while the WAL is
	// being recovered still ends in a clean shutdown.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	h, err := host.Start(host.Config{
		Listen:    *listen,
		Advertise: *advertise,
		DataDir:   *data,
		Node: node.Config{ID: *id, Bug: chaosBug(),
			OffsetsPartitions: int32(*offsetsParts), GroupInitialRebalanceDelay: *rebalanceDelay, OffsetsRetention: *offsetsRetention,
			ProducerIDExpiration: *producerExpiration, CheckpointBytes: *checkpointBytes,
			ConsumerGroupSessionTimeout: *cgSession, BrokerConfigs: brokerConfigs, RetentionCheckInterval: *retentionCheck},
		Logger: log,
		Raft:   *raftAddr,
		Peers:  peers,

		ConnectionsMax: *maxConns,
	})
	if err != nil {
		log.Error("start failed", "err", err)
		os.Exit(1)
	}

	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
		if err := h.Close(); err != nil {
			log.Error("shutdown failed", "err", err)
			os.Exit(1)
		}
	case <-h.Done():
		// The loop died (the disk failed): whatever it acknowledged is
		// durable, but it must not carry on.
		log.Error("node failed", "err", h.Err())
		os.Exit(1)
	}
}

// parsePeers reads "1=host:port,2=host:port".
func parsePeers(s string) (map[uint64]string, error) {
	out := map[uint64]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		idStr, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("%q: want ID=HOST:PORT", part)
		}
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%q: the id must be a number above 0", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%q: %v", part, err)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("node %d listed twice", id)
		}
		out[id] = addr
	}
	return out, nil
}

// readConfigFile reads NAME=VALUE lines (blank lines and # comments
// skipped) into m, leaving names m already has: a -config flag given before
// the file still wins.
func readConfigFile(path string, m map[string]string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "!") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("%s:%d: want NAME=VALUE", path, i+1)
		}
		if _, set := m[strings.TrimSpace(k)]; !set {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return nil
}
