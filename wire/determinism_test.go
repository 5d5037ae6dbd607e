package wire

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The package must stay sans-IO and deterministic: the simulator replays
// the exact same bytes through it. Cheap to check, easy to break.
func TestNoAmbientNondeterminism(t *testing.T) {
	forbidden := []*regexp.Regexp{
		regexp.MustCompile(`"os"`),
		regexp.MustCompile(`"net"`),
		regexp.MustCompile(`"net/`),
		regexp.MustCompile(`"math/rand`),
		regexp.MustCompile(`\btime\.(Now|Sleep|After|AfterFunc|NewTimer|NewTicker|Tick|Since|Until)\b`),
		regexp.MustCompile(`\bgo\s+func\b`),
		regexp.MustCompile(`(?m)^\s*go\s+[A-Za-z_][\w.]*\(`),
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, re := range forbidden {
			if loc := re.FindIndex(src); loc != nil {
				line := 1 + strings.Count(string(src[:loc[0]]), "\n")
				t.Errorf("%s:%d: forbidden %q in sans-IO package", name, line, src[loc[0]:loc[1]])
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}
