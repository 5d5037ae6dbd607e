// Command retention measures issue 10's retention figures on three real
// cmd/node processes on loopback: a topic created with retention.ms (60s by
// default) under a steady produce rate, each node's data directory size
// every 10 seconds (flat after the first retention period if old data is
// reclaimed), and a follower SIGKILLed for a while and started again: how
// long until the leaders list it in sync again for every partition (it
// catches up by ordinary append, or from a partition snapshot once the
// leader compacted past it). It is a report, not a test: the machine is
// shared.
//
//	go run ./bench/retention -retention 60s -for 4m -rate 2MiB
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/bench/internal/procstat"
)

func main() {
	retention := flag.Duration("retention", time.Minute, "the topic's retention.ms")
	runFor := flag.Duration("for", 4*time.Minute, "how long to produce")
	rate := flag.String("rate", "2MiB", "bytes a second produced (KiB, MiB)")
	recordBytes := flag.Int("record", 1024, "bytes per record value")
	partitions := flag.Int("partitions", 3, "partitions of the topic")
	down := flag.Duration("down", time.Minute, "how long the follower stays killed (0: no kill)")
	dir := flag.String("dir", "", "directory for the binary, data and logs (default: a new temp dir, removed after)")
	base := flag.Int("base-port", 29491, "Kafka on base+1..3, raft on base+101..103")
	check := flag.Duration("check", 10*time.Second, "the brokers' log.retention.check.interval.ms")
	flag.Parse()
	bps, err := parseRate(*rate)
	if err == nil {
		err = run(*retention, *runFor, bps, *recordBytes, *partitions, *down, *dir, *base, *check)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "retention:", err)
		os.Exit(1)
	}
}

func parseRate(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20} {
		if v, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = v, m
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	return int64(n * float64(mult)), err
}

type proc struct {
	id         int
	addr, data string
	args       []string
	cmd        *exec.Cmd
	logf       *os.File
}

func (p *proc) start(bin string) error {
	p.cmd = exec.Command(bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.logf, p.logf
	return p.cmd.Start()
}

func run(retention, runFor time.Duration, bps int64, recordBytes, partitions int, down time.Duration, dir string, base int, check time.Duration) error {
	dir, bin, cleanup, err := procstat.BuildNode(dir, "ketch-retention-")
	if err != nil {
		return err
	}
	defer cleanup()
	peers := fmt.Sprintf("1=127.0.0.1:%d,2=127.0.0.1:%d,3=127.0.0.1:%d", base+101, base+102, base+103)
	var procs []*proc
	defer func() {
		for _, p := range procs {
			if p.cmd != nil && p.cmd.ProcessState == nil {
				p.cmd.Process.Kill()
				p.cmd.Wait()
			}
		}
	}()
	var addrs []string
	for id := 1; id <= 3; id++ {
		p := &proc{id: id, addr: fmt.Sprintf("127.0.0.1:%d", base+id), data: filepath.Join(dir, fmt.Sprintf("node%d", id))}
		p.args = []string{"-id", strconv.Itoa(id), "-listen", p.addr, "-data", p.data,
			"-raft", fmt.Sprintf("127.0.0.1:%d", base+100+id), "-peers", peers,
			"-retention-check-interval", check.String()}
		var err error
		if p.logf, err = os.Create(filepath.Join(dir, fmt.Sprintf("node%d.log", id))); err != nil {
			return err
		}
		if err := p.start(bin); err != nil {
			return err
		}
		procs = append(procs, p)
		addrs = append(addrs, p.addr)
	}
	for _, p := range procs {
		if err := procstat.WaitListening(p.addr, 30*time.Second); err != nil {
			return fmt.Errorf("node %d: %w", p.id, err)
		}
	}
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("ret"),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordDeliveryTimeout(2*time.Minute))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := createTopic(ctx, cl, int32(partitions), retention); err != nil {
		return err
	}
	var produced, failed atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a steady rate, in ticks of 10ms
		defer close(done)
		value := make([]byte, recordBytes)
		for i := range value {
			value[i] = byte(rand.Uint32())
		}
		per := bps / 100
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var owed int64
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for owed += per; owed >= int64(recordBytes); owed -= int64(recordBytes) {
				cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
					if err != nil {
						failed.Add(1)
					} else {
						produced.Add(int64(len(r.Value)))
					}
				})
			}
		}
	}()
	start := time.Now()
	victim := procs[2]
	killAt, restartAt := runFor/3, runFor/3+down
	killed, restarted := false, false
	var restartedAt time.Time
	var caughtUp time.Duration
	fmt.Printf("topic ret: %d partitions, RF 3, retention.ms=%d; producing %d KiB/s of %d B records for %v; node %d killed at %v for %v\n",
		partitions, retention.Milliseconds(), bps>>10, recordBytes, runFor, victim.id, killAt, down)
	for next := 10 * time.Second; ; next += 10 * time.Second {
		for time.Since(start) < next {
			el := time.Since(start)
			switch {
			case down > 0 && !killed && el >= killAt:
				victim.cmd.Process.Kill()
				victim.cmd.Wait()
				killed = true
				fmt.Printf("  %v: SIGKILL node %d\n", el.Round(time.Second), victim.id)
			case killed && !restarted && el >= restartAt:
				if err := victim.start(bin); err != nil {
					return err
				}
				restarted, restartedAt = true, time.Now()
				fmt.Printf("  %v: node %d started again\n", el.Round(time.Second), victim.id)
			case restarted && caughtUp == 0:
				if ok, _ := inSyncEverywhere(ctx, cl, victim.id, partitions); ok {
					caughtUp = time.Since(restartedAt)
					fmt.Printf("  %v: node %d in sync on every partition, %v after its restart\n", el.Round(time.Second), victim.id, caughtUp.Round(100*time.Millisecond))
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		var sizes []string
		for _, p := range procs {
			b, segs := du(p.data)
			sizes = append(sizes, fmt.Sprintf("node%d %d MiB (%d segments)", p.id, b>>20, segs))
		}
		fmt.Printf("  %v: %d MiB produced (%d failed); %s\n", next, produced.Load()>>20, failed.Load(), strings.Join(sizes, ", "))
		if next >= runFor {
			break
		}
	}
	close(stop)
	<-done
	if restarted && caughtUp == 0 {
		return errors.New("the restarted follower never came back in sync")
	}
	return nil
}

func createTopic(ctx context.Context, cl *kgo.Client, partitions int32, retention time.Duration) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "ret", partitions, 3
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "retention.ms", kmsg.StringPtr(strconv.FormatInt(retention.Milliseconds(), 10))
	rt.Configs = append(rt.Configs, c)
	req.Topics = append(req.Topics, rt)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
		}
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("create topic: %w", err)
		}
	}
}

// inSyncEverywhere asks each partition's leader whether it lists id in sync.
func inSyncEverywhere(ctx context.Context, cl *kgo.Client, id, partitions int) (bool, error) {
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr("ret")
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != partitions {
		return false, err
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.Leader < 0 {
			return false, nil
		}
		lresp, err := req.RequestWith(ctx, cl.Broker(int(p.Leader)))
		if err != nil || len(lresp.Topics) != 1 {
			return false, err
		}
		for _, lp := range lresp.Topics[0].Partitions {
			if lp.Partition == p.Partition && (lp.Leader != p.Leader || !slices.Contains(lp.ISR, int32(id))) {
				return false, nil
			}
		}
	}
	return true, nil
}

func du(dir string) (bytes int64, segments int) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				bytes += info.Size()
			}
			if strings.HasSuffix(path, ".wal") {
				segments++
			}
		}
		return nil
	})
	return bytes, segments
}
