// Command walopen measures what restarting costs the log (issue 10's
// "restarts and memory that do not grow with the data kept"): it fills a
// wal directory on the OS disk with 1 KiB entries of a few groups (as a
// partition's produce batches are stored), then, in a fresh process for each
// measurement, times wal.Open and reports the heap and RSS after it.
//
//	go run ./bench/walopen -dir /tmp/walopen -mib 200,5120
//
// It writes each size once (a directory per size, kept unless -clean), then
// opens it as the log would after a crash (-open), and with wal.Options.Verify
// (a full replay, which is what Open did before segments had indexes). Build
// it against another tree and pass -open-only to time that tree's Open on
// the same data. The page cache is warm (the data was just written): a cold
// disk adds its read time to whatever Open reads. It reports; it does not
// assert.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ketch-dev/ketch/wal"
	"github.com/ketch-dev/ketch/wal/osfs"
)

func main() {
	dir := flag.String("dir", "/tmp/walopen", "parent directory of the logs")
	sizes := flag.String("mib", "200,5120", "log sizes to measure, MiB, comma-separated")
	groups := flag.Int("groups", 8, "groups the entries are spread over")
	entryBytes := flag.Int("entry", 1024, "bytes of data per entry")
	openOnly := flag.Bool("open-only", false, "do not write: open the existing logs (another build's Open)")
	open := flag.String("open", "", "internal: open this log once and print the figures")
	verify := flag.Bool("verify", false, "with -open: wal.Options.Verify")
	clean := flag.Bool("clean", false, "remove the logs afterwards")
	profile := flag.String("cpuprofile", "", "with -open: write a CPU profile of Open here")
	flag.Parse()
	if *open != "" {
		measure(*open, *verify, *profile)
		return
	}
	for _, s := range strings.Split(*sizes, ",") {
		mib, err := strconv.Atoi(s)
		if err != nil {
			fail(err)
		}
		d := filepath.Join(*dir, fmt.Sprintf("%dmib", mib))
		if !*openOnly {
			if err := os.RemoveAll(d); err != nil {
				fail(err)
			}
			start := time.Now()
			n := fill(d, int64(mib)<<20, *groups, *entryBytes)
			fmt.Printf("%d MiB: wrote %d entries of %d bytes over %d groups in %v\n", mib, n, *entryBytes, *groups, time.Since(start).Round(time.Millisecond))
		}
		modes := []bool{false, true}
		if *openOnly {
			modes = []bool{false}
		}
		for _, v := range modes {
			cmd := exec.Command(os.Args[0], "-open", d, "-verify="+strconv.FormatBool(v))
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			fmt.Printf("%d MiB: ", mib)
			if err := cmd.Run(); err != nil {
				fail(err)
			}
		}
		if *clean {
			_ = os.RemoveAll(d)
		}
	}
}

func fill(dir string, bytes int64, groups, entryBytes int) int64 {
	l, err := wal.Open(osfs.New(), dir, wal.Options{})
	if err != nil {
		fail(err)
	}
	data := make([]byte, entryBytes)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	next := make([]uint64, groups+1)
	var n, written int64
	const perGroup = 64 // entries per group per iteration: 512 KiB a Sync
	for written < bytes {
		for g := 1; g <= groups; g++ {
			ents := make([]*raftpb.Entry, perGroup)
			for k := range ents {
				next[g]++
				ents[k] = &raftpb.Entry{Index: proto.Uint64(next[g]), Term: proto.Uint64(1), Data: data}
			}
			hs := &raftpb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(next[g])}
			if err := l.Storage(uint64(g)).Save(hs, ents, nil); err != nil {
				fail(err)
			}
			n += perGroup
			written += int64(perGroup * entryBytes)
		}
		if err := l.Sync(); err != nil {
			fail(err)
		}
	}
	if err := l.Close(); err != nil {
		fail(err)
	}
	return n
}

func measure(dir string, verify bool, profile string) {
	opts := wal.Options{}
	if verify {
		setVerify(&opts)
	}
	runtime.GC()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
	}
	start := time.Now()
	l, err := wal.Open(osfs.New(), dir, opts)
	took := time.Since(start)
	if profile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		fail(err)
	}
	var entries uint64
	for _, g := range l.Groups() {
		first, _ := l.Storage(g).FirstIndex()
		last, _ := l.Storage(g).LastIndex()
		entries += last + 1 - first
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mode := "Open"
	if verify {
		mode = "Open(Verify)"
	}
	fmt.Printf("%-12s %8v  %d entries  heap %6.1f MiB (%.1f B/entry)  RSS %s\n", mode, took.Round(time.Millisecond), entries,
		float64(ms.HeapAlloc)/(1<<20), float64(ms.HeapAlloc)/float64(entries), rss())
	runtime.KeepAlive(l)
}

func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:"))
		}
	}
	return "?"
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "walopen:", err)
	os.Exit(1)
}
