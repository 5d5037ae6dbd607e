package interop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ketch-dev/ketch/chaos"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

const (
	partitionsN = 6
	// Every client gets the same group timings: Kafka's smallest session
	// timeout (group.min.session.timeout.ms = 6 s), so that noticing a dead
	// consumer costs 6 s and not the clients' 10-45 s defaults, a heartbeat
	// a sixth of it, and commits every second.
	sessionTimeout    = 6 * time.Second
	heartbeatInterval = time.Second
	commitInterval    = time.Second
	// The producer writes one record every produceInterval, round robin
	// over the partitions: each partition gets one every 60 ms, which is
	// the resolution of the resume times measured.
	produceInterval = 10 * time.Millisecond
	// resumeTimeout bounds a rebalance: past it the group counts as stuck.
	// It is above 45 s, Kafka's default KIP-848 session timeout
	// (group.consumer.session.timeout.ms), which a broker sets and the
	// client cannot.
	resumeTimeout = 60 * time.Second
	// drainTimeout bounds how long the consumers may take to deliver the
	// last acknowledged records once the producer has stopped, and
	// commitTimeout how long their commits may take to reach the end.
	drainTimeout  = 30 * time.Second
	commitTimeout = 20 * time.Second
	// stallWindow is how long after the coordinator's kill the producer
	// keeps writing, the window in which consumption pauses are measured:
	// two session timeouts.
	stallWindow = 2 * sessionTimeout
)

// keepAll (KETCH_GROUPS_KEEP=1) keeps the node and consumer logs of runs
// that pass too, to see where a resume's seconds go.
var keepAll = os.Getenv("KETCH_GROUPS_KEEP") == "1"

// clientsAll are the consumers TestGroupConsumers drives, each on a cluster
// of its own.
var clientsAll = []string{"kafka-python", "kcat", "kgo-range", "kgo-sticky", "kgo-cooperative-sticky", "kgo-848", "sarama"}

func TestMain(m *testing.M) {
	if kind := os.Getenv(consumerEnv); kind != "" {
		os.Exit(runConsumerChild(kind))
	}
	os.Exit(m.Run())
}

// TestGroupConsumers drives each real client as a group consumer on a
// three-broker cluster while a producer writes with acks=all, and checks
// that every record the producer was told was written is delivered to some
// member (duplicates allowed, gaps not) through: two members sharing the
// partitions, a member SIGKILLed (the other takes its partitions over from
// the committed offsets), a new member joining, and the group coordinator's
// node SIGKILLed (then restarted). It reports how long the group took to
// deliver from every partition again after each kill.
//
// KETCH_GROUPS picks the cluster: "ketch" (three cmd/node processes;
// KETCH_NODE_BINARY is a prebuilt one) or "kfake" (franz-go's fake broker on
// three fixed loopback ports in this process, to show the client side works:
// there a coordinator "kill" removes the broker, which closes its listener
// and moves its coordinators and partitions). KETCH_GROUPS_CLIENTS is a
// comma-separated subset of clientsAll; KETCH_GROUPS_KEEP=1 keeps every
// run's logs; KETCH_GROUPS_BUG plants a bug in every node.
func TestGroupConsumers(t *testing.T) {
	which := os.Getenv("KETCH_GROUPS")
	if which != "ketch" && which != "kfake" {
		t.Skip("real-client group checks: set KETCH_GROUPS=ketch or KETCH_GROUPS=kfake to run")
	}
	clients := clientsAll
	if s := os.Getenv("KETCH_GROUPS_CLIENTS"); s != "" {
		clients = strings.Split(s, ",")
		for _, c := range clients {
			if !slices.Contains(clientsAll, c) {
				t.Fatalf("KETCH_GROUPS_CLIENTS: unknown client %q (have %v)", c, clientsAll)
			}
		}
	}
	bin := os.Getenv("KETCH_NODE_BINARY")
	if which == "ketch" && bin == "" {
		bin = buildNode(t, groupsBug != "")
	}
	var results []string
	for _, c := range clients {
		t.Run(c, func(t *testing.T) {
			res := runGroupCheck(t, which, bin, c)
			results = append(results, res)
		})
	}
	t.Log("summary (" + which + "):\n" + strings.Join(results, "\n"))
}

// groupsBug (KETCH_GROUPS_BUG) is a bug to plant in every node (a build
// with -tags chaos), to see whether the real clients' checks catch it.
var groupsBug = os.Getenv("KETCH_GROUPS_BUG")

// buildNode compiles cmd/node from the ketch module (this module's parent),
// with ketch's own dependency versions rather than this module's; with
// chaosTag, the build that has the -bug switch.
func buildNode(t *testing.T, chaosTag bool) string {
	bin := filepath.Join(t.TempDir(), "node")
	args := []string{"build", "-o", bin}
	if chaosTag {
		args = append(args, "-tags", "chaos")
	}
	cmd := exec.Command("go", append(args, "./cmd/node")...)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/node: %v\n%s", err, out)
	}
	return bin
}

// target is a three-broker cluster whose brokers can be killed and
// restarted by Kafka node id.
type target interface {
	seeds() []string
	kill(t *testing.T, node int32)
	restart(t *testing.T, node int32)
	close(t *testing.T)
	// observe turns on or off the record of the consumer-side request
	// versions seen (kfake only), and versions reports it.
	observe(on bool)
	versions() string
}

type ketchTarget struct {
	c   *chaos.Cluster
	dir string
}

func startKetch(t *testing.T, bin string) *ketchTarget {
	// Not t.TempDir: a failed run's node logs are what to look at.
	dir, err := os.MkdirTemp("", "ketch-groups-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := chaos.NewCluster(dir, bin, groupsBug, 3, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The clients here run 6s sessions; a KIP-848 member's is the
	// broker's to set (Kafka's default 45s).
	c.Flags = []string{"-group-consumer-session-timeout", "6s"}
	k := &ketchTarget{c: c, dir: dir}
	for id := 1; id <= 3; id++ {
		if err := c.Start(context.Background(), id); err != nil {
			k.close(t)
			t.Fatalf("start node %d: %v", id, err)
		}
	}
	return k
}

func (k *ketchTarget) seeds() []string { return k.c.KafkaAddrs() }

func (k *ketchTarget) kill(t *testing.T, node int32) { k.c.Kill(int(node)) }

func (k *ketchTarget) restart(t *testing.T, node int32) {
	if err := k.c.Start(context.Background(), int(node)); err != nil {
		t.Fatalf("restart node %d: %v", node, err)
	}
}

func (k *ketchTarget) observe(bool)     {}
func (k *ketchTarget) versions() string { return "" }

func (k *ketchTarget) close(t *testing.T) {
	if err := k.c.Close(); err != nil {
		t.Errorf("cluster close: %v", err)
	}
	for _, u := range k.c.Unexpected() {
		t.Errorf("unexpected exit: %s", u)
	}
	if t.Failed() || keepAll {
		t.Logf("node logs and data kept in %s", k.dir)
		return
	}
	os.RemoveAll(k.dir)
}

type kfakeTarget struct {
	c *kfake.Cluster

	mu   sync.Mutex
	on   bool
	seen map[int16]map[int16]bool // key -> versions
}

// consumerKeys are the requests only the consumers send here (the producer
// and the admin client send Metadata and ApiVersions too, and the admin
// FindCoordinator and the offset APIs, so its calls run with observe off).
var consumerKeys = []kmsg.Key{kmsg.Fetch, kmsg.ListOffsets, kmsg.OffsetCommit, kmsg.OffsetFetch,
	kmsg.FindCoordinator, kmsg.JoinGroup, kmsg.Heartbeat, kmsg.LeaveGroup, kmsg.SyncGroup,
	kmsg.OffsetForLeaderEpoch, kmsg.ConsumerGroupHeartbeat}

func startKfake(t *testing.T) *kfakeTarget {
	ports := freePorts(t, 3)
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.Ports(ports...),
		// KIP-848 members get their session timeout from the broker
		// (Kafka's default 45 s); give them the classic members' 6 s.
		kfake.BrokerConfigs(map[string]string{
			"group.consumer.session.timeout.ms":    strconv.Itoa(int(sessionTimeout.Milliseconds())),
			"group.consumer.heartbeat.interval.ms": strconv.Itoa(int(heartbeatInterval.Milliseconds())),
		}))
	if err != nil {
		t.Fatal(err)
	}
	k := &kfakeTarget{c: c, seen: map[int16]map[int16]bool{}}
	for _, key := range consumerKeys {
		c.ControlKey(key.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
			k.mu.Lock()
			defer k.mu.Unlock()
			if k.on {
				if k.seen[req.Key()] == nil {
					k.seen[req.Key()] = map[int16]bool{}
				}
				k.seen[req.Key()][req.GetVersion()] = true
			}
			return nil, nil, false // observed, not handled
		})
	}
	return k
}

func (k *kfakeTarget) seeds() []string { return k.c.ListenAddrs() }

// kill moves every group's coordinator (RehashCoordinators): the clients get
// NOT_COORDINATOR and must find the new one. kfake's RemoveNode would be
// closer to a SIGKILL (the broker's listener closes), but it also moves
// partition leaders by bumping their epochs without an epoch history to
// match, so that OffsetForLeaderEpoch then tells kgo records were lost
// ("consumed to offset 131 epoch 0 but was reset to offset 132 epoch 1")
// and it skips them: a fake-broker artifact, not what this target is for.
// Under RemoveNode kafka-python 2.0.2 also reset partitions after its
// OffsetFetch, sent on the removed broker's still open connection, came
// back with no committed offset (its log: "fetching committed offsets",
// then "Resetting offset ... to latest offset").
func (k *kfakeTarget) kill(*testing.T, int32) { k.c.RehashCoordinators() }

func (k *kfakeTarget) restart(*testing.T, int32) {}

func (k *kfakeTarget) close(*testing.T) { k.c.Close() }

func (k *kfakeTarget) observe(on bool) {
	k.mu.Lock()
	k.on = on
	k.mu.Unlock()
}

func (k *kfakeTarget) versions() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, key := range consumerKeys {
		var vs []int
		for v := range k.seen[key.Int16()] {
			vs = append(vs, int(v))
		}
		if len(vs) == 0 {
			continue
		}
		slices.Sort(vs)
		out = append(out, fmt.Sprintf("%s %v", kmsg.NameForKey(key.Int16()), vs))
	}
	return strings.Join(out, ", ")
}

func freePorts(t *testing.T, n int) []int {
	var lns []net.Listener
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// runGroupCheck is one client's run; it returns its summary line.
func runGroupCheck(t *testing.T, which, bin, client string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var tg target
	if which == "ketch" {
		tg = startKetch(t, bin)
	} else {
		tg = startKfake(t)
	}
	defer tg.close(t)
	topic, group := "groups-"+client, "group-"+client
	logDir := t.TempDir()

	// The admin client names topics, not topic ids: OffsetCommit and
	// OffsetFetch past v9 ask by id.
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(kmsg.OffsetCommit.Int16(), 9)
	vs.SetMaxKeyVersion(kmsg.OffsetFetch.Int16(), 9)
	admin, err := kgo.NewClient(kgo.SeedBrokers(tg.seeds()...), kgo.MaxVersions(vs))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if client == "kgo-848" {
		// kgo falls back to the classic protocol on a broker without
		// ConsumerGroupHeartbeat: that would pass while testing nothing new.
		requireKey(ctx, t, admin, kmsg.ConsumerGroupHeartbeat.Int16())
	}
	createTopic(ctx, t, admin, topic)
	// Start every partition at offset 0 for the group, so that the
	// consumers' reset policy ("latest") is used only if a committed offset
	// goes missing, and then skips records.
	commitZero(ctx, t, admin, group, topic)

	tr := newTracker()
	prod := startProducer(t, tg.seeds(), topic)
	defer prod.stop(t)

	start := func(name string) *consumerProc {
		return startConsumer(t, client, name, tg.seeds(), topic, group, logDir, tr)
	}
	var procs []*consumerProc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
		if t.Failed() || keepAll {
			tr.dump(filepath.Join(logDir, "deliveries.txt"))
			keepLogs(t, logDir, client)
		}
	}()

	// 1. Two members share the partitions.
	tg.observe(true)
	t0, mark0 := time.Now(), prod.next()
	c1, c2 := start("c1"), start("c2")
	procs = append(procs, c1, c2)
	if _, err := tr.waitResumed(ctx, t0, mark0, []string{"c1", "c2"}, resumeTimeout); err != nil {
		t.Fatalf("two members never both consumed: %v", err)
	}
	t.Logf("%s: c1 and c2 both consuming after %.2fs", client, time.Since(t0).Seconds())

	// 2. SIGKILL one: the other must take its partitions over.
	var checks []resumeCheck
	before := committed(ctx, admin, group, topic)
	k1, mark1 := time.Now(), prod.next()
	checks = append(checks, resumeCheck{"c2's SIGKILL", k1, before})
	c2.kill()
	firsts, err := tr.waitResumed(ctx, k1, mark1, []string{"c1"}, resumeTimeout)
	if err != nil {
		t.Fatalf("after c2's SIGKILL: %v", err)
	}
	consumerKill, _ := resumeTimes(k1, firsts, nil, -1)
	t.Logf("%s: c2 SIGKILLed; c1 delivers from every partition %.2fs later", client, consumerKill.Seconds())

	// 3. A new member joins.
	t3, mark3 := time.Now(), prod.next()
	c3 := start("c3")
	procs = append(procs, c3)
	if _, err := tr.waitResumed(ctx, t3, mark3, []string{"c1", "c3"}, resumeTimeout); err != nil {
		t.Fatalf("c3 never joined c1: %v", err)
	}

	// 4. SIGKILL the coordinator's node; bring it back once the group has
	// resumed.
	tg.observe(false)
	coord := coordinator(ctx, t, admin, group)
	before = committed(ctx, admin, group, topic)
	leaders := partitionLeaders(ctx, t, admin, topic)
	tg.observe(true)
	k2, mark2 := time.Now(), prod.next()
	checks = append(checks, resumeCheck{fmt.Sprintf("the coordinator's (node %d) kill", coord), k2, before})
	tg.kill(t, coord)
	firsts, err = tr.waitResumed(ctx, k2, mark2, []string{"c1", "c3"}, resumeTimeout)
	if err != nil {
		t.Fatalf("after the coordinator's (node %d) SIGKILL: %v", coord, err)
	}
	coordKill, _ := resumeTimes(k2, firsts, nil, -1)
	t.Logf("%s: coordinator node %d SIGKILLed; c1 and c3 deliver from every partition %.2fs later", client, coord, coordKill.Seconds())
	tg.restart(t, coord)
	// Keep producing for a while past the kill, so that the pauses measured
	// below also see what comes later: a session timing out on the new
	// coordinator, a member rejoining. This is a measuring window, not a
	// wait for anything.
	select {
	case <-time.After(time.Until(k2.Add(stallWindow))):
	case <-ctx.Done():
	}

	// 5. Stop producing; everything acknowledged must be delivered, and the
	// group's commits must reach the end of every partition.
	stopAt := time.Now()
	acked, failed := prod.stop(t)
	tg.observe(false)
	// How long consumption stood still after the coordinator's kill, per
	// partition, up to the producer's stop: a partition the killed node
	// also led waits for a new partition leader too, the others only for
	// the group (a client may rebalance after its first delivery past the
	// kill, so this counts the longest pause, not the first delivery).
	stallAll, stallOthers := tr.stalls(k2, stopAt, leaders, coord)
	t.Logf("%s: after the coordinator's kill consumption paused at most %.2fs, on the partitions it did not lead (%s) %.2fs",
		client, stallAll.Seconds(), othersOf(leaders, coord), stallOthers.Seconds())
	if v := tg.versions(); v != "" {
		t.Logf("%s sent: %s", client, v)
	}
	missing, err := tr.waitCovered(ctx, acked, drainTimeout)
	if err != nil {
		t.Fatalf("%v (committed offsets: %v)", err, committed(ctx, admin, group, topic))
	}
	if len(missing) > 0 {
		t.Fatalf("%d acknowledged records never delivered: %s (committed offsets: %v)",
			len(missing), describeMissing(missing), committed(ctx, admin, group, topic))
	}
	for _, c := range checks {
		if back := tr.redeliveredBelow(c); len(back) > 0 {
			t.Errorf("after %s the group re-read records below offsets it had committed before it (a committed offset went backwards): %s",
				c.what, strings.Join(back, "; "))
		}
	}
	if bad := tr.conflicts(); len(bad) > 0 {
		t.Fatalf("records delivered with another value than was acknowledged at their offset: %v", bad)
	}
	ends := endOffsets(acked)
	waitCommitted(ctx, t, admin, group, topic, ends)

	delivered, dups := tr.counts()
	return fmt.Sprintf("%-24s acked %5d (failed %d) delivered %5d (duplicates %4d); resumed after consumer SIGKILL %5.2fs, after coordinator (node %d) kill %5.2fs; longest pause after it %5.2fs (%5.2fs where it led no partition)",
		client, len(acked), failed, delivered, dups, consumerKill.Seconds(), coord, coordKill.Seconds(), stallAll.Seconds(), stallOthers.Seconds())
}

// resumeTimes is how long after since the last partition resumed, and the
// last of those whose leader (in leaders) was not node.
func resumeTimes(since time.Time, firsts [partitionsN]time.Time, leaders map[int32]int32, node int32) (all, others time.Duration) {
	for p, at := range firsts {
		d := at.Sub(since)
		all = max(all, d)
		if l, ok := leaders[int32(p)]; !ok || l != node {
			others = max(others, d)
		}
	}
	return all, others
}

// stalls is the longest pause in deliveries between from and to (from from
// to the first delivery, between deliveries, from the last to to), over all
// partitions and over those whose leader was not node.
func (tr *tracker) stalls(from, to time.Time, leaders map[int32]int32, node int32) (all, others time.Duration) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for p := range tr.parts {
		prev, longest := from, time.Duration(0)
		for _, d := range tr.parts[p] {
			if d.at.Before(from) || d.at.After(to) {
				continue
			}
			longest = max(longest, d.at.Sub(prev))
			prev = d.at
		}
		longest = max(longest, to.Sub(prev))
		all = max(all, longest)
		if leaders[int32(p)] != node {
			others = max(others, longest)
		}
	}
	return all, others
}

// othersOf lists the partitions whose leader is not node.
func othersOf(leaders map[int32]int32, node int32) string {
	var ps []string
	for p := range int32(partitionsN) {
		if leaders[p] != node {
			ps = append(ps, strconv.Itoa(int(p)))
		}
	}
	return "partitions " + strings.Join(ps, ",")
}

// partitionLeaders is each partition's leader as Metadata names it.
func partitionLeaders(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) map[int32]int32 {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	out := map[int32]int32{}
	for _, p := range resp.Topics[0].Partitions {
		out[p.Partition] = p.Leader
	}
	return out
}

func keepLogs(t *testing.T, dir, client string) {
	keep, err := os.MkdirTemp("", "ketch-groups-"+client+"-consumers-")
	if err != nil {
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		os.WriteFile(filepath.Join(keep, e.Name()), b, 0o644)
	}
	t.Logf("consumer logs kept in %s", keep)
}

// requireKey fails the test unless the cluster advertises API key.
func requireKey(ctx context.Context, t *testing.T, cl *kgo.Client, key int16) {
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == key {
			return
		}
	}
	t.Fatalf("the broker does not advertise %s (key %d): kgo would run the classic protocol instead", kmsg.NameForKey(key), key)
}

// createTopic creates topic with partitionsN partitions and RF 3 and waits
// until Metadata names a leader for each.
func createTopic(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) {
	createTopicN(ctx, t, cl, topic, partitionsN)
}

// createTopicN is createTopic with n partitions.
func createTopicN(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, n int32) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, n, 3
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 10000
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && len(resp.Topics) == 1 {
			code := resp.Topics[0].ErrorCode
			if code == 0 || code == kerr.TopicAlreadyExists.Code {
				break
			}
			err = kerr.ErrorForCode(code)
		}
		if time.Now().After(deadline) {
			t.Fatalf("create topic %s: %v", topic, err)
		}
		time.Sleep(200 * time.Millisecond) // retrying a request the cluster refused
	}
	for {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 && len(resp.Topics[0].Partitions) == int(n) {
			ok := true
			for _, p := range resp.Topics[0].Partitions {
				ok = ok && p.ErrorCode == 0 && p.Leader >= 0
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s has no leader for every partition after 30s (last error %v)", topic, err)
		}
		time.Sleep(200 * time.Millisecond) // polling the cluster's state
	}
}

// commitZero commits offset 0 of every partition for group, as an admin
// tool does (generation -1, no member).
func commitZero(ctx context.Context, t *testing.T, cl *kgo.Client, group, topic string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = group, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		for p := range int32(partitionsN) {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, 0, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode != 0 && err == nil {
						err = fmt.Errorf("partition %d: %w", rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
					}
				}
			}
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("commit offset 0 for %s: %v", group, err)
		}
		time.Sleep(200 * time.Millisecond) // retrying a request the cluster refused
	}
}

// coordinator asks FindCoordinator which node coordinates group.
func coordinator(ctx context.Context, t *testing.T, cl *kgo.Client, group string) int32 {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = group
		req.CoordinatorKeys = []string{group}
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			node, code := resp.NodeID, resp.ErrorCode
			if len(resp.Coordinators) > 0 {
				node, code = resp.Coordinators[0].NodeID, resp.Coordinators[0].ErrorCode
			}
			if code == 0 {
				return node
			}
			err = kerr.ErrorForCode(code)
		}
		if time.Now().After(deadline) {
			t.Fatalf("find coordinator of %s: %v", group, err)
		}
		time.Sleep(200 * time.Millisecond) // retrying a request the cluster refused
	}
}

// committed is the group's committed offsets by partition (for messages).
func committed(ctx context.Context, cl *kgo.Client, group, topic string) map[int32]int64 {
	out := map[int32]int64{}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	for p := range int32(partitionsN) {
		rt.Partitions = append(rt.Partitions, p)
	}
	req.Topics = append(req.Topics, rt)
	// v8+ asks by Groups; kgo picks the version, so fill both forms.
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	gt := kmsg.NewOffsetFetchRequestGroupTopic()
	gt.Topic, gt.Partitions = topic, rt.Partitions
	rg.Topics = append(rg.Topics, gt)
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		out[-1] = -1
		return out
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode == 0 {
				out[rp.Partition] = rp.Offset
			}
		}
	}
	for _, g := range resp.Groups {
		for _, rt := range g.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode == 0 {
					out[rp.Partition] = rp.Offset
				}
			}
		}
	}
	return out
}

// waitCommitted waits until the group's commits reach ends.
func waitCommitted(ctx context.Context, t *testing.T, cl *kgo.Client, group, topic string, ends map[int32]int64) {
	deadline := time.Now().Add(commitTimeout)
	for {
		got := committed(ctx, cl, group, topic)
		ok := true
		for p, e := range ends {
			ok = ok && got[p] == e
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group's committed offsets %v never reached the ends %v in %v", got, ends, commitTimeout)
		}
		time.Sleep(200 * time.Millisecond) // polling the cluster's state
	}
}

// ack is one record the producer was told is written.
type ack struct {
	partition int32
	offset    int64
	seq       int
}

func value(seq int) string { return fmt.Sprintf("v-%07d", seq) }

func endOffsets(acked []ack) map[int32]int64 {
	ends := map[int32]int64{}
	for _, a := range acked {
		ends[a.partition] = max(ends[a.partition], a.offset+1)
	}
	return ends
}

// producer writes a record every produceInterval with acks=all (kgo's
// default, idempotent), round robin over the partitions, and keeps what it
// was told.
type producer struct {
	cl   *kgo.Client
	quit chan struct{}
	done chan struct{}

	mu      sync.Mutex
	seq     int
	acked   []ack
	failed  int
	stopped bool
}

func startProducer(t *testing.T, seeds []string, topic string) *producer {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	p := &producer{cl: cl, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(produceInterval)
		defer tick.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-tick.C:
			}
			p.mu.Lock()
			seq := p.seq
			p.seq++
			p.mu.Unlock()
			r := &kgo.Record{Partition: int32(seq % partitionsN), Value: []byte(value(seq))}
			cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
				p.mu.Lock()
				defer p.mu.Unlock()
				if err != nil {
					p.failed++
					return
				}
				p.acked = append(p.acked, ack{r.Partition, r.Offset, seq})
			})
		}
	}()
	return p
}

// next is the sequence number of the next record to be produced: records
// from it on are produced after this call.
func (p *producer) next() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// stop stops producing, waits for every outstanding record's answer (up to
// a minute) and returns the acknowledged ones. It may be called again.
func (p *producer) stop(t *testing.T) ([]ack, int) {
	p.mu.Lock()
	stopped := p.stopped
	p.stopped = true
	p.mu.Unlock()
	if !stopped {
		close(p.quit)
		<-p.done
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := p.cl.Flush(ctx); err != nil {
			t.Errorf("producer flush: %v", err)
		}
		cancel()
		p.cl.Close()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.acked), p.failed
}

// consumerProc is one consumer process.
type consumerProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func startConsumer(t *testing.T, client, name string, seeds []string, topic, group, logDir string, tr *tracker) *consumerProc {
	var cmd *exec.Cmd
	switch {
	case client == "kafka-python":
		// Debian's python3-kafka installs for the system python.
		cmd = exec.Command("/usr/bin/python3", "kafka_python_group.py", strings.Join(seeds, ","), topic, group)
	case client == "kcat":
		cmd = exec.Command("kcat", "-b", strings.Join(seeds, ","), "-G", group, "-u",
			"-f", `R %p %o %s\n`,
			"-X", "client.id=ketch-interop-kcat",
			"-X", fmt.Sprintf("session.timeout.ms=%d", sessionTimeout.Milliseconds()),
			"-X", fmt.Sprintf("heartbeat.interval.ms=%d", heartbeatInterval.Milliseconds()),
			"-X", fmt.Sprintf("auto.commit.interval.ms=%d", commitInterval.Milliseconds()),
			"-X", "auto.offset.reset=latest",
			topic)
	default: // the Go clients: this test binary as a child
		cmd = exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), consumerEnv+"="+client,
			"KETCH_INTEROP_SEEDS="+strings.Join(seeds, ","),
			"KETCH_INTEROP_TOPIC="+topic, "KETCH_INTEROP_GROUP="+group)
	}
	logf, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s consumer %s: %v", client, name, err)
	}
	p := &consumerProc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		tr.read(name, out)
		cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p
}

// kill is a crash: SIGKILL, no goodbye to the group.
func (p *consumerProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop ends the consumer at the end of the test: SIGTERM, then SIGKILL.
func (p *consumerProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.kill()
	}
}

// delivery is one record a consumer handed to its application.
type delivery struct {
	at       time.Time
	consumer string
	seq      int
	offset   int64
}

// tracker collects what every consumer delivered, as it arrives.
type tracker struct {
	mu        sync.Mutex
	changed   chan struct{} // closed and replaced at every delivery
	byOffset  map[[2]int64]int
	conflict  []string
	parts     [partitionsN][]delivery
	delivered int
}

func newTracker() *tracker {
	return &tracker{changed: make(chan struct{}), byOffset: map[[2]int64]int{}}
}

// read parses a consumer's stdout until it closes.
func (tr *tracker) read(name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "R" {
			continue
		}
		part, err1 := strconv.Atoi(f[1])
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		seq, err3 := strconv.Atoi(strings.TrimPrefix(f[3], "v-"))
		tr.mu.Lock()
		if err1 != nil || err2 != nil || err3 != nil || part < 0 || part >= partitionsN {
			tr.conflict = append(tr.conflict, fmt.Sprintf("%s printed %q", name, sc.Text()))
		} else {
			key := [2]int64{int64(part), off}
			if prev, ok := tr.byOffset[key]; ok && prev != seq {
				tr.conflict = append(tr.conflict, fmt.Sprintf("partition %d offset %d delivered as %s and %s", part, off, value(prev), value(seq)))
			}
			tr.byOffset[key] = seq
			tr.parts[part] = append(tr.parts[part], delivery{time.Now(), name, seq, off})
			tr.delivered++
		}
		close(tr.changed)
		tr.changed = make(chan struct{})
		tr.mu.Unlock()
	}
}

// waitResumed waits until every partition has delivered a record produced
// from mark on and every consumer in need has delivered one, and returns
// when each partition first did.
func (tr *tracker) waitResumed(ctx context.Context, since time.Time, mark int, need []string, timeout time.Duration) ([partitionsN]time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		tr.mu.Lock()
		var firsts [partitionsN]time.Time
		var idle []int
		seen := map[string]bool{}
		for p := range tr.parts {
			for _, d := range tr.parts[p] {
				if d.seq >= mark && d.at.After(since) {
					if firsts[p].IsZero() {
						firsts[p] = d.at
					}
					seen[d.consumer] = true
				}
			}
			if firsts[p].IsZero() {
				idle = append(idle, p)
			}
		}
		var absent []string
		for _, c := range need {
			if !seen[c] {
				absent = append(absent, c)
			}
		}
		changed := tr.changed
		tr.mu.Unlock()
		if len(idle) == 0 && len(absent) == 0 {
			return firsts, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return firsts, ctx.Err()
		case <-deadline.C:
			return firsts, fmt.Errorf("after %v: partitions %v delivered nothing new, consumers %v delivered nothing new", timeout, idle, absent)
		}
	}
}

// waitCovered waits until every acknowledged record has been delivered,
// and returns the ones that never were.
func (tr *tracker) waitCovered(ctx context.Context, acked []ack, timeout time.Duration) ([]ack, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		tr.mu.Lock()
		var missing []ack
		for _, a := range acked {
			if _, ok := tr.byOffset[[2]int64{int64(a.partition), a.offset}]; !ok {
				missing = append(missing, a)
			}
		}
		changed := tr.changed
		tr.mu.Unlock()
		if len(missing) == 0 {
			return nil, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return missing, ctx.Err()
		case <-deadline.C:
			return missing, nil
		}
	}
}

// resumeCheck is the group's committed offsets read just before a kill.
type resumeCheck struct {
	what      string
	at        time.Time
	committed map[int32]int64
}

// redeliveredBelow lists, per partition, the records delivered again after
// c.at that had been delivered before it and lie below the offset committed
// before it. A consumer that takes a partition over starts from its
// committed offset, and commits only move forward, so such a re-read means
// the group resumed from an older offset than it had committed: what a
// coordinator answering OffsetFetch before it has loaded its log does
// (KAFKA-16030). Records first delivered after c.at are not counted: a
// client may commit records it has polled but not yet printed.
func (tr *tracker) redeliveredBelow(c resumeCheck) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for p := range tr.parts {
		limit, ok := c.committed[int32(p)]
		if !ok {
			continue
		}
		seenBefore := map[int64]bool{}
		lowest, n := int64(-1), 0
		for _, d := range tr.parts[p] {
			if !d.at.After(c.at) {
				seenBefore[d.offset] = true
				continue
			}
			if d.offset < limit && seenBefore[d.offset] {
				if lowest < 0 || d.offset < lowest {
					lowest = d.offset
				}
				n++
			}
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("partition %d: %d records re-read from offset %d, committed %d", p, n, lowest, limit))
		}
	}
	return out
}

// dump writes every delivery, by partition, for a failed run's post-mortem.
func (tr *tracker) dump(path string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var b strings.Builder
	for p := range tr.parts {
		for _, d := range tr.parts[p] {
			fmt.Fprintf(&b, "%s p%d o%d %s %s\n", d.at.Format("15:04:05.000"), p, d.offset, value(d.seq), d.consumer)
		}
	}
	os.WriteFile(path, []byte(b.String()), 0o644)
}

func (tr *tracker) conflicts() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.conflict)
}

func (tr *tracker) counts() (delivered, duplicates int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.delivered, tr.delivered - len(tr.byOffset)
}

// describeMissing names the missing offsets as ranges per partition.
func describeMissing(missing []ack) string {
	by := map[int32][]int64{}
	for _, a := range missing {
		by[a.partition] = append(by[a.partition], a.offset)
	}
	var parts []int32
	for p := range by {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var out []string
	for _, p := range parts {
		offs := by[p]
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		var rs []string
		lo, hi := offs[0], offs[0]
		for _, o := range offs[1:] {
			if o == hi+1 {
				hi = o
				continue
			}
			rs = append(rs, fmt.Sprintf("%d-%d", lo, hi))
			lo, hi = o, o
		}
		rs = append(rs, fmt.Sprintf("%d-%d", lo, hi))
		out = append(out, fmt.Sprintf("p%d: %s", p, strings.Join(rs, ",")))
	}
	return strings.Join(out, "; ")
}
