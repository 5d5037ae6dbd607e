package chaos

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ketch-dev/ketch/checker"
	"github.com/ketch-dev/ketch/node"
)

const (
	nodesDefault = 3
	producersN   = 3
	consumersN   = 2
	// finalReadClient is the client id of the closing full read.
	finalReadClient = 100
	// clusterReadyTimeout bounds forming the cluster and creating the topic.
	clusterReadyTimeout = 60 * time.Second
	// finalReadTimeout bounds the closing read; a cluster that cannot serve
	// it after healing fails liveness.
	finalReadTimeout = 30 * time.Second
	// finalReadPartitionBytes is large so the closing read takes few fetches.
	finalReadPartitionBytes = 1 << 20
)

// Config describes one chaos run. Zero values are usable except Duration.
type Config struct {
	Duration time.Duration // the fault phase
	Nodes    int           // cluster size; default 3 (1 runs a lone node without -raft/-peers)
	Quiet    time.Duration // after healing, the workload runs on this long; default 10s
	Seed     int64         // draws the fault schedule
	Bug      string        // one of node.Bugs() to plant (builds with -tags chaos)
	Dir      string        // where binaries, data and logs go; default a new temp dir
	Binary   string        // a prebuilt cmd/node to use instead of building one
	Verbose  bool          // nodes log at debug level
	Out      io.Writer     // progress and summary; default os.Stdout
	// LinearizabilityTimeout bounds porcupine; default 60s.
	LinearizabilityTimeout time.Duration
}

// Result is a run's verdict and what it did.
type Result struct {
	OK       bool
	Reasons  []string // why it failed, one per line: the checker's verdict, liveness, crashes
	Check    checker.Result
	Faults   []string
	Produces struct{ OK, Ambiguous, Failed int }
	Fetches  int
	Dir      string   // binaries, data, logs, visualisation
	Logs     []string // one per node
	VizPath  string
}

// run is the state of one Run.
type run struct {
	cfg Config
	rec *recorder
	cl  *Cluster
	out io.Writer
}

// Run performs one chaos run: build, start, workload, faults, heal, quiet
// period, final read, check. An error means the run could not be set up
// (build failed, cluster never formed); a check failure is a Result with
// OK false.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = nodesDefault
	}
	if cfg.Quiet == 0 {
		cfg.Quiet = 10 * time.Second
	}
	if cfg.LinearizabilityTimeout == 0 {
		cfg.LinearizabilityTimeout = 60 * time.Second
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if cfg.Bug != "" && !slices.Contains(node.Bugs(), cfg.Bug) {
		return Result{}, fmt.Errorf("unknown bug %q (have %v)", cfg.Bug, node.Bugs())
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "ketch-chaos-")
		if err != nil {
			return Result{}, err
		}
		cfg.Dir = d
	}
	r := &run{cfg: cfg, rec: &recorder{start: time.Now()}, out: cfg.Out}
	res := Result{Dir: cfg.Dir}
	r.printf("chaos: seed %d, fault phase %v, quiet %v, bug %q, dir %s", cfg.Seed, cfg.Duration, cfg.Quiet, cfg.Bug, cfg.Dir)

	bin := cfg.Binary
	if bin == "" {
		var err error
		if bin, err = BuildNode(ctx, cfg.Dir, cfg.Bug != ""); err != nil {
			return res, err
		}
	}
	cl, err := NewCluster(cfg.Dir, bin, cfg.Bug, cfg.Nodes, cfg.Verbose, r.rec.start)
	if err != nil {
		return res, err
	}
	r.cl = cl
	defer cl.Close()
	for _, p := range cl.Nodes() {
		res.Logs = append(res.Logs, p.LogPath)
	}
	r.printf("node 1: %s", cl.CommandLine(1))

	addrs := map[int]string{}
	for _, p := range cl.Nodes() {
		addrs[p.ID] = p.KafkaAddr
	}
	nodes, err := newNodeClients(addrs)
	if err != nil {
		return res, err
	}
	defer nodes.close()
	if err := r.form(ctx, nodes); err != nil {
		return res, err
	}
	if err := r.checkBugPlanted(); err != nil {
		return res, err
	}

	w, err := startWorkload(ctx, r.rec, nodes, cl.KafkaAddrs(), cfg.Seed)
	if err != nil {
		return res, err
	}

	// The faults, one at a time.
	var done []faultDone
	plan := planFaults(cfg.Seed, cfg.Duration)
	r.printf("fault plan (%d): %v", len(plan), plan)
	faultEnd := time.Now().Add(cfg.Duration)
	var setupErr error
	for _, f := range plan {
		if time.Now().After(faultEnd) {
			break
		}
		if err := r.sleep(ctx, f.gap); err != nil {
			setupErr = err
			break
		}
		fd, err := r.inject(ctx, f, r.leader(ctx, nodes))
		done = append(done, fd)
		r.printf("  t=%6.1fs–%6.1fs  %s", float64(fd.start)/1e9, float64(fd.end)/1e9, fd.what)
		if err != nil {
			res.Reasons = append(res.Reasons, fmt.Sprintf("fault %q: %v", fd.what, err))
			break
		}
	}

	// Heal everything: links, paused and dead nodes.
	cl.HealLinks()
	healAt := r.rec.now()
	for _, p := range cl.Nodes() {
		cl.Resume(p.ID)
		if !p.Running() {
			if err := cl.Start(ctx, p.ID); err != nil {
				res.Reasons = append(res.Reasons, fmt.Sprintf("restarting node %d after the faults: %v", p.ID, err))
			}
		}
	}
	r.printf("t=%6.1fs  healed; the workload runs on for %v", float64(healAt)/1e9, cfg.Quiet)
	if setupErr == nil {
		setupErr = r.sleep(ctx, cfg.Quiet)
	}
	w.finish()
	stopAt := r.rec.now()
	r.printf("t=%6.1fs  workload stopped; final read", float64(stopAt)/1e9)
	if err := finalRead(ctx, nodes, r.rec, func() int { return r.leader(ctx, nodes) }, r.out); err != nil {
		res.Reasons = append(res.Reasons, "liveness: final read after healing: "+err.Error())
	}
	if setupErr != nil {
		return res, setupErr
	}

	h := r.rec.history()
	res.Reasons = append(res.Reasons, liveness(h, healAt, stopAt)...)
	for _, f := range done {
		res.Faults = append(res.Faults, f.what)
	}
	var anns []checker.Annotation
	for _, f := range done {
		anns = append(anns, checker.Annotation{Start: f.start, End: f.end, Description: f.what, Tag: "faults"})
	}
	anns = append(anns, checker.Annotation{Start: healAt, End: stopAt, Description: "healed, workload on", Tag: "phases"})
	res.VizPath = filepath.Join(cfg.Dir, "history.html")
	res.Check = checker.Check(h, checker.Options{
		LinearizabilityTimeout: cfg.LinearizabilityTimeout,
		VizPath:                res.VizPath,
		Annotations:            anns,
	})
	if !res.Check.OK {
		res.Reasons = append(res.Reasons, "history: "+res.Check.String())
	}
	r.rec.mu.Lock()
	for _, v := range r.rec.violations {
		res.Reasons = append(res.Reasons, "client saw: "+v)
	}
	r.rec.mu.Unlock()
	for _, u := range cl.Unexpected() {
		res.Reasons = append(res.Reasons, "crash: "+u)
	}
	for _, op := range h {
		switch {
		case op.Kind == checker.Fetch:
			res.Fetches++
		case op.OK:
			res.Produces.OK++
		case op.Ambiguous:
			res.Produces.Ambiguous++
		default:
			res.Produces.Failed++
		}
	}
	res.OK = len(res.Reasons) == 0
	if dump := filepath.Join(cfg.Dir, "history.txt"); writeHistory(dump, h) == nil {
		r.printf("history: %s", dump)
	}
	return res, nil
}

// form waits until every node lists all brokers in Metadata (they registered
// through the metadata group), creates the topic, and waits until some node
// names a leader for its partition.
func (r *run) form(ctx context.Context, nodes *nodeClients) error {
	for _, p := range r.cl.Nodes() {
		if err := r.cl.Start(ctx, p.ID); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(clusterReadyTimeout)
	for id := 1; id <= r.cfg.Nodes; {
		_, _, brokers, err := nodes.partitionLeader(ctx, id)
		if err == nil && brokers == r.cfg.Nodes {
			id++
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster did not form in %v: node %d lists %d brokers (err %v); logs in %s", clusterReadyTimeout, id, brokers, err, r.cfg.Dir)
		}
		if err := r.sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	if err := nodes.createTopic(ctx, deadline); err != nil {
		return err
	}
	for r.leader(ctx, nodes) == noLeader {
		if time.Now().After(deadline) {
			return fmt.Errorf("partition %s has no leader after %v; logs in %s", partitionName, clusterReadyTimeout, r.cfg.Dir)
		}
		if err := r.sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	r.printf("t=%6.1fs  cluster formed, topic %s created (replication factor %d)", float64(r.rec.now())/1e9, topicName, r.cfg.Nodes)
	return nil
}

// checkBugPlanted makes sure a requested bug is really in the nodes: the
// chaos build prints a line when main hands the flag to the node, and a run
// "catching nothing" on a node that never had the bug would prove nothing.
func (r *run) checkBugPlanted() error {
	if r.cfg.Bug == "" {
		return nil
	}
	for _, p := range r.cl.Nodes() {
		b, err := os.ReadFile(p.LogPath)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), fmt.Sprintf("planting bug %q", r.cfg.Bug)) {
			return fmt.Errorf("node %d does not say it planted bug %q (no \"planting bug\" line in %s): cmd/node/main.go must set node.Config.Bug from chaosBug() (cmd/node/bug_chaos.go)", p.ID, r.cfg.Bug, p.LogPath)
		}
	}
	return nil
}

// leader asks every running, unpaused node who leads the partition and
// believes the answer with the highest leader epoch; noLeader if nobody
// knows.
func (r *run) leader(ctx context.Context, nodes *nodeClients) int {
	best, bestEpoch := noLeader, int32(-1)
	for _, p := range r.cl.Nodes() {
		if !p.Running() || p.paused {
			continue
		}
		l, epoch, _, err := nodes.partitionLeader(ctx, p.ID)
		if err == nil && l != noLeader && epoch > bestEpoch {
			best, bestEpoch = l, epoch
		}
	}
	return best
}

// finalRead reads the whole partition from its leader, recording each fetch,
// so that the checker sees every write that survived. It is also the
// liveness check: a healed cluster must serve it in finalReadTimeout.
func finalRead(ctx context.Context, nodes *nodeClients, rec *recorder, leaderOf func() int, out io.Writer) error {
	deadline := time.Now().Add(finalReadTimeout)
	var pos int64
	var last error = errNoLeader
	for time.Now().Before(deadline) {
		leader := leaderOf()
		if leader == noLeader {
			last = errNoLeader
		} else {
			op, code, err := fetch(ctx, nodes, rec, finalReadClient, leader, pos, 100, finalReadPartitionBytes)
			if err == nil && code == 0 {
				rec.add(op)
				if n := len(op.Records); n > 0 {
					pos = op.Records[n-1].Offset + 1
				}
				if pos >= op.HighWatermark {
					fmt.Fprintf(out, "final read: %d records from node %d\n", pos, leader)
					return nil
				}
				continue
			}
			last = fmt.Errorf("fetch at %d from node %d: err %v, code %d", pos, leader, err, code)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond): // retry backoff
		}
	}
	return fmt.Errorf("not finished after %v at offset %d: %v", finalReadTimeout, pos, last)
}

// liveness says whether, once healed, the cluster acknowledged a write and
// served a read made after the heal.
func liveness(h checker.History, healAt, stopAt int64) []string {
	var acked, read bool
	for _, op := range h {
		if op.Call < healAt || !op.OK || op.Client == finalReadClient {
			continue
		}
		switch op.Kind {
		case checker.Produce:
			acked = true
		case checker.Fetch:
			read = true
		}
	}
	var out []string
	if !acked {
		out = append(out, fmt.Sprintf("liveness: no write called after the heal (t=%.1fs) was acknowledged by t=%.1fs", float64(healAt)/1e9, float64(stopAt)/1e9))
	}
	if !read {
		out = append(out, fmt.Sprintf("liveness: no read called after the heal (t=%.1fs) was served by t=%.1fs", float64(healAt)/1e9, float64(stopAt)/1e9))
	}
	return out
}

// writeHistory dumps the history one op per line, numbered as the checker
// numbers them (op#N), so its findings can be looked up.
func writeHistory(path string, h checker.History) error {
	var b strings.Builder
	for i, op := range h {
		fmt.Fprintf(&b, "op#%d client=%d %s call=%d return=%d ok=%v ambiguous=%v", i, op.Client, op.Kind, op.Call, op.Return, op.OK, op.Ambiguous)
		switch op.Kind {
		case checker.Produce:
			fmt.Fprintf(&b, " value=%s offset=%d", op.Value, op.Offset)
		case checker.Fetch:
			fmt.Fprintf(&b, " offset=%d hw=%d records=%d", op.Offset, op.HighWatermark, len(op.Records))
			if n := len(op.Records); n > 0 {
				fmt.Fprintf(&b, " [%d:%s .. %d:%s]", op.Records[0].Offset, op.Records[0].Value, op.Records[n-1].Offset, op.Records[n-1].Value)
			}
		}
		if op.Err != "" {
			fmt.Fprintf(&b, " err=%q", op.Err)
		}
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func (r *run) printf(format string, args ...any) {
	fmt.Fprintf(r.out, format+"\n", args...)
}

// Summary renders a result for people: what ran, the counts, the verdict
// and where to look.
func (res Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "faults (%d):\n", len(res.Faults))
	for _, f := range res.Faults {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	fmt.Fprintf(&b, "ops: %d produces (%d acknowledged, %d ambiguous, %d failed), %d fetches\n",
		res.Produces.OK+res.Produces.Ambiguous+res.Produces.Failed, res.Produces.OK, res.Produces.Ambiguous, res.Produces.Failed, res.Fetches)
	// The first line is the verdict; a failure's findings are among the
	// reasons below.
	check, _, _ := strings.Cut(res.Check.String(), "\n")
	fmt.Fprintf(&b, "check: %s\n", check)
	fmt.Fprintf(&b, "logs: %s\n", strings.Join(res.Logs, " "))
	if res.OK {
		b.WriteString("verdict: PASS\n")
		return b.String()
	}
	for _, p := range res.Check.VizPaths {
		fmt.Fprintf(&b, "visualisation: %s\n", p)
	}
	b.WriteString("verdict: FAIL\n")
	for _, r := range res.Reasons {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	return b.String()
}
