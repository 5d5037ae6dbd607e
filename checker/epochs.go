package checker

import (
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
	for _, i := range reads {
		op := &h[i]
		fenced := false
		for _, rec := range op.Records {
			if op.CurrentEpoch > 0 && rec.Epoch > op.CurrentEpoch && !fenced {
				fenced = true
				rep.add(KindEpochNotFenced, "record at offset %d has epoch %d, above the current epoch %d the fetch was sent with: %s",
					rec.Offset, rec.Epoch, op.CurrentEpoch, d(i))
			}
			s := at[rec.Offset]
			if s == nil {
				at[rec.Offset] = &seenRecord{offset: rec.Offset, epoch: rec.Epoch, ts: rec.Timestamp, op: i, returned: op.Return}
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

	for _, i := range lists {
		switch h[i].Kind {
		case ListOffsets:
			checkListOffsets(h, rep, i, at, log, byCall, lowest, lowestOp)
		case OffsetForEpoch:
			checkEpochEnd(h, rep, i, log)
		}
	}
}

func checkListOffsets(h History, rep *reporter, i int, at map[int64]*seenRecord, log []*seenRecord, byCall []int, lowest []int64, lowestOp []int) {
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
		for _, s := range log {
			switch {
			case op.Offset >= 0 && s.offset < op.Offset && s.ts >= op.Timestamp:
				rep.add(KindListOffsets, "max timestamp %d answered at offset %d, but offset %d before it has timestamp %d (%s): %s",
					op.Timestamp, op.Offset, s.offset, s.ts, d(s.op), d(i))
				return
			case s.returned < op.Call && (op.Offset < 0 || s.ts > op.Timestamp):
				rep.add(KindListOffsets, "max timestamp answered %d, but offset %d already had timestamp %d (%s): %s",
					op.Timestamp, s.offset, s.ts, d(s.op), d(i))
				return
			}
		}
	case op.Query >= 0 && op.Offset >= 0:
		if op.Timestamp < op.Query {
			rep.add(KindListOffsets, "answered timestamp %d, before the one asked: %s", op.Timestamp, d(i))
		}
		// Every record before the answer is older than the query.
		for _, s := range log {
			if s.offset >= op.Offset {
				break
			}
			if s.ts >= op.Query {
				rep.add(KindListOffsets, "answered offset %d, but offset %d before it has timestamp %d (%s): %s", op.Offset, s.offset, s.ts, d(s.op), d(i))
				break
			}
		}
	case op.Query >= 0:
		// No record at or after the timestamp: none had been read.
		for _, s := range log {
			if s.ts >= op.Query && s.returned < op.Call {
				rep.add(KindListOffsets, "answered no offset, but offset %d has timestamp %d (%s): %s", s.offset, s.ts, d(s.op), d(i))
				break
			}
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
func checkEpochEnd(h History, rep *reporter, i int, log []*seenRecord) {
	d := func(i int) string { return describeOp(i, &h[i]) }
	op := &h[i]
	e, l, end := op.Epoch, op.LeaderEpoch, op.Offset
	if op.CurrentEpoch > 0 && l > op.CurrentEpoch {
		rep.add(KindEpochNotFenced, "answered with epoch %d, above the current epoch %d the request was sent with: %s", l, op.CurrentEpoch, d(i))
	}
	if end < 0 {
		for _, s := range log {
			if s.epoch >= e && s.returned < op.Call {
				rep.add(KindEpochEnd, "answered UNDEFINED, but offset %d already had epoch %d (%s): %s", s.offset, s.epoch, d(s.op), d(i))
				return
			}
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
	for _, s := range log {
		switch {
		case s.epoch > e && s.offset < end:
			rep.add(KindEpochEnd, "end offset %d for epoch %d, but offset %d below it has epoch %d (%s): %s", end, e, s.offset, s.epoch, d(s.op), d(i))
			return
		case s.epoch <= e && s.epoch > l:
			rep.add(KindEpochEnd, "answered epoch %d for epoch %d, but offset %d has epoch %d in between (%s): %s", l, e, s.offset, s.epoch, d(s.op), d(i))
			return
		case s.offset >= end && (s.epoch < e || s.epoch == e && s.returned < op.Call):
			rep.add(KindEpochEnd, "end offset %d for epoch %d, but offset %d at or above it has epoch %d (%s): %s", end, e, s.offset, s.epoch, d(s.op), d(i))
			return
		case l < e && s.offset == end-1 && s.epoch != l:
			rep.add(KindEpochEnd, "epoch %d answered to end at %d, but offset %d has epoch %d (%s): %s", l, end, s.offset, s.epoch, d(s.op), d(i))
			return
		}
	}
}
