package checker

import (
	"slices"
	"sort"
)

// Anomaly kinds reported by the epoch and ListOffsets checks.
const (
	// One offset read with two leader epochs: a record's epoch is fixed
	// once it is committed.
	KindEpochChanged = "epoch-changed"
	// A record at a higher offset read with a lower leader epoch than one
	// below it: epochs never decrease along a log.
	KindEpochRegressed = "epoch-regressed"
	// A request sent with CurrentLeaderEpoch E was answered by a leader of
	// another epoch (a record of a later epoch in a fetch, a ListOffsets
	// latest answered with another epoch): FENCED_LEADER_EPOCH or
	// UNKNOWN_LEADER_EPOCH was due.
	KindEpochNotFenced = "epoch-not-fenced"
	// An OffsetForLeaderEpoch answer the log as read contradicts: an epoch
	// above the one asked, an end offset below a record of an epoch <= the
	// one asked or above one of a later epoch, an epoch skipped, or
	// UNDEFINED for an epoch the log already holds.
	KindEpochEnd = "epoch-end"
	// An OffsetForLeaderEpoch answer below the consumer's position: the
	// records it consumed there were truncated away, which ketch must never
	// do (consumers read only committed records).
	KindTruncation = "truncation"
	// A ListOffsets answer the log as read contradicts: earliest above an
	// offset read later, a timestamp's offset past a record at or after the
	// timestamp, a max timestamp below a record's or not at its first
	// record, "no such record" when one had been read, or an epoch that is
	// not the record's.
	KindListOffsets = "list-offsets"
)

// seenRecord is what reads show at one offset: the first sighting, and the
// earliest return of a read that saw it (the record was committed by then).
type seenRecord struct {
	offset   int64
	epoch    int32
	ts       int64
	op       int
	returned int64
}

// checkEpochs runs the epoch and ListOffsets checks of one partition. reads
// are its OK fetches, lists its OK ListOffsets and OffsetForEpoch ops.
//
// Committed records never change and reads serve only committed records,
// so most checks hold against every read whenever it happened. Where the
// answer depends on the moment (the current epoch ends at the high
// watermark at the time; "no record matches" is only true of the log as it
// was), only reads that returned before the op was called are held
// against it.
func checkEpochs(h History, rep *reporter, reads, lists []int) {
	d := func(i int) string { return describeOp(i, &h[i]) }
	at := make(map[int64]*seenRecord)
	// dense is at for offsets from 0 up to a bound proportional to the
	// history: reads show the same offsets again and again, and a slice
	// index costs less than a map lookup.
	var dense []*seenRecord
	denseMax := 4*int64(len(h)) + 1024
	for _, i := range reads {
		op := &h[i]
		fenced := false
		for _, rec := range op.Records {
			if op.CurrentEpoch > 0 && rec.Epoch > op.CurrentEpoch && !fenced {
				fenced = true
				rep.add(KindEpochNotFenced, "record at offset %d has epoch %d, above the current epoch %d the fetch was sent with: %s",
					rec.Offset, rec.Epoch, op.CurrentEpoch, d(i))
			}
			var s *seenRecord
			inDense := rec.Offset >= 0 && rec.Offset < denseMax
			if inDense && rec.Offset < int64(len(dense)) {
				s = dense[rec.Offset]
			} else if !inDense {
				s = at[rec.Offset]
			}
			if s == nil {
				s = &seenRecord{offset: rec.Offset, epoch: rec.Epoch, ts: rec.Timestamp, op: i, returned: op.Return}
				at[rec.Offset] = s
				if inDense {
					for int64(len(dense)) <= rec.Offset {
						dense = append(dense, nil)
					}
					dense[rec.Offset] = s
				}
				continue
			}
			s.returned = min(s.returned, op.Return)
			if s.epoch != rec.Epoch {
				rep.add(KindEpochChanged, "offset %d read with epoch %d by %s and with epoch %d by %s", rec.Offset, s.epoch, d(s.op), rec.Epoch, d(i))
			}
		}
	}
	log := make([]*seenRecord, 0, len(at))
	for _, s := range at {
		log = append(log, s)
	}
	sort.Slice(log, func(a, b int) bool { return log[a].offset < log[b].offset })
	for k := 1; k < len(log); k++ {
		if log[k].epoch < log[k-1].epoch {
			rep.add(KindEpochRegressed, "offset %d has epoch %d (%s) but offset %d below it has epoch %d (%s)",
				log[k].offset, log[k].epoch, d(log[k].op), log[k-1].offset, log[k-1].epoch, d(log[k-1].op))
		}
	}

	// Earliest answers against what fetches called after them read: the
	// log start only moves forward.
	byCall := append([]int(nil), reads...)
	sort.SliceStable(byCall, func(a, b int) bool { return h[byCall[a]].Call < h[byCall[b]].Call })
	lowest := make([]int64, len(byCall)+1) // lowest[k]: lowest offset read by byCall[k:]
	lowestOp := make([]int, len(byCall)+1)
	lowest[len(byCall)] = 1<<63 - 1
	for k := len(byCall) - 1; k >= 0; k-- {
		lowest[k], lowestOp[k] = lowest[k+1], lowestOp[k+1]
		if op := &h[byCall[k]]; len(op.Records) > 0 && op.Records[0].Offset < lowest[k] {
			lowest[k], lowestOp[k] = op.Records[0].Offset, byCall[k]
		}
	}

	ix := newReadIndex(log)
	for _, i := range lists {
		switch h[i].Kind {
		case ListOffsets:
			checkListOffsets(h, rep, i, at, ix, byCall, lowest, lowestOp)
		case OffsetForEpoch:
			checkEpochEnd(h, rep, i, ix)
		}
	}
}

// readIndex answers the questions the ListOffsets and OffsetForEpoch checks
// ask of the log as read in O(log n) each, so that the checks stay
// near-linear on long histories. Each "max"/"min" array holds the index
// (into recs or byReturn) of the record achieving it, -1 for none.
type readIndex struct {
	recs          []*seenRecord // by offset
	maxTSBelow    []int         // [k]: the record with the largest timestamp in recs[:k]
	maxEpochBelow []int         // [k]: the one with the largest epoch in recs[:k]
	minEpochFrom  []int         // [k]: the one with the smallest epoch in recs[k:]

	byReturn         []*seenRecord // by the time a read first returned them
	maxTSByReturn    []int         // [k]: largest timestamp in byReturn[:k]
	maxEpochByReturn []int         // [k]: largest epoch in byReturn[:k]

	epochs []int32 // the distinct epochs read, ascending
	// ofEpoch holds each epoch's records by offset, and for each position
	// the one among it and those after that a read returned first.
	ofEpoch     map[int32][]*seenRecord
	firstReturn map[int32][]int
}

func newReadIndex(log []*seenRecord) *readIndex {
	n := len(log)
	ix := &readIndex{recs: log, maxTSBelow: make([]int, n+1), maxEpochBelow: make([]int, n+1), minEpochFrom: make([]int, n+1),
		byReturn: append([]*seenRecord(nil), log...), maxTSByReturn: make([]int, n+1), maxEpochByReturn: make([]int, n+1),
		ofEpoch: map[int32][]*seenRecord{}, firstReturn: map[int32][]int{}}
	ix.maxTSBelow[0], ix.maxEpochBelow[0], ix.minEpochFrom[n] = -1, -1, -1
	for k, s := range log {
		ix.maxTSBelow[k+1], ix.maxEpochBelow[k+1] = ix.maxTSBelow[k], ix.maxEpochBelow[k]
		if m := ix.maxTSBelow[k]; m < 0 || s.ts > log[m].ts {
			ix.maxTSBelow[k+1] = k
		}
		if m := ix.maxEpochBelow[k]; m < 0 || s.epoch > log[m].epoch {
			ix.maxEpochBelow[k+1] = k
		}
		if len(ix.ofEpoch[s.epoch]) == 0 {
			ix.epochs = append(ix.epochs, s.epoch)
		}
		ix.ofEpoch[s.epoch] = append(ix.ofEpoch[s.epoch], s)
	}
	for k := n - 1; k >= 0; k-- {
		ix.minEpochFrom[k] = ix.minEpochFrom[k+1]
		if m := ix.minEpochFrom[k+1]; m < 0 || log[k].epoch < log[m].epoch {
			ix.minEpochFrom[k] = k
		}
	}
	br := ix.byReturn
	sort.SliceStable(br, func(a, b int) bool { return br[a].returned < br[b].returned })
	ix.maxTSByReturn[0], ix.maxEpochByReturn[0] = -1, -1
	for k, s := range br {
		ix.maxTSByReturn[k+1], ix.maxEpochByReturn[k+1] = ix.maxTSByReturn[k], ix.maxEpochByReturn[k]
		if m := ix.maxTSByReturn[k]; m < 0 || s.ts > br[m].ts {
			ix.maxTSByReturn[k+1] = k
		}
		if m := ix.maxEpochByReturn[k]; m < 0 || s.epoch > br[m].epoch {
			ix.maxEpochByReturn[k+1] = k
		}
	}
	slices.Sort(ix.epochs)
	for _, e := range ix.epochs {
		rs := ix.ofEpoch[e]
		fr := make([]int, len(rs)+1)
		fr[len(rs)] = -1
		for k := len(rs) - 1; k >= 0; k-- {
			fr[k] = fr[k+1]
			if fr[k] < 0 || rs[k].returned < rs[fr[k]].returned {
				fr[k] = k
			}
		}
		ix.firstReturn[e] = fr
	}
	return ix
}

// below is how many records read lie below offset.
func (ix *readIndex) below(offset int64) int {
	return sort.Search(len(ix.recs), func(k int) bool { return ix.recs[k].offset >= offset })
}

// returnedBefore is how many records a read had returned before t.
func (ix *readIndex) returnedBefore(t int64) int {
	return sort.Search(len(ix.byReturn), func(k int) bool { return ix.byReturn[k].returned >= t })
}

// epochIn returns a record whose epoch is in (lo, hi], or nil.
func (ix *readIndex) epochIn(lo, hi int32) *seenRecord {
	k := sort.Search(len(ix.epochs), func(k int) bool { return ix.epochs[k] > lo })
	if k < len(ix.epochs) && ix.epochs[k] <= hi {
		return ix.ofEpoch[ix.epochs[k]][0]
	}
	return nil
}

// ofEpochFrom returns, of the records of epoch e at or above offset, the one
// a read returned first, or nil.
func (ix *readIndex) ofEpochFrom(e int32, offset int64) *seenRecord {
	rs := ix.ofEpoch[e]
	k := sort.Search(len(rs), func(k int) bool { return rs[k].offset >= offset })
	if f := ix.firstReturn[e]; k < len(rs) && f[k] >= 0 {
		return rs[f[k]]
	}
	return nil
}

func recAt(recs []*seenRecord, k int) *seenRecord {
	if k < 0 {
		return nil
	}
	return recs[k]
}

func checkListOffsets(h History, rep *reporter, i int, at map[int64]*seenRecord, ix *readIndex, byCall []int, lowest []int64, lowestOp []int) {
	d := func(i int) string { return describeOp(i, &h[i]) }
	op := &h[i]
	if op.Query == ListLatest {
		if op.CurrentEpoch > 0 && op.LeaderEpoch != op.CurrentEpoch {
			rep.add(KindEpochNotFenced, "latest answered with epoch %d to a request sent with current epoch %d: %s", op.LeaderEpoch, op.CurrentEpoch, d(i))
		}
		return // the high watermark is judged with the fetches
	}
	if op.CurrentEpoch > 0 && op.LeaderEpoch > op.CurrentEpoch {
		rep.add(KindEpochNotFenced, "answered with epoch %d, above the current epoch %d the request was sent with: %s", op.LeaderEpoch, op.CurrentEpoch, d(i))
	}
	// The epoch answered with an offset is the record's, if the record
	// was already there (on an empty log it is the leader's).
	if s := at[op.Offset]; op.Offset >= 0 && s != nil && s.returned < op.Call && s.epoch != op.LeaderEpoch {
		rep.add(KindListOffsets, "answered offset %d with epoch %d, but the record there has epoch %d (%s): %s",
			op.Offset, op.LeaderEpoch, s.epoch, d(s.op), d(i))
	}
	// maxBefore: the newest record below the answer; maxRead: the newest
	// record already read when the op was called.
	maxBefore := recAt(ix.recs, ix.maxTSBelow[ix.below(op.Offset)])
	maxRead := recAt(ix.byReturn, ix.maxTSByReturn[ix.returnedBefore(op.Call)])
	switch {
	case op.Query == ListEarliest:
		k := sort.Search(len(byCall), func(k int) bool { return h[byCall[k]].Call > op.Return })
		if lowest[k] < op.Offset {
			rep.add(KindListOffsets, "earliest answered %d, but %s, called after, read offset %d", op.Offset, d(lowestOp[k]), lowest[k])
		}
	case op.Query == ListMaxTimestamp:
		// The first record carrying the largest timestamp: none before it
		// carries as much, none already read carries more, and on a log
		// already holding records there is an answer.
		switch {
		case op.Offset >= 0 && maxBefore != nil && maxBefore.ts >= op.Timestamp:
			rep.add(KindListOffsets, "max timestamp %d answered at offset %d, but offset %d before it has timestamp %d (%s): %s",
				op.Timestamp, op.Offset, maxBefore.offset, maxBefore.ts, d(maxBefore.op), d(i))
		case maxRead != nil && (op.Offset < 0 || maxRead.ts > op.Timestamp):
			rep.add(KindListOffsets, "max timestamp answered %d, but offset %d already had timestamp %d (%s): %s",
				op.Timestamp, maxRead.offset, maxRead.ts, d(maxRead.op), d(i))
		}
	case op.Query >= 0 && op.Offset >= 0:
		if op.Timestamp < op.Query {
			rep.add(KindListOffsets, "answered timestamp %d, before the one asked: %s", op.Timestamp, d(i))
		}
		// Every record before the answer is older than the query.
		if maxBefore != nil && maxBefore.ts >= op.Query {
			rep.add(KindListOffsets, "answered offset %d, but offset %d before it has timestamp %d (%s): %s",
				op.Offset, maxBefore.offset, maxBefore.ts, d(maxBefore.op), d(i))
		}
	case op.Query >= 0:
		// No record at or after the timestamp: none had been read.
		if maxRead != nil && maxRead.ts >= op.Query {
			rep.add(KindListOffsets, "answered no offset, but offset %d has timestamp %d (%s): %s", maxRead.offset, maxRead.ts, d(maxRead.op), d(i))
		}
	}
}

// checkEpochEnd judges an OffsetForLeaderEpoch answer (L, end) for epoch E
// against the log as read. The leader answers (E, its high watermark) for
// its own epoch and otherwise (the largest epoch <= E, where the first
// epoch > E starts). So, whenever it was answered:
//   - L <= E, and no record has an epoch in (L, E] when L < E;
//   - a record of an epoch below E lies below end (it was committed before
//     any later epoch's leader served), as does one of epoch E already read
//     when the op was called;
//   - a record of an epoch above E lies at or above end (a leader of epoch
//     E has none in its log, and committed offsets keep their records);
//   - when L < E, the record just below end has epoch L;
//   - UNDEFINED is only for an epoch above every record already read;
//   - end is not below the consumer's position (no truncation).
func checkEpochEnd(h History, rep *reporter, i int, ix *readIndex) {
	d := func(i int) string { return describeOp(i, &h[i]) }
	op := &h[i]
	e, l, end := op.Epoch, op.LeaderEpoch, op.Offset
	if op.CurrentEpoch > 0 && l > op.CurrentEpoch {
		rep.add(KindEpochNotFenced, "answered with epoch %d, above the current epoch %d the request was sent with: %s", l, op.CurrentEpoch, d(i))
	}
	if end < 0 {
		if s := recAt(ix.byReturn, ix.maxEpochByReturn[ix.returnedBefore(op.Call)]); s != nil && s.epoch >= e {
			rep.add(KindEpochEnd, "answered UNDEFINED, but offset %d already had epoch %d (%s): %s", s.offset, s.epoch, d(s.op), d(i))
		}
		return
	}
	if l > e {
		rep.add(KindEpochEnd, "answered epoch %d, above the one asked: %s", l, d(i))
		return
	}
	if op.Position >= 0 && end < op.Position {
		rep.add(KindTruncation, "the log ends epoch %d at %d, below the consumer's position %d: %s", e, end, op.Position, d(i))
	}
	k := ix.below(end)
	if s := recAt(ix.recs, ix.maxEpochBelow[k]); s != nil && s.epoch > e {
		rep.add(KindEpochEnd, "end offset %d for epoch %d, but offset %d below it has epoch %d (%s): %s", end, e, s.offset, s.epoch, d(s.op), d(i))
		return
	}
	if s := ix.epochIn(l, e); l < e && s != nil {
		rep.add(KindEpochEnd, "answered epoch %d for epoch %d, but offset %d has epoch %d in between (%s): %s", l, e, s.offset, s.epoch, d(s.op), d(i))
		return
	}
	s := recAt(ix.recs, ix.minEpochFrom[k])
	if s == nil || s.epoch >= e {
		s = ix.ofEpochFrom(e, end)
		if s != nil && s.returned >= op.Call {
			s = nil
		}
	}
	if s != nil {
		rep.add(KindEpochEnd, "end offset %d for epoch %d, but offset %d at or above it has epoch %d (%s): %s", end, e, s.offset, s.epoch, d(s.op), d(i))
		return
	}
	if prev := recAt(ix.recs, k-1); l < e && prev != nil && prev.offset == end-1 && prev.epoch != l {
		rep.add(KindEpochEnd, "epoch %d answered to end at %d, but offset %d has epoch %d (%s): %s", l, end, prev.offset, prev.epoch, d(prev.op), d(i))
	}
}
