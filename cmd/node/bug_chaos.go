//go:build chaos

package main

import (
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/ketch-dev/ketch/node"
)

// bugFlag exists only in the chaos build (go build -tags chaos): it plants
// one of the simulator's bugs in a real node, so that the chaos harness can
// show its checks catch them. An ordinary build has no such switch, so no
// production node can be made unsafe from its command line.
var bugFlag = flag.String("bug", "", fmt.Sprintf("plant a `BUG` on purpose (chaos build only): one of %v", node.Bugs()))

// chaosBug is the bug to plant, read after flag.Parse. An unknown name
// stops the node here with a clear message rather than later in node.New.
func chaosBug() string {
	b := *bugFlag
	if b != "" && !slices.Contains(node.Bugs(), b) {
		fmt.Fprintf(os.Stderr, "node: unknown -bug %q (have %v)\n", b, node.Bugs())
		os.Exit(2)
	}
	if b != "" {
		fmt.Fprintf(os.Stderr, "node: chaos build: planting bug %q\n", b)
	}
	return b
}
