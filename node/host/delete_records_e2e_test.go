package host_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ketch-dev/ketch/node"
)

// TestE2EDeleteRecordsKadm deletes records as an operator's Go tool does,
// through kadm against a real node: the low watermark answered, the start
// offset listed after, a consumer from the start reading from there, and an
// offset past the high watermark refused with OFFSET_OUT_OF_RANGE.
func TestE2EDeleteRecordsKadm(t *testing.T) {
	h := startHost(t, t.TempDir(), node.Config{})
	defer closeHost(t, h)
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.Addr()), kgo.DefaultProduceTopic("kadm-del"), kgo.RecordRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if ct, err := adm.CreateTopic(ctx, 1, 1, nil, "kadm-del"); err != nil || ct.Err != nil {
		t.Fatalf("create: %v %v", err, ct.Err)
	}
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint("v", i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "kadm-del", Partition: 0, At: 7})
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := dr.Lookup("kadm-del", 0); !ok || r.Err != nil || r.LowWatermark != 7 {
		t.Fatalf("delete records to 7: %+v", r)
	}
	starts, err := adm.ListStartOffsets(ctx, "kadm-del")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := starts.Lookup("kadm-del", 0); !ok || o.Err != nil || o.Offset != 7 {
		t.Fatalf("start offset after the delete: %+v", o)
	}
	var past kadm.Offsets
	past.Add(kadm.Offset{Topic: "kadm-del", Partition: 0, At: 11})
	dr, err = adm.DeleteRecords(ctx, past)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("kadm-del", 0); !isErr(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete records past the high watermark: %+v, want OFFSET_OUT_OF_RANGE", r)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(h.Addr()), kgo.ConsumeTopics("kadm-del"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	for len(got) < 3 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v before the deadline", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, fmt.Sprintf("%d:%s", r.Offset, r.Value)) })
	}
	if fmt.Sprint(got) != "[7:v7 8:v8 9:v9]" {
		t.Fatalf("consumed from the start: %v", got)
	}
}
