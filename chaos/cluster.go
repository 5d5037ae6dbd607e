package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// nodeReadyTimeout bounds how long a started node may take to accept
	// Kafka connections (it replays its whole log first).
	nodeReadyTimeout = 30 * time.Second
	// nodeTermTimeout is how long SIGTERM may take (leadership transfer,
	// then exit) before the node is killed.
	nodeTermTimeout = 15 * time.Second
)

// BuildNode compiles cmd/node into dir and returns the binary's path. With
// chaosTag the binary is built with -tags chaos, which is what gives it the
// -bug flag; an ordinary build has none.
func BuildNode(ctx context.Context, dir string, chaosTag bool) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "node")
	args := []string{"build", "-o", bin}
	if chaosTag {
		bin = filepath.Join(dir, "node-chaos")
		args = []string{"build", "-tags", "chaos", "-o", bin}
	}
	args = append(args, "./cmd/node")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// moduleRoot finds the ketch module's directory, so the build works from any
// directory inside it (go test runs in chaos/, go run in the root).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the ketch module (go env GOMOD is empty): run from the repository")
	}
	return filepath.Dir(gomod), nil
}

// Cluster is n cmd/node processes on loopback whose peer links all pass
// through proxies. Node ids are 1..n; Node(id) is the process.
type Cluster struct {
	dir     string
	binary  string
	bug     string
	verbose bool
	start   time.Time // the run's clock, for log headers
	// Flags are added to every node's command line (set before Start).
	Flags []string

	nodes   []*Proc
	proxies map[link]*Proxy

	mu         sync.Mutex
	unexpected []string // nodes that exited without being told to
}

// link is a directed peer link: the connections node from dials to reach
// node to.
type link struct{ from, to int }

// Proc is one node's process across its restarts. Its addresses and data
// directory stay the same, so clients and peers find it again.
type Proc struct {
	ID        int
	KafkaAddr string // what clients dial (and what it advertises)
	RaftAddr  string // where it listens for peers
	DataDir   string
	LogPath   string // stdout and stderr of every incarnation, appended

	cmd      *exec.Cmd
	exited   chan struct{} // closed when the current incarnation exits
	expected bool          // the harness killed or stopped it on purpose
	paused   bool
	starts   int
}

// Running reports whether the node has a live (possibly paused) process.
func (p *Proc) Running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// NewCluster lays out n nodes under dir: free loopback ports, a data
// directory and log file each, and one proxy per directed peer link. It
// starts nothing.
//
// Why one proxy per directed link rather than per pair: each node names in
// -peers the address it dials for every other node, so node i's entry for
// j can point at a proxy that only i uses; a proxy shared by both ends of a
// pair could not tell whom to forward to. The transport today has the lower
// id dial and both ends share that one connection, so only the proxies
// i→j with i < j carry traffic; the others cost an idle listener and keep
// the harness right if that rule changes. Cutting every proxy from and to
// a node isolates it whichever side dialled.
func NewCluster(dir, binary, bug string, n int, verbose bool, start time.Time) (*Cluster, error) {
	c := &Cluster{dir: dir, binary: binary, bug: bug, verbose: verbose, start: start, proxies: map[link]*Proxy{}}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		p := &Proc{
			ID:        i,
			KafkaAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2*(i-1)])),
			RaftAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2*(i-1)+1])),
			DataDir:   filepath.Join(dir, fmt.Sprintf("node%d", i)),
			LogPath:   filepath.Join(dir, fmt.Sprintf("node%d.log", i)),
		}
		if err := os.MkdirAll(p.DataDir, 0o755); err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, p)
	}
	for _, from := range c.nodes {
		for _, to := range c.nodes {
			if from == to {
				continue
			}
			px, err := NewProxy("127.0.0.1:0", to.RaftAddr)
			if err != nil {
				c.Close()
				return nil, err
			}
			c.proxies[link{from.ID, to.ID}] = px
		}
	}
	return c, nil
}

// freePorts finds n distinct free ports below the kernel's ephemeral range
// (32768 and up on Linux). The nodes bind them only later, after this
// returns; had they come from the ephemeral range (":0"), any other process
// or test package opening a connection or listener meanwhile could be handed
// one of them, and a node would fail with "address already in use". Below
// that range only another caller picking ports the same way can collide, and
// the draw is random.
func freePorts(n int) ([]int, error) {
	const lo, hi = 20000, 32000
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("no free port in %d..%d after %d tries", lo, hi, tries)
		}
		port := lo + rand.IntN(hi-lo)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		lns = append(lns, ln)
		ports = append(ports, port)
	}
	return ports, nil
}

// Nodes returns the processes, ids 1..n in order.
func (c *Cluster) Nodes() []*Proc { return c.nodes }

// Node returns node id's process.
func (c *Cluster) Node(id int) *Proc { return c.nodes[id-1] }

// KafkaAddrs lists every node's Kafka address.
func (c *Cluster) KafkaAddrs() []string {
	var out []string
	for _, p := range c.nodes {
		out = append(out, p.KafkaAddr)
	}
	return out
}

// args is node id's command line: its own peer address as itself, every
// other node's as the proxy it dials.
func (c *Cluster) args(p *Proc) []string {
	var peers []string
	for _, q := range c.nodes {
		addr := q.RaftAddr
		if q != p {
			addr = c.proxies[link{p.ID, q.ID}].Addr()
		}
		peers = append(peers, fmt.Sprintf("%d=%s", q.ID, addr))
	}
	args := []string{
		"-id", strconv.Itoa(p.ID),
		"-listen", p.KafkaAddr,
		"-advertise", p.KafkaAddr,
		"-data", p.DataDir,
	}
	if len(c.nodes) > 1 {
		args = append(args, "-raft", p.RaftAddr, "-peers", strings.Join(peers, ","))
	}
	if c.bug != "" {
		args = append(args, "-bug", c.bug)
	}
	if c.verbose {
		args = append(args, "-v")
	}
	return append(args, c.Flags...)
}

// CommandLine is how node id is started, for the summary.
func (c *Cluster) CommandLine(id int) string {
	return c.binary + " " + strings.Join(c.args(c.Node(id)), " ")
}

// Start starts node id (again, on the same data directory) and waits until
// it accepts Kafka connections.
func (c *Cluster) Start(ctx context.Context, id int) error {
	p := c.Node(id)
	if p.Running() {
		return fmt.Errorf("node %d already running", id)
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(logf, "=== chaos: start #%d of node %d at t=%.3fs: %s\n", p.starts, id, time.Since(c.start).Seconds(), c.CommandLine(id))
	cmd := exec.Command(c.binary, c.args(p)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start node %d: %w", id, err)
	}
	p.cmd, p.exited, p.expected, p.paused = cmd, make(chan struct{}), false, false
	exited := p.exited
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logf, "=== chaos: node %d exited at t=%.3fs: %v\n", id, time.Since(c.start).Seconds(), errOrOK(err))
		logf.Close()
		c.mu.Lock()
		if !p.expected {
			c.unexpected = append(c.unexpected, fmt.Sprintf("node %d (start #%d) exited on its own at t=%.1fs: %v (see %s)",
				id, p.starts, time.Since(c.start).Seconds(), errOrOK(err), p.LogPath))
		}
		c.mu.Unlock()
		close(exited)
	}()
	return c.waitReady(ctx, p)
}

func errOrOK(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// waitReady polls the node's Kafka port until it accepts a connection. This
// is waiting for an external process to come up, so polling with a deadline
// is the tool.
func (c *Cluster) waitReady(ctx context.Context, p *Proc) error {
	deadline := time.Now().Add(nodeReadyTimeout)
	for {
		conn, err := net.DialTimeout("tcp", p.KafkaAddr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("node %d exited while starting; its log %s ends:\n%s", p.ID, p.LogPath, tail(p.LogPath, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %d not accepting on %s after %v; its log %s ends:\n%s", p.ID, p.KafkaAddr, nodeReadyTimeout, p.LogPath, tail(p.LogPath, 20))
		}
	}
}

// Kill sends SIGKILL and waits for the process to be gone. A node that is
// not running is left alone.
func (c *Cluster) Kill(id int) {
	p := c.Node(id)
	if !p.Running() {
		return
	}
	c.expect(p)
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Term sends SIGTERM (the node hands its leaderships away, then exits) and
// waits; a node that outlives nodeTermTimeout is killed and an error says so.
func (c *Cluster) Term(id int) error {
	p := c.Node(id)
	if !p.Running() {
		return nil
	}
	c.expect(p)
	if p.paused {
		p.cmd.Process.Signal(syscall.SIGCONT)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(nodeTermTimeout):
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("node %d ignored SIGTERM for %v and was killed", id, nodeTermTimeout)
	}
}

// Pause freezes the process (SIGSTOP): its sockets stay open but nothing
// answers, like a long GC pause or a VM stall.
func (c *Cluster) Pause(id int) {
	p := c.Node(id)
	if p.Running() && !p.paused {
		p.cmd.Process.Signal(syscall.SIGSTOP)
		p.paused = true
	}
}

// Resume continues a paused process (SIGCONT).
func (c *Cluster) Resume(id int) {
	p := c.Node(id)
	if p.Running() && p.paused {
		p.cmd.Process.Signal(syscall.SIGCONT)
		p.paused = false
	}
}

func (c *Cluster) expect(p *Proc) {
	c.mu.Lock()
	p.expected = true
	c.mu.Unlock()
}

// Isolate cuts every peer link from and to node id. Its Kafka listener stays
// reachable: clients can still talk to a broker its peers cannot.
func (c *Cluster) Isolate(id int, mode CutMode) {
	for l, px := range c.proxies {
		if l.from == id || l.to == id {
			px.Cut(mode)
		}
	}
}

// HealLinks lets every peer link through again.
func (c *Cluster) HealLinks() {
	for _, px := range c.proxies {
		px.Heal()
	}
}

// Unexpected lists nodes that exited without the harness stopping them: a
// crash, a panic, a disk error. Any is a failure.
func (c *Cluster) Unexpected() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.unexpected...)
}

// Close terminates every node (SIGTERM, then SIGKILL) and the proxies.
func (c *Cluster) Close() error {
	var errs []error
	for _, p := range c.nodes {
		if err := c.Term(p.ID); err != nil {
			errs = append(errs, err)
		}
	}
	for _, px := range c.proxies {
		px.Close()
	}
	return errors.Join(errs...)
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
