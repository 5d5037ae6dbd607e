// Command restart measures issue 10's restart figures on a real one-node
// cmd/node: for each size, it fills a fresh node with that many bytes of
// 1 KiB records (kgo at its defaults, idempotent, acks=all, batching as
// it does, but uncompressed, so the bytes stored are the bytes sent), lets it idle and reads its RSS, SIGKILLs it, starts it again
// on the same data and times the restart to the first acknowledged
// produce, then reads the RSS of the restarted node idle. It is a report,
// not a test: the machine is shared.
//
//	go run ./bench/restart -sizes 200MiB,5GiB
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/bench/internal/procstat"
)

func main() {
	sizes := flag.String("sizes", "200MiB,5GiB", "bytes of records to store before each kill, comma separated (KiB, MiB, GiB)")
	recordBytes := flag.Int("record", 1024, "bytes per record value")
	partitions := flag.Int("partitions", 4, "partitions of the topic filled")
	dir := flag.String("dir", "", "directory for the binary, data and logs (default: a new temp dir, removed after)")
	settle := flag.Duration("settle", 5*time.Second, "idle time before each RSS reading")
	port := flag.Int("port", 29291, "Kafka port of the node")
	flag.StringVar(&pprofAddr, "pprof", "", "serve the node's profiles on `HOST:PORT` and save a heap profile of each idle node (before the kill, after the restart) as heap-SIZE-{before,after}.pb.gz in the working directory")
	flag.IntVar(&batchBytes, "batch-bytes", 0, "the producer's batch limit (kgo ProducerBatchMaxBytes; 0: its default, 1 MB); a little above -record makes one record a batch")
	flag.Parse()
	if err := run(*sizes, *recordBytes, *partitions, *dir, *settle, *port); err != nil {
		fmt.Fprintln(os.Stderr, "restart:", err)
		os.Exit(1)
	}
}

var (
	batchBytes int
	pprofAddr  string
)

// saveHeap writes the node's heap profile (after a GC: the live heap) when
// -pprof is set; a failure is printed, not fatal, since the RSS figure
// stands without it.
func saveHeap(name string) {
	if pprofAddr == "" {
		return
	}
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?gc=1")
	if err != nil {
		fmt.Fprintln(os.Stderr, "restart: heap profile:", err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(name, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "restart: heap profile:", err)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if v, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = v, m
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	return int64(n * float64(mult)), err
}

type node struct {
	cmd  *exec.Cmd
	addr string
}

func start(bin, data, logPath, addr string) (*node, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	args := []string{"-listen", addr, "-data", data}
	if pprofAddr != "" {
		args = append(args, "-pprof", pprofAddr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &node{cmd: cmd, addr: addr}, nil
}

func (n *node) kill() {
	n.cmd.Process.Kill()
	n.cmd.Wait()
}

func run(sizeList string, recordBytes, partitions int, dir string, settle time.Duration, port int) error {
	dir, bin, cleanup, err := procstat.BuildNode(dir, "ketch-restart-")
	if err != nil {
		return err
	}
	defer cleanup()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i, s := range strings.Split(sizeList, ",") {
		size, err := parseSize(s)
		if err != nil {
			return fmt.Errorf("size %q: %w", s, err)
		}
		data := filepath.Join(dir, fmt.Sprintf("data%d", i))
		if err := measure(bin, data, filepath.Join(dir, fmt.Sprintf("node%d.log", i)), addr, s, size, recordBytes, partitions, settle); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		os.RemoveAll(data)
	}
	return nil
}

func measure(bin, data, logPath, addr, label string, size int64, recordBytes, partitions int, settle time.Duration) error {
	n, err := start(bin, data, logPath, addr)
	if err != nil {
		return err
	}
	defer func() {
		if n.cmd.ProcessState == nil {
			n.kill()
		}
	}()
	if err := procstat.WaitListening(addr, 30*time.Second); err != nil {
		return err
	}
	ctx := context.Background()
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("fill"), kgo.AllowAutoTopicCreation(),
		kgo.MaxBufferedRecords(1 << 16), kgo.RecordDeliveryTimeout(2 * time.Minute),
		// Stored as sent: the bytes on disk are the bytes produced.
		kgo.ProducerBatchCompression(kgo.NoCompression())}
	if batchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(batchBytes)))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	// One record first so the topic exists with its partitions.
	if err := createTopic(ctx, cl, partitions); err != nil {
		cl.Close()
		return err
	}
	value := make([]byte, recordBytes)
	for i := range value {
		value[i] = byte(rand.Uint32())
	}
	records := size / int64(recordBytes)
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := int64(0); i < records; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	fill := time.Since(t0)
	cl.Close()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d records failed: %v", f, records, firstErr.Load())
	}
	stored := duBytes(data)
	time.Sleep(settle)
	rssBefore, _ := procstat.RSSKiB(n.cmd.Process.Pid)
	saveHeap("heap-" + label + "-before.pb.gz")
	n.kill()

	t1 := time.Now()
	n, err = start(bin, data, logPath, addr)
	if err != nil {
		return err
	}
	cl, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("fill"),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }), kgo.RecordDeliveryTimeout(5*time.Minute))
	if err != nil {
		return err
	}
	defer cl.Close()
	var listening time.Duration
	if err := procstat.WaitListening(addr, 5*time.Minute); err != nil {
		return err
	}
	listening = time.Since(t1)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after restart")}).FirstErr(); err != nil {
		return fmt.Errorf("produce after restart: %w", err)
	}
	restart := time.Since(t1)
	time.Sleep(settle)
	rssAfter, _ := procstat.RSSKiB(n.cmd.Process.Pid)
	saveHeap("heap-" + label + "-after.pb.gz")
	fmt.Printf("%s: %d records of %d B in %v (%.0f MiB/s); %d MiB on disk; RSS idle %d MiB; SIGKILL, restart: listening after %v, first acknowledged produce after %v; RSS of the restarted node idle %d MiB\n",
		label, records, recordBytes, fill.Round(time.Millisecond), float64(size)/(1<<20)/fill.Seconds(), stored>>20, rssBefore/1024,
		listening.Round(time.Millisecond), restart.Round(time.Millisecond), rssAfter/1024)
	return nil
}

func createTopic(ctx context.Context, cl *kgo.Client, partitions int) error {
	// CreateTopics through kmsg would do too; auto-creation makes the
	// broker default (one partition), so ask for the count explicitly.
	req := newCreate("fill", int32(partitions))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && (resp.Topics[0].ErrorCode == 0 || resp.Topics[0].ErrorCode == 36) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("create topic: %v (code %v)", err, resp)
		}
	}
}

func duBytes(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

func newCreate(name string, partitions int32) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	req.Topics = append(req.Topics, rt)
	return req
}
