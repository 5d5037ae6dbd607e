package host

import (
	"strings"
	"testing"

	"github.com/ketch-dev/ketch/node"
)

// TestDataDirIsLocked: a second node on the same data directory is refused
// (two processes would interleave writes to one log); after the first stops,
// the directory can be used again.
func TestDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Listen: "127.0.0.1:0", DataDir: dir, Node: node.Config{ID: 1}}
	h1, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if h2, err := Start(cfg); err == nil {
		h2.Close()
		h1.Close()
		t.Fatal("a second host started on a data directory in use")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second host: %v, want an 'in use' error", err)
	}
	if err := h1.Close(); err != nil {
		t.Fatal(err)
	}
	h3, err := Start(cfg)
	if err != nil {
		t.Fatalf("after the first host stopped: %v", err)
	}
	h3.Close()
}
