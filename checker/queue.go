package checker

import (
	"fmt"
	"sort"
)

// Anomaly kinds reported by QueueCheck.
const (
	// An acknowledged produce whose offset a read shows holding another value
	// while the acknowledged value is never read anywhere.
	KindLost = "lost"
	// One value read at two offsets.
	KindDuplicate = "duplicate"
	// One offset holding two values: two reads disagree, or two produces were
	// acknowledged with the same offset.
	KindOffsetConflict = "offset-conflict"
	// An acknowledged produce whose value reads find at another offset.
	KindOffsetMismatch = "offset-mismatch"
	// A client's read returned a lower high watermark than that client's
	// previous, already completed read.
	KindNonmonotonicRead = "nonmonotonic-read"
	// A read returned a lower high watermark than another client's read that
	// had completed before it was called (real-time order).
	KindHWRegressed = "hw-regressed"
	// A read called after a produce was acknowledged at offset o returned a
	// high watermark <= o: the write is not visible, as when a deposed leader
	// serves the fetch.
	KindStaleRead = "stale-read"
	// A read's records are not consecutive from the fetch offset.
	KindSkippedOffset = "skipped-offset"
	// A read returned a record at or above the high watermark it reported.
	KindBeyondHW = "beyond-hw"
	// A read returned a value that no produce (OK or ambiguous) wrote.
	KindPhantom = "phantom"
	// The history itself breaks its contract (a value produced twice, an
	// unknown op kind); checks on it are not to be trusted.
	KindBadHistory = "bad-history"
)

// anomaliesPerKindMax bounds the detailed anomalies kept per partition and
// kind: one bug in a long run tends to repeat thousands of times and the first
// few say everything; the rest are counted in one summary anomaly.
const anomaliesPerKindMax = 20

// QueueCheck runs the Jepsen-style queue checks on a history. It needs time
// O(n log n + records read) and memory proportional to the distinct offsets
// and values, so it can judge histories far too long for Linearizable.
//
// It only judges what the history shows: an acknowledged write that no read
// covers cannot be called lost, so a run should end with reads of the whole
// log of every partition.
func QueueCheck(h History) []Anomaly {
	names, groups := byPartition(h)
	var out []Anomaly
	for _, name := range names {
		out = append(out, queueCheckPartition(h, name, groups[name])...)
	}
	return out
}

type reporter struct {
	partition  string
	out        []Anomaly
	count      map[string]int
	kindsOrder []string
}

func (r *reporter) add(kind, format string, args ...any) {
	if r.count == nil {
		r.count = make(map[string]int)
	}
	if r.count[kind] == 0 {
		r.kindsOrder = append(r.kindsOrder, kind)
	}
	r.count[kind]++
	if r.count[kind] <= anomaliesPerKindMax {
		r.out = append(r.out, Anomaly{Kind: kind, Partition: r.partition, Detail: fmt.Sprintf(format, args...)})
	}
}

func (r *reporter) finish() []Anomaly {
	for _, kind := range r.kindsOrder {
		if n := r.count[kind]; n > anomaliesPerKindMax {
			r.out = append(r.out, Anomaly{Kind: kind, Partition: r.partition,
				Detail: fmt.Sprintf("... and %d more %s anomalies not shown", n-anomaliesPerKindMax, kind)})
		}
	}
	return r.out
}

// sighting is where a value was first seen at an offset: which op saw it.
type sighting struct {
	value  string
	offset int64
	op     int
}

func queueCheckPartition(h History, partition string, idx []int) []Anomaly {
	rep := &reporter{partition: partition}
	d := func(i int) string { return describeOp(i, &h[i]) }

	// Who wrote what. Produced values are unique by contract; the first
	// produce of a value is the one that counts if the contract is broken.
	// The maps are sized for a value per op, about what a run holds: no
	// rehashing as they fill.
	writer := make(map[string]int, len(idx))
	acked := make(map[int64]int, len(idx)) // offset -> OK produce
	var oks, reads, lists []int
	for _, i := range idx {
		op := &h[i]
		switch op.Kind {
		case Produce:
			if j, dup := writer[op.Value]; dup {
				rep.add(KindBadHistory, "value %q produced twice: %s and %s", op.Value, d(j), d(i))
				continue
			}
			writer[op.Value] = i
			if !op.OK {
				continue
			}
			oks = append(oks, i)
			if j, dup := acked[op.Offset]; dup {
				rep.add(KindOffsetConflict, "offset %d acknowledged twice: %s and %s", op.Offset, d(j), d(i))
				continue
			}
			acked[op.Offset] = i
		case Fetch:
			if op.OK {
				reads = append(reads, i)
			}
		case ListOffsets, OffsetForEpoch:
			if op.OK {
				lists = append(lists, i)
			}
		default:
			rep.add(KindBadHistory, "unknown kind: %s", d(i))
		}
	}

	// What reads show, offset by offset.
	atOffset := make(map[int64]sighting, len(idx))
	atValue := make(map[string]sighting, len(idx))
	phantoms := make(map[string]bool)
	// Reads show the same records again and again. Once a value was seen at
	// an offset with nothing to report but a phantom (reported once per
	// value anyway), seeing it there again reports nothing either: the
	// maps below would all answer as they did. clean remembers that, per
	// offset, so a repeated sighting costs no map lookups.
	clean := newOffsetMemo(len(h))
	for _, i := range reads {
		op := &h[i]
		skipped, beyond := false, false
		for k, rec := range op.Records {
			if want := op.Offset + int64(k); rec.Offset != want && !skipped {
				skipped = true
				rep.add(KindSkippedOffset, "record %d has offset %d, want %d: %s", k, rec.Offset, want, d(i))
			}
			if rec.Offset >= op.HighWatermark && !beyond {
				beyond = true
				rep.add(KindBeyondHW, "record at offset %d is not below hw %d: %s", rec.Offset, op.HighWatermark, d(i))
			}
			if clean.is(rec.Offset, rec.Value) {
				continue
			}
			quiet := true // this sighting reported nothing but maybe a phantom
			if w, ok := writer[rec.Value]; !ok || (!h[w].OK && !h[w].Ambiguous) {
				if !phantoms[rec.Value] {
					phantoms[rec.Value] = true
					if ok {
						rep.add(KindPhantom, "value %q at offset %d was written by a produce that definitely failed (%s): %s", rec.Value, rec.Offset, d(w), d(i))
					} else {
						rep.add(KindPhantom, "value %q at offset %d was never produced: %s", rec.Value, rec.Offset, d(i))
					}
				}
			}
			s := sighting{value: rec.Value, offset: rec.Offset, op: i}
			if prev, ok := atOffset[rec.Offset]; !ok {
				atOffset[rec.Offset] = s
			} else if prev.value != rec.Value {
				quiet = false
				rep.add(KindOffsetConflict, "offset %d read as %q by %s and as %q by %s", rec.Offset, prev.value, d(prev.op), rec.Value, d(i))
			}
			if prev, ok := atValue[rec.Value]; !ok {
				atValue[rec.Value] = s
			} else if prev.offset != rec.Offset {
				quiet = false
				rep.add(KindDuplicate, "value %q read at offset %d by %s and at offset %d by %s", rec.Value, prev.offset, d(prev.op), rec.Offset, d(i))
			}
			if quiet {
				clean.set(rec.Offset, rec.Value)
			}
		}
	}

	// Acknowledged writes against what reads show.
	for _, i := range oks {
		op := &h[i]
		if s, ok := atValue[op.Value]; ok {
			if s.offset != op.Offset {
				rep.add(KindOffsetMismatch, "%s but the value is read at offset %d by %s", d(i), s.offset, d(s.op))
			}
			continue
		}
		if s, ok := atOffset[op.Offset]; ok {
			rep.add(KindLost, "%s but offset %d holds %q (%s) and the value is never read", d(i), op.Offset, s.value, d(s.op))
		}
	}

	// ListOffsets latest reads the high watermark as a fetch does: it is
	// judged with them in real time.
	hwReads := reads
	for _, i := range lists {
		if isLatest(&h[i]) {
			hwReads = append(hwReads[:len(hwReads):len(hwReads)], i)
		}
	}
	checkRealTime(h, rep, oks, hwReads)
	checkEpochs(h, rep, reads, lists)
	return rep.finish()
}

// checkRealTime finds reads that miss what had certainly happened before they
// were called: an acknowledged write (stale-read) or a high watermark another
// read had already returned (nonmonotonic-read, hw-regressed). It sweeps the
// reads in call order against the writes and reads in return order. Intervals
// are closed, as in porcupine: ops whose times touch are concurrent.
func checkRealTime(h History, rep *reporter, oks, reads []int) {
	d := func(i int) string { return describeOp(i, &h[i]) }
	byCall := append([]int(nil), reads...)
	sort.SliceStable(byCall, func(a, b int) bool { return h[byCall[a]].Call < h[byCall[b]].Call })
	readsByReturn := append([]int(nil), reads...)
	sort.SliceStable(readsByReturn, func(a, b int) bool { return h[readsByReturn[a]].Return < h[readsByReturn[b]].Return })
	oksByReturn := append([]int(nil), oks...)
	sort.SliceStable(oksByReturn, func(a, b int) bool { return h[oksByReturn[a]].Return < h[oksByReturn[b]].Return })

	maxAcked, maxHW := -1, -1 // ops holding the highest acknowledged offset and hw so far
	lastOfClient := make(map[int]int)
	w, r := 0, 0
	for _, i := range byCall {
		op := &h[i]
		for ; w < len(oksByReturn) && h[oksByReturn[w]].Return < op.Call; w++ {
			if j := oksByReturn[w]; maxAcked < 0 || h[j].Offset > h[maxAcked].Offset {
				maxAcked = j
			}
		}
		for ; r < len(readsByReturn) && h[readsByReturn[r]].Return < op.Call; r++ {
			if j := readsByReturn[r]; maxHW < 0 || hwOf(&h[j]) > hwOf(&h[maxHW]) {
				maxHW = j
			}
		}
		if maxAcked >= 0 && hwOf(op) <= h[maxAcked].Offset {
			rep.add(KindStaleRead, "%s does not see offset %d acknowledged before it was called by %s", d(i), h[maxAcked].Offset, d(maxAcked))
		}
		prev, seen := lastOfClient[op.Client]
		switch {
		case seen && h[prev].Return < op.Call && hwOf(op) < hwOf(&h[prev]):
			rep.add(KindNonmonotonicRead, "hw went back from %d to %d: %s then %s", hwOf(&h[prev]), hwOf(op), d(prev), d(i))
		case maxHW >= 0 && hwOf(op) < hwOf(&h[maxHW]):
			rep.add(KindHWRegressed, "hw went back from %d to %d: %s completed before %s", hwOf(&h[maxHW]), hwOf(op), d(maxHW), d(i))
		}
		lastOfClient[op.Client] = i
	}
}

// hwOf is the high watermark a read reports: a fetch's, or the offset a
// ListOffsets latest answered.
func hwOf(op *Op) int64 {
	if op.Kind == ListOffsets {
		return op.Offset
	}
	return op.HighWatermark
}

// offsetMemo remembers one value per offset, in a slice: offsets are dense
// from 0. Offsets outside [0, bound) are never remembered (a history with
// wild offsets just takes the slow path), so memory stays proportional to
// the history.
type offsetMemo struct {
	vals  []string
	has   []bool
	bound int64
}

func newOffsetMemo(ops int) *offsetMemo { return &offsetMemo{bound: 4*int64(ops) + 1024} }

// is reports whether v is the value remembered at offset o.
func (m *offsetMemo) is(o int64, v string) bool {
	return o >= 0 && o < int64(len(m.has)) && m.has[o] && m.vals[o] == v
}

// get returns the value remembered at offset o.
func (m *offsetMemo) get(o int64) (string, bool) {
	if o >= 0 && o < int64(len(m.has)) && m.has[o] {
		return m.vals[o], true
	}
	return "", false
}

func (m *offsetMemo) set(o int64, v string) {
	if o < 0 || o >= m.bound {
		return
	}
	for int64(len(m.has)) <= o {
		m.has = append(m.has, false)
		m.vals = append(m.vals, "")
	}
	m.vals[o], m.has[o] = v, true
}
