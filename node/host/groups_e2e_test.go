package host_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/node"
)

// TestE2EGroupCommitResume is a franz-go group consumer as applications
// run it: it consumes part of a topic and commits, leaves; the next member
// of the group resumes from the committed offset, across a restart of the
// broker. admin calls see the group and its offsets, and delete it
// once empty.
func TestE2EGroupCommitResume(t *testing.T) {
	const (
		topic   = "grp"
		records = 200
		first   = 120 // what the first consumer commits
	)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := node.Config{GroupInitialRebalanceDelay: -1}
	h := startHost(t, dir, cfg)

	pr, err := kgo.NewClient(kgo.SeedBrokers(h.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	for i := range records {
		if err := pr.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(e2eValue(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	pr.Close()

	// consume reads n records as a member of group "g" (from the group's
	// committed offset, else the start), commits what it read, and leaves.
	consume := func(addr string, wantFirst int64, n int) {
		t.Helper()
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(addr),
			kgo.ConsumerGroup("g"),
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.DisableAutoCommit(),
		)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var got []*kgo.Record
		for len(got) < n {
			fs := cl.PollRecords(ctx, n-len(got))
			if ctx.Err() != nil {
				t.Fatalf("consume: %d of %d records before the deadline", len(got), n)
			}
			fs.EachError(func(_ string, p int32, err error) { t.Fatalf("consume [%d]: %v", p, err) })
			got = append(got, fs.Records()...)
		}
		for i, r := range got {
			want := wantFirst + int64(i)
			if r.Offset != want || string(r.Value) != e2eValue(int(want)) {
				t.Fatalf("record %d: offset %d %q, want offset %d", i, r.Offset, r.Value, want)
			}
		}
		if err := cl.CommitRecords(ctx, got...); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	consume(h.Addr(), 0, first)

	closeHost(t, h)
	h = startHost(t, dir, cfg)
	defer closeHost(t, h)

	consume(h.Addr(), first, records-first)

	adm, err := kgo.NewClient(kgo.SeedBrokers(h.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	// Admin calls as kadm makes them (kgo routes each to the group's
	// coordinator).
	committed := func() int64 {
		t.Helper()
		req := kmsg.NewPtrOffsetFetchRequest()
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = "g"
		req.Groups = append(req.Groups, rg)
		resp, err := req.RequestWith(ctx, adm)
		if err != nil || len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
			t.Fatalf("fetch offsets: %v %+v", err, resp)
		}
		for _, rt := range resp.Groups[0].Topics {
			for _, p := range rt.Partitions {
				if rt.Topic == topic && p.Partition == 0 {
					return p.Offset
				}
			}
		}
		return -1
	}
	if o := committed(); o != records {
		t.Fatalf("committed offset %d, want %d", o, records)
	}
	lr, err := kmsg.NewPtrListGroupsRequest().RequestWith(ctx, adm)
	if err != nil || lr.ErrorCode != 0 || len(lr.Groups) != 1 || lr.Groups[0].Group != "g" ||
		lr.Groups[0].GroupState != "Empty" || lr.Groups[0].ProtocolType != "consumer" {
		t.Fatalf("list groups: %v %+v", err, lr)
	}
	dr := kmsg.NewPtrDescribeGroupsRequest()
	dr.Groups = []string{"g"}
	dresp, err := dr.RequestWith(ctx, adm)
	if err != nil || dresp.Groups[0].ErrorCode != 0 || dresp.Groups[0].State != "Empty" || len(dresp.Groups[0].Members) != 0 {
		t.Fatalf("describe: %v %+v", err, dresp)
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g"}
	delResp, err := del.RequestWith(ctx, adm)
	if err != nil || delResp.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete: %v %+v", err, delResp)
	}
	if o := committed(); o != -1 {
		t.Fatalf("committed offset after delete: %d", o)
	}
}
