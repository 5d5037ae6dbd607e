// Command partitions measures issue 11 on three real cmd/node processes on
// loopback: how long after creating many partitions (replication factor 3)
// every one accepts a write; the idle cluster's CPU and RSS (from
// /proc/PID/stat and status, all three processes); and after SIGKILL of the
// node leading the most partitions, how long until Metadata names a live
// leader for every partition, and until every partition it led accepts a
// write again. It is a report, not a test: the machine is shared.
//
//	go run ./bench/partitions -partitions 10000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/bench/internal/procstat"
)

// topicPartitionsMax is ketch's limit per topic: more partitions are more topics.
const topicPartitionsMax = 1000

func main() {
	partitions := flag.Int("partitions", 10000, "partitions in all (topics of 1,000)")
	dir := flag.String("dir", "", "directory for the binary, data and logs (default: a new temp dir)")
	idleFor := flag.Duration("idle", 30*time.Second, "how long the idle CPU is measured")
	settle := flag.Duration("settle", 5*time.Second, "wait after the writes before measuring idle CPU")
	base := flag.Int("base-port", 29091, "Kafka on base+1..3, raft on base+step+1..3, pprof on base+2*step+1..3")
	step := flag.Int("port-step", 100, "the distance between the Kafka, raft and pprof port ranges (10 fits all nine ports in 30)")
	profile := flag.Duration("profile", 0, "CPU-profile the three nodes for this long from the first CreateTopics, into DIR/nodeN.cpu.pprof (0: none)")
	flag.Parse()
	if err := run(*partitions, *dir, *idleFor, *settle, *base, *step, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "partitions:", err)
		os.Exit(1)
	}
}

type proc struct {
	id   int
	addr string
	cmd  *exec.Cmd
}

func run(partitions int, dir string, idleFor, settle time.Duration, base, step int, profile time.Duration) error {
	dir, bin, cleanup, err := procstat.BuildNode(dir, "ketch-partitions-")
	if err != nil {
		return err
	}
	defer cleanup()
	peers := fmt.Sprintf("1=127.0.0.1:%d,2=127.0.0.1:%d,3=127.0.0.1:%d", base+step+1, base+step+2, base+step+3)
	var procs []*proc
	defer func() {
		for _, p := range procs {
			if p.cmd.ProcessState == nil {
				p.cmd.Process.Kill()
				p.cmd.Wait()
			}
		}
	}()
	for id := 1; id <= 3; id++ {
		addr := fmt.Sprintf("127.0.0.1:%d", base+id)
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("node%d.log", id)))
		if err != nil {
			return err
		}
		cmd := exec.Command(bin, "-id", strconv.Itoa(id), "-listen", addr, "-data", filepath.Join(dir, fmt.Sprintf("node%d", id)),
			"-raft", fmt.Sprintf("127.0.0.1:%d", base+step+id), "-peers", peers, "-pprof", fmt.Sprintf("127.0.0.1:%d", base+2*step+id))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, &proc{id: id, addr: addr, cmd: cmd})
	}
	var addrs []string
	for _, p := range procs {
		addrs = append(addrs, p.addr)
		if err := procstat.WaitListening(p.addr, 30*time.Second); err != nil {
			return fmt.Errorf("node %d: %w", p.id, err)
		}
	}
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(2*time.Minute), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	// The cluster is up once the controller answers.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := describe(ctx, cl); err == nil {
			break
		} else if time.Now().After(deadline) {
			return fmt.Errorf("no metadata: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// 1. Create, then one write to every partition.
	var topics []string
	for i := 0; i*topicPartitionsMax < partitions; i++ {
		topics = append(topics, fmt.Sprintf("p%d", i))
	}
	var profiled sync.WaitGroup
	if profile > 0 {
		for _, p := range procs {
			profiled.Add(1)
			go func() {
				defer profiled.Done()
				if err := cpuProfile(fmt.Sprintf("127.0.0.1:%d", base+2*step+p.id), profile, filepath.Join(dir, fmt.Sprintf("node%d.cpu.pprof", p.id))); err != nil {
					fmt.Fprintf(os.Stderr, "partitions: profile of node %d: %v\n", p.id, err)
				}
			}()
		}
	}
	start := time.Now()
	for i, t := range topics {
		n := min(topicPartitionsMax, partitions-i*topicPartitionsMax)
		if err := create(ctx, cl, t, int32(n)); err != nil {
			return fmt.Errorf("create %s: %w", t, err)
		}
	}
	created := time.Since(start)
	var recs []*kgo.Record
	for i, t := range topics {
		n := min(topicPartitionsMax, partitions-i*topicPartitionsMax)
		for p := range n {
			recs = append(recs, &kgo.Record{Topic: t, Partition: int32(p), Value: []byte("first")})
		}
	}
	if err := produceAll(ctx, cl, recs); err != nil {
		return fmt.Errorf("first writes: %w", err)
	}
	fmt.Printf("%d partitions (RF 3, %d topics): created in %v; every partition accepted a write %v after the first CreateTopics\n",
		partitions, len(topics), created.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	profiled.Wait()

	// 2. Idle.
	time.Sleep(settle)
	before := make([]uint64, len(procs))
	for i, p := range procs {
		if before[i], err = procstat.CPUTicks(p.cmd.Process.Pid); err != nil {
			return err
		}
	}
	t0 := time.Now()
	time.Sleep(idleFor)
	wall := time.Since(t0)
	var total float64
	var rss int64
	for i, p := range procs {
		after, err := procstat.CPUTicks(p.cmd.Process.Pid)
		if err != nil {
			return err
		}
		share := float64(after-before[i]) / 100 / wall.Seconds() // clock ticks of 10ms
		r, _ := procstat.RSSKiB(p.cmd.Process.Pid)
		fmt.Printf("  node %d idle: %.1f%% of one core, RSS %d MiB\n", p.id, 100*share, r/1024)
		total += share
		rss += r
	}
	fmt.Printf("idle over %v: %.1f%% of one core in all, RSS %d MiB in all\n", wall.Round(time.Second), 100*total, rss/1024)

	// 3. SIGKILL the node leading the most partitions.
	leaders, err := describe(ctx, cl)
	if err != nil {
		return err
	}
	count := map[int32]int{}
	for _, l := range leaders {
		count[l]++
	}
	victim := procs[0]
	for _, p := range procs {
		if count[int32(p.id)] > count[int32(victim.id)] {
			victim = p
		}
	}
	var led []*kgo.Record
	for tp, l := range leaders {
		if l == int32(victim.id) {
			led = append(led, &kgo.Record{Topic: tp.topic, Partition: tp.partition, Value: []byte("after")})
		}
	}
	var live []string
	for _, p := range procs {
		if p != victim {
			live = append(live, p.addr)
		}
	}
	lcl, err := kgo.NewClient(kgo.SeedBrokers(live...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(2*time.Minute), kgo.ProducerLinger(0), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		return err
	}
	defer lcl.Close()
	if _, err := describe(ctx, lcl); err != nil {
		return err
	}
	killed := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	victim.cmd.Wait()
	// Metadata: every partition led by a live node.
	var metaAt time.Duration
	for {
		ls, err := describe(ctx, lcl)
		if err == nil {
			ok := len(ls) == partitions
			for _, l := range ls {
				ok = ok && l > 0 && l != int32(victim.id)
			}
			if ok {
				metaAt = time.Since(killed)
				break
			}
		}
		if time.Since(killed) > 2*time.Minute {
			return errors.New("Metadata still names the dead node after 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := produceAll(ctx, lcl, led); err != nil {
		return fmt.Errorf("writes after the kill: %w", err)
	}
	fmt.Printf("SIGKILL of node %d (leading %d of %d partitions): Metadata named a live leader for every partition after %v; each of its partitions accepted a write after %v\n",
		victim.id, count[int32(victim.id)], partitions, metaAt.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	return nil
}

// produceAll writes every record, producing again those that failed (franz-go
// gives a record up on LEADER_NOT_AVAILABLE after a few metadata refreshes)
// until all are written or two minutes passed.
func produceAll(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	for deadline := time.Now().Add(2 * time.Minute); ; {
		var failed []*kgo.Record
		var last error
		for _, r := range cl.ProduceSync(ctx, recs...) {
			if r.Err != nil {
				last = r.Err
				r.Record.Attrs, r.Record.Offset = kgo.RecordAttrs{}, 0
				failed = append(failed, r.Record)
			}
		}
		if len(failed) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d records still failing: %w", len(failed), last)
		}
		recs = failed
		time.Sleep(50 * time.Millisecond)
	}
}

// cpuProfile saves a node's CPU profile over the next d.
func cpuProfile(addr string, d time.Duration, path string) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func create(ctx context.Context, cl *kgo.Client, name string, partitions int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 60000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 3
	req.Topics = append(req.Topics, rt)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
		}
		switch {
		case err == nil, errors.Is(err, kerr.TopicAlreadyExists):
			return nil
		case time.Now().After(deadline):
			return err
		}
		// Anything else is retried: no controller known yet, a
		// controller that moved, a request that timed out.
	}
}

type tp struct {
	topic     string
	partition int32
}

// describe asks Metadata for every topic and returns each partition's leader.
func describe(ctx context.Context, cl *kgo.Client) (map[tp]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	out := map[tp]int32{}
	for _, t := range resp.Topics {
		if t.Topic == nil || strings.HasPrefix(*t.Topic, "__") {
			continue
		}
		for _, p := range t.Partitions {
			out[tp{*t.Topic, p.Partition}] = p.Leader
		}
	}
	return out, nil
}
