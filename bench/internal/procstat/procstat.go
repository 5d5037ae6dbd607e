// Package procstat reads what the benchmarks report of a real process
// (CPU time and RSS from /proc) and waits for its listener.
package procstat

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// WaitListening dials addr until it answers or limit passes.
func WaitListening(addr string, limit time.Duration) error {
	for deadline := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// CPUTicks is a process's user plus system time, in clock ticks (1/100 s).
func CPUTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)  // utime, field 14
	st, err2 := strconv.ParseUint(f[12], 10, 64) // stime, field 15
	return u + st, errors.Join(err1, err2)
}

// RSSKiB is a process's resident set size.
func RSSKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS")
}

// BuildNode builds ./cmd/node into dir, a new temporary directory named
// after prefix when dir is empty; cleanup removes that one (and nothing
// when dir was given).
func BuildNode(dir, prefix string) (workDir, bin string, cleanup func(), err error) {
	cleanup = func() {}
	if dir == "" {
		if dir, err = os.MkdirTemp("", prefix); err != nil {
			return "", "", cleanup, err
		}
		d := dir
		cleanup = func() { os.RemoveAll(d) }
	}
	bin = filepath.Join(dir, "node")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/node").CombinedOutput(); err != nil {
		cleanup()
		return "", "", func() {}, fmt.Errorf("build: %v: %s", err, out)
	}
	return dir, bin, cleanup, nil
}
