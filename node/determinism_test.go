package node

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// forbidden is what the sans-IO core must not contain: goroutines, the wall
// clock, timers, global randomness, the OS or the network. The host and the
// simulator supply time, bytes and disk; a run must reproduce from its seed.
var forbidden = regexp.MustCompile(`(^|\s)go\s+(func\b|[A-Za-z_][\w.]*\()|\btime\.(Now|Sleep|After|AfterFunc|NewTimer|NewTicker|Since|Until|Tick)\(|"math/rand|"os"|"net"|"os/exec"|"syscall"`)

func TestNoAmbientNondeterminism(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for i, line := range strings.Split(string(b), "\n") {
			code, _, _ := strings.Cut(line, "//")
			if forbidden.MatchString(code) {
				t.Errorf("%s:%d: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d files", checked)
	}
	for _, bad := range []string{`go func() {}()`, `t := time.Now()`, `import "os"`, `	go n.run(x)`, `"math/rand/v2"`} {
		if !forbidden.MatchString(bad) {
			t.Errorf("the pattern misses %q", bad)
		}
	}
	for _, fine := range []string{`n.now.Sub(n.lastTick)`, `// go and ask`, `time.Duration(x)`, `cargo := 1`} {
		if c, _, _ := strings.Cut(fine, "//"); forbidden.MatchString(c) {
			t.Errorf("the pattern flags %q", fine)
		}
	}
}
