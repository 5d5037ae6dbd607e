package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ketch-dev/ketch/node"
	"github.com/ketch-dev/ketch/node/host"
)

const topic = "bench"

func main() {
	recordsSmall := flag.Int("records-small", 4_000_000, "records to produce in the 100-byte runs")
	recordsLarge := flag.Int("records-large", 1_500_000, "records to produce in the 1 KiB runs")
	diskMiB := flag.Int("disk-mib", 256, "MiB written (in 1 MiB writes, then fsync) to measure the disk")
	dir := flag.String("dir", "", "directory for ketch's data and the disk test (default: a new temp dir)")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *dir, *diskMiB, *recordsSmall, *recordsLarge); err != nil {
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
}

func (r result) recordsPerSec() float64 { return float64(r.records) / r.elapsed.Seconds() }
func (r result) mbPerSec() float64 {
	return float64(r.records) * float64(r.recordBytes) / r.elapsed.Seconds() / 1e6
}

func run(ctx context.Context, dir string, diskMiB, recordsSmall, recordsLarge int) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "ketch-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	fmt.Printf("ketch produce bench: GOMAXPROCS=%d, dir=%s, records: 100 B x %d, 1 KiB x %d\n",
		runtime.GOMAXPROCS(0), dir, recordsSmall, recordsLarge)

	diskMBps, err := diskBandwidth(filepath.Join(dir, "disk-test"), diskMiB)
	if err != nil {
		return fmt.Errorf("disk test: %w", err)
	}
	fmt.Printf("disk: %d MiB in 1 MiB writes + fsync: %.1f MB/s\n", diskMiB, diskMBps)

	h, err := host.Start(host.Config{
		Listen:  "127.0.0.1:0",
		DataDir: filepath.Join(dir, "ketch"),
		Node:    node.Config{ID: 1},
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fmt.Errorf("start ketch: %w", err)
	}
	defer h.Close()
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		return fmt.Errorf("start kfake: %w", err)
	}
	defer fake.Close()

	var results []result
	for _, size := range []struct{ bytes, records int }{{100, recordsSmall}, {1024, recordsLarge}} {
		for _, target := range []struct{ name, addr string }{{"ketch", h.Addr()}, {"kfake", fake.ListenAddrs()[0]}} {
			r, err := produce(ctx, target.name, target.addr, size.bytes, size.records)
			if err != nil {
				return fmt.Errorf("%s %d B: %w", target.name, size.bytes, err)
			}
			fmt.Printf("  done: %s %d B in %.1fs\n", r.target, r.recordBytes, r.elapsed.Seconds())
			results = append(results, r)
		}
	}
	if err := h.Err(); err != nil {
		return fmt.Errorf("ketch failed during the run: %w", err)
	}

	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\trecord\trecords\tseconds\trecords/s\tMB/s\tp50 ack\tp99 ack\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d B\t%d\t%.2f\t%.0f\t%.1f\t%v\t%v\t\n", r.target, r.recordBytes, r.records,
			r.elapsed.Seconds(), r.recordsPerSec(), r.mbPerSec(), r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond))
	}
	tw.Flush()
	fmt.Println()
	for i := 0; i+1 < len(results); i += 2 {
		k, f := results[i], results[i+1]
		fmt.Printf("ketch/kfake records/s, %d B records: %.2f\n", k.recordBytes, k.recordsPerSec()/f.recordsPerSec())
	}
	large := results[len(results)-2]
	fmt.Printf("ketch %d B MB/s / disk MB/s: %.2f\n", large.recordBytes, large.mbPerSec()/diskMBps)
	return nil
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
func produce(ctx context.Context, target, addr string, recordBytes, records int) (result, error) {
	// AllowAutoTopicCreation only lets the warm-up create the topic on
	// ketch (kfake's is seeded); the produce path is franz-go's default.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		return result{}, err
	}
	defer cl.Close()
	// Warm up outside the timing: metadata, topic creation on ketch, the
	// idempotent producer id.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}

	value := make([]byte, recordBytes)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	latency := make([]time.Duration, records) // each index written by one promise
	var (
		wg       sync.WaitGroup
		failed   atomic.Int64
		errMu    sync.Mutex
		firstErr error
	)
	start := time.Now()
	for i := range records {
		wg.Add(1)
		t0 := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
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
	elapsed := time.Since(start)
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
	}, nil
}
