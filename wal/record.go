package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"go.etcd.io/raft/v3/raftpb"
)

// On-disk record layout (little endian):
//
//	length  uint32  bytes of body
//	lencrc  uint32  CRC-32C of the 4 length bytes
//	crc     uint32  CRC-32C of segment seq, offset, batch start and body
//	batch   uint64  offset in this segment where the record's sync batch starts
//	body    kind(1) | group uint64 | payload
//
// The length has its own checksum so that a flipped length bit in the middle of
// the log is reported as corruption instead of looking like a torn tail that
// runs past the end of the file. The body checksum also covers where the record
// belongs (segment and offset, not stored): a write the disk put at another
// offset or in another file fails its checksum there, as in TigerBeetle.
// batch lets recovery tell a torn tail from damaged synced data (see doc.go).
const (
	headerBytes     = 20
	bodyPrefixBytes = 9 // kind + group
	// recordBytesMax bounds every length read from disk; anything longer is corruption.
	recordBytesMax = 128 << 20
)

// Record kinds. The values are on disk: never renumber.
const (
	kindEntry      byte = 1 // one raft entry; truncates the group's log at its index
	kindHardState  byte = 2
	kindSnapApply  byte = 3 // a snapshot received from the leader: replaces the whole log
	kindSnapCreate byte = 4 // a snapshot taken locally: the log is untouched
	kindCompact    byte = 5 // entries <= index dropped; term of index retained
	kindRemove     byte = 6 // the group is forgotten
	kindCheckpoint byte = 7 // the node's applied state at an index (uvarint index, then data); raft never sees it
)

// ErrCorrupt is wrapped by every error that reports damaged log contents.
var ErrCorrupt = errors.New("wal: corrupt log")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var zeroHeader [headerBytes]byte

// recordPos is where a record belongs: its segment, its offset there, and the
// offset at which its sync batch began in that segment.
type recordPos struct {
	seg, off, batch uint64
}

func recordCRC(pos recordPos, body []byte) uint32 {
	var p [24]byte
	binary.LittleEndian.PutUint64(p[0:], pos.seg)
	binary.LittleEndian.PutUint64(p[8:], pos.off)
	binary.LittleEndian.PutUint64(p[16:], pos.batch)
	return crc32.Update(crcSmall(p), castagnoli, body)
}

// crcSmall is crc32.Checksum(p[:], castagnoli) by the table, byte by byte:
// crc32's own path goes through a function value, which makes p escape, so
// every record written or read cost an allocation for its 24 bytes.
func crcSmall(p [24]byte) uint32 {
	crc := ^uint32(0)
	for _, b := range p {
		crc = castagnoli[byte(crc)^b] ^ (crc >> 8)
	}
	return ^crc
}

// appendRecord appends one framed record to buf, to live at pos. The payload
// is written by fill so that large entries are encoded straight into buf with
// no copy.
func appendRecord(buf []byte, pos recordPos, kind byte, group uint64, payloadBytes int, fill func([]byte) []byte) []byte {
	start := len(buf)
	buf = append(buf, zeroHeader[:]...)
	buf = append(buf, kind)
	buf = binary.LittleEndian.AppendUint64(buf, group)
	buf = fill(buf)
	body := buf[start+headerBytes:]
	n := len(body)
	assert(n == bodyPrefixBytes+payloadBytes || payloadBytes < 0, "wal: record payload size mismatch")
	h := buf[start : start+headerBytes]
	binary.LittleEndian.PutUint32(h[0:], uint32(n))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(h[0:4], castagnoli))
	binary.LittleEndian.PutUint32(h[8:], recordCRC(pos, body))
	binary.LittleEndian.PutUint64(h[12:], pos.batch)
	return buf
}

// Entry flags record which optional proto fields were set, so that a decoded
// entry is proto.Equal to the one saved and proto.Size (which raft uses for
// its size limits) agrees.
const (
	flagTerm  = 1 << 0
	flagIndex = 1 << 1
	flagType  = 1 << 2
	flagData  = 1 << 3
	// flagMoved marks a copy the cleaner made of a live entry (cleaner.go):
	// at replay it moves the entry and truncates nothing. Not a proto field.
	flagMoved = 1 << 4
)

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// entrySize is proto.Size(e) computed from the fields, without reflection.
func entrySize(e *raftpb.Entry) int {
	n := 0
	if e.Term != nil {
		n += 1 + varintLen(*e.Term)
	}
	if e.Index != nil {
		n += 1 + varintLen(*e.Index)
	}
	if e.Type != nil {
		n += 1 + varintLen(uint64(int64(*e.Type)))
	}
	if e.Data != nil {
		n += 1 + varintLen(uint64(len(e.Data))) + len(e.Data)
	}
	return n
}

func entryPayloadBytes(e *raftpb.Entry) int {
	return 1 + varintLen(e.GetTerm()) + varintLen(e.GetIndex()) + varintLen(uint64(uint32(e.GetType()))) + len(e.Data)
}

func appendEntryPayload(buf []byte, e *raftpb.Entry) []byte {
	var flags byte
	if e.Term != nil {
		flags |= flagTerm
	}
	if e.Index != nil {
		flags |= flagIndex
	}
	if e.Type != nil {
		flags |= flagType
	}
	if e.Data != nil {
		flags |= flagData
	}
	buf = append(buf, flags)
	buf = binary.AppendUvarint(buf, e.GetTerm())
	buf = binary.AppendUvarint(buf, e.GetIndex())
	buf = binary.AppendUvarint(buf, uint64(uint32(e.GetType())))
	return append(buf, e.Data...)
}

// entryBox holds a decoded entry and the fields its pointers name.
type entryBox struct {
	e     raftpb.Entry
	term  uint64
	index uint64
	typ   raftpb.EntryType
}

// decodeEntry decodes an entry payload. The entry owns a fresh copy of its data.
func decodeEntry(p []byte) (*raftpb.Entry, error) {
	term, index, typ, flags, rest, err := decodeEntryHead(p)
	if err != nil {
		return nil, err
	}
	// One allocation for the entry and its fields, not four.
	b := &entryBox{term: term, index: index, typ: raftpb.EntryType(int32(typ))}
	e := &b.e
	if flags&flagTerm != 0 {
		e.Term = &b.term
	}
	if flags&flagIndex != 0 {
		e.Index = &b.index
	}
	if flags&flagType != 0 {
		e.Type = &b.typ
	}
	if flags&flagData != 0 {
		e.Data = append(make([]byte, 0, len(rest)), rest...)
	}
	return e, nil
}

// decodeEntryHead decodes everything but the data, which recovery does not need.
func decodeEntryHead(p []byte) (term, index uint64, typ uint32, flags byte, rest []byte, err error) {
	if len(p) < 1 {
		return 0, 0, 0, 0, nil, errors.New("empty entry")
	}
	flags, p = p[0], p[1:]
	if flags&^(flagTerm|flagIndex|flagType|flagData|flagMoved) != 0 {
		return 0, 0, 0, 0, nil, fmt.Errorf("unknown entry flags %#x", flags)
	}
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, 0, 0, 0, nil, errors.New("bad varint in entry")
		}
		vals[i], p = v, p[n:]
	}
	if vals[2] > 0xffffffff {
		return 0, 0, 0, 0, nil, errors.New("entry type out of range")
	}
	if flags&flagData == 0 && len(p) > 0 {
		return 0, 0, 0, 0, nil, errors.New("entry without data flag has data")
	}
	return vals[0], vals[1], uint32(vals[2]), flags, p, nil
}

func appendUvarints(buf []byte, vs ...uint64) []byte {
	for _, v := range vs {
		buf = binary.AppendUvarint(buf, v)
	}
	return buf
}

func uvarintsLen(vs ...uint64) int {
	n := 0
	for _, v := range vs {
		n += varintLen(v)
	}
	return n
}

// decodeUvarints decodes exactly len(out) varints filling all of p.
func decodeUvarints(p []byte, out ...*uint64) error {
	for _, o := range out {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return errors.New("bad varint")
		}
		*o, p = v, p[n:]
	}
	if len(p) != 0 {
		return fmt.Errorf("%d trailing bytes", len(p))
	}
	return nil
}

// checkHeader validates a record header and returns the body length.
func checkHeader(h []byte) (int, error) {
	n := binary.LittleEndian.Uint32(h[0:])
	if binary.LittleEndian.Uint32(h[4:]) != crc32.Checksum(h[0:4], castagnoli) {
		return 0, errors.New("length checksum mismatch")
	}
	if n < bodyPrefixBytes || n > recordBytesMax {
		return 0, fmt.Errorf("record length %d outside [%d,%d]", n, bodyPrefixBytes, recordBytesMax)
	}
	return int(n), nil
}

// checkBody checks a record's body against its header, for a record found at
// off of segment seg; it returns the record's batch start.
func checkBody(h, body []byte, seg, off uint64) (uint64, error) {
	batch := binary.LittleEndian.Uint64(h[12:])
	if batch > off {
		return 0, fmt.Errorf("batch start %d after the record", batch)
	}
	if binary.LittleEndian.Uint32(h[8:]) != recordCRC(recordPos{seg, off, batch}, body) {
		return 0, errors.New("checksum mismatch")
	}
	return batch, nil
}

// decodeRecord checks a whole framed record, found at off of segment seg, and
// splits its body.
func decodeRecord(rec []byte, seg, off uint64) (kind byte, group uint64, payload []byte, err error) {
	if len(rec) < headerBytes {
		return 0, 0, nil, errors.New("short record")
	}
	n, err := checkHeader(rec[:headerBytes])
	if err != nil {
		return 0, 0, nil, err
	}
	if len(rec) != headerBytes+n {
		return 0, 0, nil, fmt.Errorf("record length %d, have %d bytes", n, len(rec)-headerBytes)
	}
	body := rec[headerBytes:]
	if _, err := checkBody(rec[:headerBytes], body, seg, off); err != nil {
		return 0, 0, nil, err
	}
	return body[0], binary.LittleEndian.Uint64(body[1:9]), body[9:], nil
}

func assert(cond bool, msg string) {
	if !cond {
		panic(msg)
	}
}
