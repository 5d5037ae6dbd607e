package sim

// The overload client: phases in which it parks many fetches at once on a
// partition's leader (long MaxWait, MinBytes far above what arrives, at the
// log end as ListOffsets names it), about a thousand per connection, and
// pipelines one connection past the node's in-flight limit (connSlotsMax in
// node/conn.go), which the node must answer by closing it. What the parked
// fetches return is checked like any read: the first and the last of each
// connection go into the history (the last ones of a phase past the node's
// parked-fetch limit are answered at once). Any subset of the reads is a
// sound history, and a few dozen keep porcupine cheap where thousands of
// reads of one partition, all open together, would not.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ketch-dev/ketch/checker"
)

const (
	parkedPerConn   = 1000 // fetches parked on one connection (below the node's limit)
	overflowPerConn = 1040 // fetches pipelined on the connection meant to overflow (connSlotsMax is 1024)
)

func (c *client) overloadStart() {
	phases := 1 + c.rng.IntN(2)
	for i := 0; i < phases; i++ {
		at := c.rng.Int64N(max(int64(c.w.cfg.Duration)-int64(4*time.Second), int64(time.Second))) + int64(time.Second)
		c.later(at, "overload-phase(client)", c.overloadPhase)
	}
}

func (c *client) overloadPhase() {
	if !c.running() {
		return
	}
	// All on one partition's leader: the node-wide limit on parked fetches
	// (fetchWaitsMax in node) is reached only when one node holds them.
	pr, ok := c.pickPartition()
	if !ok {
		return
	}
	left := c.w.cfg.ParkedFetches
	c.w.record("overload phase")
	for k := 0; left > 0; k++ {
		n := min(parkedPerConn, left)
		left -= n
		if k == 0 {
			n = overflowPerConn
		}
		c.overloadConn(pr, n, true)
	}
}

// overloadConn parks n fetches on a connection of their own to the
// partition's leader, at the log end.
func (c *client) overloadConn(pr partRef, n int, refresh bool) {
	if !c.running() || !pr.live() {
		return
	}
	leader := c.leader(pr)
	if leader == 0 {
		if refresh {
			c.refresh(func() { c.overloadConn(pr, n, false) })
		}
		return
	}
	cn := c.w.dial(c, leader)
	if cn == nil {
		return
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = int16(1 + c.rng.IntN(6)) // 1..6
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = pr.topic()
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = pr.p
	rp.Timestamp = -1 // latest
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.w.sendFor(cn, pr.ts, req, requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.ListOffsetsResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 || !pr.live() {
			c.w.cutConn(cn)
			return
		}
		off := resp.Topics[0].Partitions[0].Offset
		for i := 0; i < n && cn.open; i++ {
			c.parkFetch(cn, pr, off, i == 0 || i == n-1)
		}
	}, func() {})
}

func (c *client) parkFetch(cn *simConn, pr partRef, offset int64, sampled bool) {
	version := int16(4 + c.rng.IntN(13)) // 4..16
	wait := time.Duration(c.rng.between(int64(time.Second), int64(4*time.Second)))
	req := c.w.fetchOne(pr, c.w.topicVersion(version, 13), offset, 4<<10, -1)
	req.MaxWaitMillis = int32(wait / time.Millisecond)
	req.MinBytes = 1 << 20
	req.MaxBytes = 1 << 20
	op := checker.Op{Client: c.id, Kind: checker.Fetch, Partition: pr.name(), Call: c.w.now, Offset: offset}
	// As kgo does, the request may take MaxWait plus the usual timeout.
	c.w.sendFor(cn, pr.ts, req, int64(wait)+requestTimeout, func(r kmsg.Response) {
		resp := r.(*kmsg.FetchResponse)
		if !sampled || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return
		}
		fp := resp.Topics[0].Partitions[0]
		if fp.ErrorCode != 0 {
			return
		}
		recs, err := c.w.decodeRecords(fp.RecordBatches, offset)
		if err != nil {
			c.w.violate("c%d: fetch of %s at %d returned undecodable records: %v", c.id, op.Partition, offset, err)
			return
		}
		op.Return, op.OK, op.Records, op.HighWatermark = c.w.now, true, recs, fp.HighWatermark
		c.record(&op)
	}, func() {})
}
