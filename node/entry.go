package node

import (
	"encoding/binary"
	"errors"
)

// Entry payloads. Every normal raft entry ketch proposes starts with a command
// byte, the proposing node, that node's incarnation and its request id (so the
// proposer can find the waiting request when the entry applies, and a request
// of an earlier run of the node is never mistaken for one of this run), then a
// command-specific body.
// Empty entries (a new leader's no-op) carry no payload.
type cmd byte

const (
	cmdProduce       cmd = 1 // body: one record batch, as validated
	cmdCreateTopic   cmd = 2 // body: name, partitions, replication factor, configs (from issue 10; absent before)
	cmdDeleteTopic   cmd = 3 // body: name
	cmdAllocProducer cmd = 4 // body: empty
	cmdRegister      cmd = 5 // body: broker id, host, port
	cmdLeader        cmd = 6 // body: partition group, leader, term; repeated (one or more)
	cmdGroupWrite    cmd = 7 // body: a guard and one record batch (groups.go)
	cmdFence         cmd = 8 // body: broker id, fenced (broker_sessions.go)
	// body: resource type, name, replace, config ops (configs.go)
	cmdAlterConfigs cmd = 9
	// body: topic name, the new partition count (create_partitions.go)
	cmdCreatePartitions cmd = 10
	// body: the partition's new log start offset (retention.go)
	cmdLogStart cmd = 11
	// body: the proposing leader's clock, ms (producer_expiry.go)
	cmdExpireProducers cmd = 12
	// body: a compacted region of the log and its cleaned batches
	// (compaction.go)
	cmdCompact cmd = 13
)

var errShortEntry = errors.New("node: short entry")

type entryHeader struct {
	cmd         cmd
	proposer    uint64
	incarnation uint64
	reqID       uint64
}

func appendEntryHeader(dst []byte, h entryHeader) []byte {
	dst = append(dst, byte(h.cmd))
	dst = binary.AppendUvarint(dst, h.proposer)
	dst = binary.AppendUvarint(dst, h.incarnation)
	return binary.AppendUvarint(dst, h.reqID)
}

func parseEntryHeader(b []byte) (entryHeader, []byte, error) {
	var h entryHeader
	if len(b) < 1 {
		return h, nil, errShortEntry
	}
	h.cmd = cmd(b[0])
	b = b[1:]
	var n int
	if h.proposer, n = binary.Uvarint(b); n <= 0 {
		return h, nil, errShortEntry
	}
	b = b[n:]
	if h.incarnation, n = binary.Uvarint(b); n <= 0 {
		return h, nil, errShortEntry
	}
	b = b[n:]
	if h.reqID, n = binary.Uvarint(b); n <= 0 {
		return h, nil, errShortEntry
	}
	return h, b[n:], nil
}

// entryBatch is the record batch a partition entry stores: a produce's
// body, or a group write's batch behind its guard.
func entryBatch(data []byte) ([]byte, error) {
	h, body, err := parseEntryHeader(data)
	if err != nil || h.cmd != cmdGroupWrite {
		return body, err
	}
	_, batch, err := parseGroupWrite(body)
	return batch, err
}

// enc and dec are tiny helpers for command bodies.
func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShortEntry
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShortEntry
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) string() string {
	l := d.uvarint()
	if d.err != nil {
		return ""
	}
	if l > uint64(len(d.b)) {
		d.err = errShortEntry
		return ""
	}
	s := string(d.b[:l])
	d.b = d.b[l:]
	return s
}
