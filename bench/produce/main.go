package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/node/host"
)

const (
	topic     = "bench"
	topic1000 = "bench1000"
)

// createTopic creates a topic of partitions partitions, replication factor
// 3, and waits until every partition accepts a write.
func createTopic(ctx context.Context, addrs []string, name string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 3
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if c := resp.Topics[0].ErrorCode; c != 0 {
		if err := kerr.ErrorForCode(c); err != kerr.TopicAlreadyExists {
			return err
		}
	}
	var recs []*kgo.Record
	for p := range partitions {
		recs = append(recs, &kgo.Record{Topic: name, Partition: p, Value: []byte("warm-up")})
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

func main() {
	recordsSmall := flag.Int("records-small", 4_000_000, "records to produce in the 100-byte runs")
	recordsLarge := flag.Int("records-large", 1_500_000, "records to produce in the 1 KiB runs")
	diskMiB := flag.Int("disk-mib", 256, "MiB written (in 1 MiB writes, then fsync) to measure the disk")
	dir := flag.String("dir", "", "directory for ketch's data and the disk test (default: a new temp dir)")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	targets := flag.String("targets", "ketch,ketch3,ketch3-1000p,kfake", "comma-separated targets to measure: ketch (one node), ketch3 (three nodes, replication factor 3), ketch3-1000p (the same three nodes, a topic of 1,000 partitions), kfake")
	randomValues := flag.Bool("random-values", true, "fill record values with random bytes, so franz-go's default compression cannot shrink batches and the disk sees every record byte (-random-values=false repeats a-z: batches compress 12-20x and the MB/s ratios count bytes the disk never sees)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the produce runs (the whole process: brokers and producer) to `file`")
	rounds := flag.Int("rounds", 1, "measure every target this many times per record size, the targets alternating round by round, and print each round's ketch3-1000p/ketch3 ratios and their median: on a shared machine the neighbours' load moves between two runs a minute apart, and alternating spreads it over both")
	flag.Parse()

	want := map[string]bool{}
	for _, t := range strings.Split(*targets, ",") {
		switch t = strings.TrimSpace(t); t {
		case "ketch", "ketch3", "ketch3-1000p", "kfake":
			want[t] = true
		case "":
		default:
			fmt.Fprintf(os.Stderr, "bench: unknown target %q (have ketch, ketch3, ketch3-1000p, kfake)\n", t)
			os.Exit(2)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *rounds < 1 {
		fmt.Fprintln(os.Stderr, "bench: -rounds must be at least 1")
		os.Exit(2)
	}
	if err := run(ctx, *dir, *diskMiB, *recordsSmall, *recordsLarge, want, *randomValues, *cpuProfile, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	target      string
	recordBytes int
	records     int
	elapsed     time.Duration
	p50, p99    time.Duration
	cpu         time.Duration // this process's CPU time (user and system) over the run: brokers and producer
}

// cpuPerRecord is the CPU the run took per record: on a shared machine it
// moves less with the neighbours than records/s does.
func (r result) cpuPerRecord() time.Duration { return r.cpu / time.Duration(r.records) }

// cpuTime is the CPU time this process has used so far, user and system,
// every thread counted.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r result) recordsPerSec() float64 { return float64(r.records) / r.elapsed.Seconds() }
func (r result) mbPerSec() float64 {
	return float64(r.records) * float64(r.recordBytes) / r.elapsed.Seconds() / 1e6
}

func run(ctx context.Context, dir string, diskMiB, recordsSmall, recordsLarge int, want map[string]bool, randomValues bool, cpuProfile string, rounds int) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "ketch-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	values := "a-z repeated (compressible)"
	if randomValues {
		values = "random (incompressible)"
	}
	fmt.Printf("ketch produce bench: GOMAXPROCS=%d, dir=%s, records: 100 B x %d, 1 KiB x %d, values %s\n",
		runtime.GOMAXPROCS(0), dir, recordsSmall, recordsLarge, values)

	diskMBps, err := diskBandwidth(filepath.Join(dir, "disk-test"), diskMiB)
	if err != nil {
		return fmt.Errorf("disk test: %w", err)
	}
	fmt.Printf("disk: %d MiB in 1 MiB writes + fsync: %.1f MB/s\n", diskMiB, diskMBps)

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	type target struct {
		name  string
		addrs []string
		err   func() error // a broker's failure during the run
		topic string       // default: topic (one partition, created by the warm-up)
	}
	var targets []target
	if want["ketch"] {
		h, err := host.Start(host.Config{
			Listen:  "127.0.0.1:0",
			DataDir: filepath.Join(dir, "ketch"),
			Node:    node.Config{ID: 1},
			Logger:  logger,
		})
		if err != nil {
			return fmt.Errorf("start ketch: %w", err)
		}
		defer h.Close()
		targets = append(targets, target{"ketch", []string{h.Addr()}, h.Err, topic})
	}
	if want["ketch3"] || want["ketch3-1000p"] {
		hs, err := startCluster(filepath.Join(dir, "ketch3"), 3, logger)
		if err != nil {
			return fmt.Errorf("start three-node ketch: %w", err)
		}
		defer closeCluster(hs)
		var addrs []string
		for _, h := range hs {
			addrs = append(addrs, h.Addr())
		}
		failed := func() error {
			for _, h := range hs {
				if err := h.Err(); err != nil {
					return err
				}
			}
			return nil
		}
		if want["ketch3"] {
			targets = append(targets, target{"ketch3", addrs, failed, topic})
		}
		if want["ketch3-1000p"] {
			// Issue 11: the same records spread over 1,000 partitions
			// (replication factor 3) by franz-go's default partitioner,
			// which moves to another partition after each batch.
			if err := createTopic(ctx, addrs, topic1000, 1000); err != nil {
				return fmt.Errorf("create %s: %w", topic1000, err)
			}
			targets = append(targets, target{"ketch3-1000p", addrs, failed, topic1000})
		}
	}
	if want["kfake"] {
		fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
		if err != nil {
			return fmt.Errorf("start kfake: %w", err)
		}
		defer fake.Close()
		targets = append(targets, target{"kfake", fake.ListenAddrs(), func() error { return nil }, topic})
	}

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	// results[target][bytes] is the first round's; every round's is in
	// runs[target][bytes], in round order.
	results := map[string]map[int]result{}
	runs := map[string]map[int][]result{}
	var order []result
	for _, size := range []struct{ bytes, records int }{{100, recordsSmall}, {1024, recordsLarge}} {
		for range rounds {
			for _, t := range targets {
				r, err := produce(ctx, t.name, t.addrs, t.topic, size.bytes, size.records, randomValues)
				if err != nil {
					return fmt.Errorf("%s %d B: %w", t.name, size.bytes, err)
				}
				fmt.Printf("  done: %s %d B in %.1fs\n", r.target, r.recordBytes, r.elapsed.Seconds())
				if results[t.name] == nil {
					results[t.name] = map[int]result{}
					runs[t.name] = map[int][]result{}
				}
				if _, ok := results[t.name][size.bytes]; !ok {
					results[t.name][size.bytes] = r
				}
				runs[t.name][size.bytes] = append(runs[t.name][size.bytes], r)
				order = append(order, r)
			}
		}
	}
	for _, t := range targets {
		if err := t.err(); err != nil {
			return fmt.Errorf("%s failed during the run: %w", t.name, err)
		}
	}

	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\trecord\trecords\tseconds\trecords/s\tMB/s\tp50 ack\tp99 ack\tCPU/record\t")
	for _, r := range order {
		fmt.Fprintf(tw, "%s\t%d B\t%d\t%.2f\t%.0f\t%.1f\t%v\t%v\t%v\t\n", r.target, r.recordBytes, r.records,
			r.elapsed.Seconds(), r.recordsPerSec(), r.mbPerSec(), r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond),
			r.cpuPerRecord().Round(10*time.Nanosecond))
	}
	tw.Flush()
	fmt.Println()
	// The goals (issues 2 and 4): one node at least kfake's records/s and
	// 0.8 of the disk; three nodes, which share this one disk, half of
	// kfake's records/s and 0.8 of a third of the disk.
	if a, b := runs["ketch3"], runs["ketch3-1000p"]; a != nil && b != nil && rounds > 1 {
		// Each round's two runs are a minute apart at most, the rounds'
		// ratios show how much of a ratio is the neighbours'.
		for _, bytes := range []int{100, 1024} {
			var byRate, byCPU []float64
			for i := range rounds {
				byRate = append(byRate, b[bytes][i].recordsPerSec()/a[bytes][i].recordsPerSec())
				byCPU = append(byCPU, a[bytes][i].cpuPerRecord().Seconds()/b[bytes][i].cpuPerRecord().Seconds())
			}
			fmt.Printf("ketch3-1000p/ketch3 records/s, %d B records, by round: %s, median %.2f\n", bytes, ratios(byRate), median(byRate))
			fmt.Printf("ketch3/ketch3-1000p CPU per record, %d B records, by round: %s, median %.2f\n", bytes, ratios(byCPU), median(byCPU))
		}
	}
	if a, b := results["ketch3"], results["ketch3-1000p"]; a != nil && b != nil {
		// Issue 11's goal: partitions cost (almost) nothing by themselves.
		// (With -rounds, these are the first round's.)
		fmt.Printf("ketch3-1000p/ketch3 records/s, 100 B records: %.2f (goal >= 0.8)\n", b[100].recordsPerSec()/a[100].recordsPerSec())
		fmt.Printf("ketch3-1000p/ketch3 records/s, 1024 B records: %.2f\n", b[1024].recordsPerSec()/a[1024].recordsPerSec())
		// The same ratio by CPU (the process's, brokers and producer, per
		// record): on a loaded machine records/s follows the neighbours.
		fmt.Printf("ketch3/ketch3-1000p CPU per record, 100 B records: %.2f, 1024 B records: %.2f\n",
			a[100].cpuPerRecord().Seconds()/b[100].cpuPerRecord().Seconds(), a[1024].cpuPerRecord().Seconds()/b[1024].cpuPerRecord().Seconds())
	}
	for _, name := range []string{"ketch", "ketch3"} {
		rs, ok := results[name]
		if !ok {
			continue
		}
		share, goalSmall := 1.0, 1.0
		if name == "ketch3" {
			share, goalSmall = 3, 0.5
		}
		if f, ok := results["kfake"]; ok {
			fmt.Printf("%s/kfake records/s, 100 B records: %.2f (goal >= %.1f)\n", name, rs[100].recordsPerSec()/f[100].recordsPerSec(), goalSmall)
			fmt.Printf("%s/kfake records/s, 1024 B records: %.2f\n", name, rs[1024].recordsPerSec()/f[1024].recordsPerSec())
		}
		if share == 1 {
			fmt.Printf("%s 1024 B MB/s / disk MB/s: %.2f (goal >= 0.8)\n", name, rs[1024].mbPerSec()/diskMBps)
		} else {
			fmt.Printf("%s 1024 B MB/s / (disk MB/s / %.0f): %.2f (goal >= 0.8)\n", name, share, rs[1024].mbPerSec()/(diskMBps/share))
		}
	}
	return nil
}

func ratios(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(s, " ")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// startCluster starts n in-process ketch nodes that form one cluster over
// loopback TCP, as n cmd/node processes with -peers would, each with its own
// data directory on the same disk (fsync on).
func startCluster(dir string, n int, logger *slog.Logger) ([]*host.Host, error) {
	// Peers must know every raft address up front: reserve free ports.
	peers := map[uint64]string{}
	for id := uint64(1); id <= uint64(n); id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		peers[id] = ln.Addr().String()
		ln.Close()
	}
	var hs []*host.Host
	for id := uint64(1); id <= uint64(n); id++ {
		h, err := host.Start(host.Config{
			Listen:  "127.0.0.1:0",
			DataDir: filepath.Join(dir, fmt.Sprintf("node%d", id)),
			Node:    node.Config{ID: id},
			Raft:    peers[id],
			Peers:   peers,
			Logger:  logger.With("node", id),
		})
		if err != nil {
			closeCluster(hs)
			return nil, fmt.Errorf("node %d: %w", id, err)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// closeCluster closes every node at once: one by one, each would first try
// to hand its leaderships to peers that are already gone.
func closeCluster(hs []*host.Host) {
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.Close()
		}()
	}
	wg.Wait()
}

// diskBandwidth writes mib MiB in 1 MiB writes to a new file, fsyncs it, and
// returns MB/s including the fsync: what a durable log can at best sustain.
func diskBandwidth(path string, mib int) (float64, error) {
	buf := make([]byte, 1<<20)
	if _, err := io.ReadFull(rand.Reader, buf); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	defer f.Close()
	start := time.Now()
	for range mib {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	return float64(mib) * float64(len(buf)) / elapsed.Seconds() / 1e6, nil
}

// produce sends records records of recordBytes bytes with a default-options
// franz-go producer, as fast as its buffer (MaxBufferedRecords) lets it, and
// measures each record's ack latency from the Produce call to its promise.
func produce(ctx context.Context, target string, addrs []string, topic string, recordBytes, records int, randomValues bool) (result, error) {
	// AllowAutoTopicCreation only lets the warm-up create the topic on
	// ketch (kfake's is seeded; on three nodes ketch's default replication
	// factor is 3); the produce path is franz-go's default.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		return result{}, err
	}
	defer cl.Close()
	// Warm up outside the timing: metadata, topic creation on ketch, the
	// idempotent producer id.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}

	// Every record carries the same value, so a random one is still
	// compressible across records once snappy's window spans two: give
	// each record its own slice of a random pool instead.
	value := make([]byte, recordBytes)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	var pool []byte
	if randomValues {
		pool = make([]byte, 64<<20)
		if _, err := io.ReadFull(rand.Reader, pool); err != nil {
			return result{}, err
		}
	}
	latency := make([]time.Duration, records) // each index written by one promise
	var (
		wg       sync.WaitGroup
		failed   atomic.Int64
		errMu    sync.Mutex
		firstErr error
	)
	start, cpu0 := time.Now(), cpuTime()
	for i := range records {
		wg.Add(1)
		t0 := time.Now()
		v := value
		if pool != nil {
			off := (i * recordBytes) % (len(pool) - recordBytes)
			v = pool[off : off+recordBytes]
		}
		cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			latency[i] = time.Since(t0)
			if err != nil && failed.Add(1) == 1 {
				errMu.Lock()
				firstErr = err
				errMu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	if n := failed.Load(); n > 0 {
		errMu.Lock()
		defer errMu.Unlock()
		return result{}, errors.Join(fmt.Errorf("%d of %d records failed", n, records), firstErr)
	}
	slices.Sort(latency)
	return result{
		target:      target,
		recordBytes: recordBytes,
		records:     records,
		elapsed:     elapsed,
		p50:         latency[len(latency)/2],
		p99:         latency[len(latency)*99/100],
		cpu:         cpu,
	}, nil
}
