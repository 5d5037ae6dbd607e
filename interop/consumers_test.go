package interop

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The Go clients run as child processes of the test binary (TestMain
// dispatches on consumerEnv), so that killing a consumer is a real SIGKILL:
// no LeaveGroup, no last commit, sockets left to the broker to notice, as
// when a process crashes. Every consumer, whatever its language, prints one
// line per record it hands to the application, "R <partition> <offset>
// <value>", and the test reads those lines as they come.
const consumerEnv = "KETCH_INTEROP_CONSUMER"

// runConsumerChild is the child's main: args come from the environment,
// set by consumerCmd.
func runConsumerChild(kind string) int {
	seeds := strings.Split(os.Getenv("KETCH_INTEROP_SEEDS"), ",")
	topic, group := os.Getenv("KETCH_INTEROP_TOPIC"), os.Getenv("KETCH_INTEROP_GROUP")
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	var err error
	switch {
	case strings.HasPrefix(kind, "kgo-"):
		err = runKgo(ctx, strings.TrimPrefix(kind, "kgo-"), seeds, topic, group)
	case kind == "sarama":
		err = runSarama(ctx, seeds, topic, group)
	default:
		err = fmt.Errorf("unknown consumer %q", kind)
	}
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "consumer %s: %v\n", kind, err)
		return 1
	}
	return 0
}

// runKgo consumes with franz-go's group consumer. The balancer is range,
// sticky or cooperative-sticky (classic protocol, the client assigns), or
// 848 (KIP-848: kgo.ServerSideBalancer with a range balancer, the broker
// assigns; kgo falls back to the classic protocol if the broker does not
// offer ConsumerGroupHeartbeat, so the child says which one it ran).
func runKgo(ctx context.Context, balancer string, seeds []string, topic, group string) error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.SessionTimeout(sessionTimeout),
		kgo.HeartbeatInterval(heartbeatInterval),
		kgo.AutoCommitInterval(commitInterval),
		// A committed offset that got lost would restart the partition at
		// its end: a gap the test sees, not a silent re-read.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			fmt.Fprintf(os.Stderr, "assigned %v\n", m)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			fmt.Fprintf(os.Stderr, "revoked %v\n", m)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			fmt.Fprintf(os.Stderr, "lost %v\n", m)
		}),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)),
	}
	switch balancer {
	case "range":
		opts = append(opts, kgo.Balancers(kgo.RangeBalancer()))
	case "sticky":
		opts = append(opts, kgo.Balancers(kgo.StickyBalancer()))
	case "cooperative-sticky":
		opts = append(opts, kgo.Balancers(kgo.CooperativeStickyBalancer()))
	case "848":
		opts = append(opts, kgo.Balancers(kgo.RangeBalancer()), kgo.ServerSideBalancer())
	default:
		return fmt.Errorf("unknown balancer %q", balancer)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			fmt.Fprintf(os.Stderr, "fetch error %s[%d]: %v\n", t, p, err)
		})
		var b strings.Builder
		fs.EachRecord(func(r *kgo.Record) {
			fmt.Fprintf(&b, "R %d %d %s\n", r.Partition, r.Offset, r.Value)
		})
		os.Stdout.WriteString(b.String())
	}
	return nil
}

// runSarama consumes with IBM/sarama's ConsumerGroup at its defaults (range
// strategy, the protocol version it defaults to) but for the timeouts every
// client here shares.
func runSarama(ctx context.Context, seeds []string, topic, group string) error {
	cfg := sarama.NewConfig()
	cfg.ClientID = "ketch-interop-sarama"
	cfg.Consumer.Group.Session.Timeout = sessionTimeout
	cfg.Consumer.Group.Heartbeat.Interval = heartbeatInterval
	cfg.Consumer.Offsets.AutoCommit.Interval = commitInterval
	cfg.Consumer.Offsets.Initial = sarama.OffsetNewest
	cfg.Consumer.Return.Errors = true
	sarama.Logger = saramaLogger{}
	g, err := sarama.NewConsumerGroup(seeds, group, cfg)
	if err != nil {
		return err
	}
	defer g.Close()
	go func() {
		for err := range g.Errors() {
			fmt.Fprintf(os.Stderr, "sarama error: %v\n", err)
		}
	}()
	for ctx.Err() == nil {
		// Consume returns at every rebalance; calling it again rejoins.
		if err := g.Consume(ctx, []string{topic}, saramaHandler{}); err != nil {
			fmt.Fprintf(os.Stderr, "sarama consume: %v\n", err)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

type saramaLogger struct{}

func (saramaLogger) Print(v ...any)                 { fmt.Fprint(os.Stderr, v...) }
func (saramaLogger) Printf(format string, v ...any) { fmt.Fprintf(os.Stderr, format, v...) }
func (saramaLogger) Println(v ...any)               { fmt.Fprintln(os.Stderr, v...) }

type saramaHandler struct{}

func (saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	fmt.Fprintf(os.Stderr, "sarama: generation %d member %s claims %v\n", s.GenerationID(), s.MemberID(), s.Claims())
	return nil
}
func (saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		fmt.Fprintf(os.Stdout, "R %d %d %s\n", m.Partition, m.Offset, m.Value)
		s.MarkMessage(m, "")
	}
	return nil
}
