package host_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ketch-dev/ketch/node"
)

// TestE2ETopicConfigsKadm drives topic configs as an operator's Go tool
// does, through kadm against a real node: CreateTopic with configs,
// DescribeTopicConfigs, AlterTopicConfigs, CreatePartitions, and a produce
// over max.message.bytes refused with MESSAGE_TOO_LARGE.
func TestE2ETopicConfigsKadm(t *testing.T) {
	h := startHost(t, t.TempDir(), node.Config{BrokerConfigs: map[string]string{"log.retention.hours": "24"}})
	defer closeHost(t, h)
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.Addr()), kgo.ProducerBatchMaxBytes(4<<20), kgo.RecordRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("1x")}, "bad"); !strings.Contains(errString(err), "INVALID_CONFIG") {
		t.Fatalf("bad config: %v, want INVALID_CONFIG", err)
	}
	ct, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("4096"), "cleanup.policy": kadm.StringPtr("compact")}, "kadm-cfg")
	if err != nil || ct.Err != nil {
		t.Fatalf("create: %v %v", err, ct.Err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "kadm-cfg")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("kadm-cfg", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe: %v %v", err, rc.Err)
	}
	got := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		got[c.Key] = c
	}
	if c := got["max.message.bytes"]; c.MaybeValue() != "4096" || c.Source != 1 { // DYNAMIC_TOPIC_CONFIG
		t.Fatalf("max.message.bytes %+v", c)
	}
	if c := got["retention.ms"]; c.MaybeValue() != "86400000" || c.Source != 4 { // STATIC_BROKER_CONFIG, from log.retention.hours
		t.Fatalf("retention.ms %+v", c)
	}

	// Incompressible, so kgo's default snappy keeps the batch over 4096.
	v := make([]byte, 8000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	big := &kgo.Record{Topic: "kadm-cfg", Key: []byte("k"), Value: v} // kadm-cfg is compacted: keyed
	if err := cl.ProduceSync(ctx, big).FirstErr(); !isErr(err, kerr.MessageTooLarge) {
		t.Fatalf("produce over max.message.bytes: %v, want MESSAGE_TOO_LARGE", err)
	}
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("65536")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")},
	}, "kadm-cfg")
	if err != nil || ar[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, ar)
	}
	if err := cl.ProduceSync(ctx, big).FirstErr(); err != nil {
		t.Fatalf("produce under the raised max.message.bytes: %v", err)
	}
	rcs, err = adm.DescribeTopicConfigs(ctx, "kadm-cfg")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ = rcs.On("kadm-cfg", nil)
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.MaybeValue() != "compact,delete" {
			t.Fatalf("cleanup.policy after append: %q", c.MaybeValue())
		}
	}

	cp, err := adm.CreatePartitions(ctx, 2, "kadm-cfg")
	if err != nil || cp["kadm-cfg"].Err != nil {
		t.Fatalf("create partitions: %v %+v", err, cp)
	}
	var parts int
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		td, err := adm.ListTopics(ctx, "kadm-cfg")
		if err != nil {
			t.Fatal(err)
		}
		parts = len(td["kadm-cfg"].Partitions)
		if parts == 3 && td["kadm-cfg"].Partitions[2].Leader == 1 {
			break
		}
	}
	if parts != 3 {
		t.Fatalf("partitions after CreatePartitions(+2): %d", parts)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kadm-cfg", Partition: 2, Key: []byte("k"), Value: []byte("p2")}).FirstErr(); err != nil {
		t.Fatalf("produce to a new partition: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func isErr(err, want error) bool {
	return err != nil && strings.Contains(err.Error(), want.Error())
}
