package interop

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ketch-dev/ketch/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupProtocolDiff plays one scripted classic-group conversation at
// every JoinGroup version (0-9, with the SyncGroup, Heartbeat, LeaveGroup and
// FindCoordinator versions of the same era) against kfake and against a
// three-node ketch cluster, on raw connections so that each version is the
// one asked for, and fails listing every step whose answer differs: the
// request, its version, ketch's error code and kfake's (franz-go's fake,
// written to answer as Kafka does; where it does not, see below). The
// steps: FindCoordinator, JoinGroup to a node that is not the coordinator,
// with a 1 ms session timeout, with no member id and again with the one
// given, SyncGroup right and one generation ahead, Heartbeat right, one
// generation ahead and from an unknown member, a JoinGroup of another
// protocol type, OffsetCommit (v = the JoinGroup version) right, one
// generation ahead, from an unknown member and to an unknown topic,
// OffsetFetch of the commit and of a group nobody joined, LeaveGroup, and
// a Heartbeat after it. KETCH_GROUPS_DIFF=1 runs it;
// KETCH_NODE_BINARY is a prebuilt cmd/node.
func TestGroupProtocolDiff(t *testing.T) {
	if os.Getenv("KETCH_GROUPS_DIFF") != "1" {
		t.Skip("classic group protocol, ketch against kfake: set KETCH_GROUPS_DIFF=1 to run")
	}
	bin := os.Getenv("KETCH_NODE_BINARY")
	if bin == "" {
		bin = buildNode(t, false)
	}
	kf, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	kt := startKetch(t, bin)
	defer kt.close(t)

	for _, seeds := range [][]string{kf.ListenAddrs(), kt.seeds()} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
		if err != nil {
			t.Fatal(err)
		}
		createTopicN(context.Background(), t, cl, diffTopic, 2)
		cl.Close()
	}
	fake := playAll(t, kf.ListenAddrs())
	ours := playAll(t, kt.seeds())
	var diffs []string
	// From v1 on: kfake reads JoinGroup v0's absent rebalance timeout as 0
	// and drops the member at once (UNKNOWN_MEMBER_ID on its SyncGroup),
	// where Kafka takes the session timeout; v0's transcript is logged but
	// not compared.
	for v := 1; v < len(fake); v++ {
		f, o := fake[v], ours[v]
		for i := range max(len(f), len(o)) {
			if i < len(o) && strings.HasPrefix(o[i], uncompared) {
				if strings.Count(o[i], "ok offset -1 epoch -1") != 2 || strings.Contains(o[i], "_") {
					diffs = append(diffs, fmt.Sprintf("JoinGroup v%d era, step %d: ketch: %s; want offset -1 and no error for both partitions", v, i+1, o[i]))
				}
				continue
			}
			var fs, ks string
			if i < len(f) {
				fs = f[i]
			}
			if i < len(o) {
				ks = o[i]
			}
			if fs != ks {
				diffs = append(diffs, fmt.Sprintf("JoinGroup v%d era, step %d:\n\tketch: %s\n\tkfake: %s", v, i+1, ks, fs))
			}
		}
	}
	if len(diffs) > 0 || testing.Verbose() {
		for v := range ours {
			t.Logf("v%d era on ketch:\n\t%s", v, strings.Join(ours[v], "\n\t"))
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("%d steps answered differently:\n%s", len(diffs), strings.Join(diffs, "\n"))
	}
	t.Logf("JoinGroup v1-v9 eras: ketch and kfake gave the same answers at every step")
}

const joinVersionsMax = 9

// playAll runs the script for every era at once (each on its own group, so
// the initial rebalance delays overlap) and returns each era's transcript.
func playAll(t *testing.T, seeds []string) [joinVersionsMax + 1][]string {
	var out [joinVersionsMax + 1][]string
	var wg sync.WaitGroup
	for v := range int16(joinVersionsMax + 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[v] = play(seeds, v)
		}()
	}
	wg.Wait()
	return out
}

// play is one era's conversation; each line is a step and what it got.
func play(seeds []string, joinV int16) []string {
	var lines []string
	step := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	syncV, hbV, leaveV, findV := min(joinV, 5), min(joinV, 4), min(joinV, 5), min(joinV, 6)
	// OffsetCommit and OffsetFetch v10 name topics by id; up to v9 here.
	commitV, fetchV := joinV, joinV
	group := fmt.Sprintf("diff-group-v%d", joinV)

	any0, err := dialRaw(seeds[0])
	if err != nil {
		step("dial %s: %v", seeds[0], err)
		return lines
	}
	defer any0.close()
	coord, addr, err := findCoord(any0, group, findV)
	if err != nil {
		step("FindCoordinator v%d: %v", findV, err)
		return lines
	}
	step("FindCoordinator v%d: ok", findV)
	c, err := dialRaw(addr)
	if err != nil {
		step("dial coordinator %d at %s: %v", coord, addr, err)
		return lines
	}
	defer c.close()

	// A node that is not the coordinator.
	for _, s := range seeds {
		if s == addr {
			continue
		}
		other, err := dialRaw(s)
		if err != nil {
			step("dial %s: %v", s, err)
			return lines
		}
		resp, err := other.join(joinV, group, "", "consumer", 6000)
		other.close()
		step("JoinGroup v%d to a node that is not the coordinator: %s", joinV, codeOr(resp, err))
		break
	}

	resp, err := c.join(joinV, group, "", "consumer", 1)
	step("JoinGroup v%d, session timeout 1 ms: %s", joinV, codeOr(resp, err))

	resp, err = c.join(joinV, group, "", "consumer", 6000)
	if err != nil {
		step("JoinGroup v%d: %v", joinV, err)
		return lines
	}
	member := resp.MemberID
	if joinV >= 4 {
		step("JoinGroup v%d with no member id: %s, member id given: %v", joinV, codeName(resp.ErrorCode), member != "")
		resp, err = c.join(joinV, group, member, "consumer", 6000)
		if err != nil {
			step("JoinGroup v%d again: %v", joinV, err)
			return lines
		}
	}
	gen := resp.Generation
	step("JoinGroup v%d: %s, generation %d, leader is the member: %v, protocol %q, members %d",
		joinV, codeName(resp.ErrorCode), gen, resp.LeaderID == member, strOr(resp.Protocol), len(resp.Members))

	assignment := []byte("assignment-of-" + group)
	sresp, err := c.sync(syncV, group, member, gen, assignment)
	if err != nil {
		step("SyncGroup v%d: %v", syncV, err)
		return lines
	}
	step("SyncGroup v%d: %s, assignment returned: %v", syncV, codeName(sresp.ErrorCode), string(sresp.MemberAssignment) == string(assignment))
	sresp, err = c.sync(syncV, group, member, gen+1, assignment)
	step("SyncGroup v%d, generation+1: %s", syncV, codeOr(sresp, err))

	hresp, err := c.heartbeat(hbV, group, member, gen)
	step("Heartbeat v%d: %s", hbV, codeOr(hresp, err))
	hresp, err = c.heartbeat(hbV, group, member, gen+1)
	step("Heartbeat v%d, generation+1: %s", hbV, codeOr(hresp, err))
	hresp, err = c.heartbeat(hbV, group, "no-such-member", gen)
	step("Heartbeat v%d, unknown member: %s", hbV, codeOr(hresp, err))

	resp, err = c.join(joinV, group, "", "not-consumer", 6000)
	step("JoinGroup v%d, another protocol type: %s", joinV, codeOr(resp, err))

	cresp, err := c.commit(commitV, group, member, gen, diffTopic, 42, "meta")
	step("OffsetCommit v%d: %s", commitV, commitCodes(cresp, err))
	cresp, err = c.commit(commitV, group, member, gen+1, diffTopic, 43, "meta")
	step("OffsetCommit v%d, generation+1: %s", commitV, commitCodes(cresp, err))
	cresp, err = c.commit(commitV, group, "no-such-member", gen, diffTopic, 43, "meta")
	step("OffsetCommit v%d, unknown member: %s", commitV, commitCodes(cresp, err))
	cresp, err = c.commit(commitV, group, member, gen, "diff-no-such-topic", 1, "")
	step("OffsetCommit v%d, unknown topic: %s", commitV, commitCodes(cresp, err))
	fresp, err := c.fetchOffsets(fetchV, group, diffTopic)
	step("OffsetFetch v%d: %s", fetchV, fetchResult(fresp, err))
	// A group nobody joined, asked of its own coordinator.
	empty := group + "-empty"
	if _, eaddr, err := findCoord(any0, empty, findV); err != nil {
		step("FindCoordinator v%d of a group nobody joined: %v", findV, err)
	} else if ec, err := dialRaw(eaddr); err != nil {
		step("dial %s: %v", eaddr, err)
	} else {
		fresp, err = ec.fetchOffsets(fetchV, empty, diffTopic)
		ec.close()
		step(uncompared+"OffsetFetch v%d, a group nobody joined: %s", fetchV, fetchResult(fresp, err))
	}

	lresp, err := c.leave(leaveV, group, member)
	if err != nil {
		step("LeaveGroup v%d: %v", leaveV, err)
		return lines
	}
	var memberCodes []string
	for _, m := range lresp.Members {
		memberCodes = append(memberCodes, codeName(m.ErrorCode))
	}
	step("LeaveGroup v%d: %s, members %v", leaveV, codeName(lresp.ErrorCode), memberCodes)
	hresp, err = c.heartbeat(hbV, group, member, gen)
	step("Heartbeat v%d after leaving: %s", hbV, codeOr(hresp, err))
	return lines
}

func strOr(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// codeOr names a response's error code, or the error that stopped it.
func codeOr(resp kmsg.Response, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var code int16
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		code = r.ErrorCode
	case *kmsg.SyncGroupResponse:
		code = r.ErrorCode
	case *kmsg.HeartbeatResponse:
		code = r.ErrorCode
	}
	return codeName(code)
}

func codeName(code int16) string {
	if code == 0 {
		return "ok"
	}
	return kerr.ErrorForCode(code).Error()
}

const diffTopic = "diff-topic"

// uncompared marks a step kfake answers unlike Kafka, checked on ketch's
// side alone: OffsetFetch of a group nobody joined is GROUP_ID_NOT_FOUND in
// kfake, where Kafka answers offset -1 for each partition and no error
// (that is how a new group's first member learns it has no commits).
const uncompared = "uncompared: "

// commitCodes lists an OffsetCommit answer's per-partition codes.
func commitCodes(resp *kmsg.OffsetCommitResponse, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var codes []string
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			codes = append(codes, fmt.Sprintf("%s[%d] %s", t.Topic, p.Partition, codeName(p.ErrorCode)))
		}
	}
	return strings.Join(codes, ", ")
}

// fetchResult names an OffsetFetch answer: the group's and each
// partition's code, offset, leader epoch and metadata, in either form (v8+
// answers per group).
func fetchResult(resp *kmsg.OffsetFetchResponse, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var out []string
	// A partition with no commit: Kafka answers metadata "" (its
	// NO_METADATA), kfake null; both read as "" here.
	part := func(topic string, p int32, code int16, off int64, epoch int32, meta *string) {
		m := ""
		if meta != nil {
			m = *meta
		}
		out = append(out, fmt.Sprintf("%s[%d] %s offset %d epoch %d metadata %q", topic, p, codeName(code), off, epoch, m))
	}
	if resp.Version >= 8 {
		for _, g := range resp.Groups {
			out = append(out, "group "+codeName(g.ErrorCode))
			for _, t := range g.Topics {
				for _, p := range t.Partitions {
					part(t.Topic, p.Partition, p.ErrorCode, p.Offset, p.LeaderEpoch, p.Metadata)
				}
			}
		}
		return strings.Join(out, ", ")
	}
	if resp.Version >= 2 {
		out = append(out, "group "+codeName(resp.ErrorCode))
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			part(t.Topic, p.Partition, p.ErrorCode, p.Offset, p.LeaderEpoch, p.Metadata)
		}
	}
	return strings.Join(out, ", ")
}

func (c *rawConn) commit(v int16, group, member string, gen int32, topic string, offset int64, meta string) (*kmsg.OffsetCommitResponse, error) {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = v
	req.Group, req.MemberID, req.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = 0, offset, -1, &meta
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	r, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	return r.(*kmsg.OffsetCommitResponse), nil
}

func (c *rawConn) fetchOffsets(v int16, group, topic string) (*kmsg.OffsetFetchResponse, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = v
	if v >= 8 {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = group
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = topic, []int32{0, 1}
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
	} else {
		req.Group = group
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0, 1}
		req.Topics = append(req.Topics, rt)
	}
	r, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	return r.(*kmsg.OffsetFetchResponse), nil
}

// rawConn sends requests at exactly the version set on them.
type rawConn struct {
	nc   net.Conn
	corr int32
}

func dialRaw(addr string) (*rawConn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{nc: nc}, nil
}

func (c *rawConn) close() { c.nc.Close() }

// roundTrip allows 30 s: a JoinGroup waits out the initial rebalance delay
// and the rebalance timeout.
func (c *rawConn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	c.corr++
	id := "ketch-interop-diff"
	c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.nc.Write(wire.AppendRequest(nil, c.corr, &id, req)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return nil, fmt.Errorf("%s v%d: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, frame); err != nil {
		return nil, err
	}
	corr, resp, err := wire.ParseResponse(frame, req)
	if err == nil && corr != c.corr {
		err = fmt.Errorf("correlation id %d, want %d", corr, c.corr)
	}
	return resp, err
}

func findCoord(c *rawConn, group string, v int16) (int32, string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version = v
		req.CoordinatorKey = group
		req.CoordinatorKeys = []string{group}
		r, err := c.roundTrip(req)
		if err != nil {
			return 0, "", err
		}
		resp := r.(*kmsg.FindCoordinatorResponse)
		node, host, port, code := resp.NodeID, resp.Host, resp.Port, resp.ErrorCode
		if v >= 4 && len(resp.Coordinators) == 1 {
			co := resp.Coordinators[0]
			node, host, port, code = co.NodeID, co.Host, co.Port, co.ErrorCode
		}
		if code == 0 {
			return node, net.JoinHostPort(host, strconv.Itoa(int(port))), nil
		}
		if time.Now().After(deadline) {
			return 0, "", kerr.ErrorForCode(code)
		}
		time.Sleep(100 * time.Millisecond) // COORDINATOR_NOT_AVAILABLE while __consumer_offsets is created
	}
}

func (c *rawConn) join(v int16, group, member, protoType string, sessionMillis int32) (*kmsg.JoinGroupResponse, error) {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = v
	req.Group, req.MemberID, req.ProtocolType = group, member, protoType
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = sessionMillis, 10000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte("subscription")
	req.Protocols = append(req.Protocols, p)
	r, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	return r.(*kmsg.JoinGroupResponse), nil
}

func (c *rawConn) sync(v int16, group, member string, gen int32, assignment []byte) (*kmsg.SyncGroupResponse, error) {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = v
	req.Group, req.MemberID, req.Generation = group, member, gen
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID, a.MemberAssignment = member, assignment
	req.GroupAssignment = append(req.GroupAssignment, a)
	r, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	return r.(*kmsg.SyncGroupResponse), nil
}

func (c *rawConn) heartbeat(v int16, group, member string, gen int32) (*kmsg.HeartbeatResponse, error) {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = v
	req.Group, req.MemberID, req.Generation = group, member, gen
	r, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	return r.(*kmsg.HeartbeatResponse), nil
}

func (c *rawConn) leave(v int16, group, member string) (*kmsg.LeaveGroupResponse, error) {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = v
	req.Group, req.MemberID = group, member
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = member
	req.Members = append(req.Members, m)
	r, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	return r.(*kmsg.LeaveGroupResponse), nil
}
