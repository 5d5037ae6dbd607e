package node

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/ketch-dev/ketch/wire"
)

// indexedBatches lists every batch a partition's index holds, reading its
// spans forward.
func indexedBatches(tb testing.TB, p *partState) []batchLoc {
	tb.Helper()
	var out []batchLoc
	if err := p.idx.scanFrom(0, func(b batchLoc, _ []byte) bool { out = append(out, b); return true }); err != nil {
		tb.Fatal(err)
	}
	return out
}

// memEntries is an in-memory raft log for the index to read forward from.
type memEntries struct {
	first uint64 // index of ents[0]
	ents  []*raftpb.Entry
}

func (m *memEntries) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	if lo < m.first {
		return nil, raft.ErrCompacted
	}
	if hi > m.first+uint64(len(m.ents)) || lo > hi {
		return nil, raft.ErrUnavailable
	}
	out := m.ents[lo-m.first : hi-m.first]
	// As raft's limitSize: the first always, then while within maxSize.
	size := uint64(0)
	for i, e := range out {
		size += uint64(len(e.GetData()))
		if i > 0 && size > maxSize {
			return out[:i], nil
		}
	}
	return out, nil
}

func (m *memEntries) add(term uint64, data []byte) uint64 {
	idx := m.first + uint64(len(m.ents))
	m.ents = append(m.ents, &raftpb.Entry{Index: proto.Uint64(idx), Term: proto.Uint64(term), Type: raftpb.EntryNormal.Enum(), Data: data})
	return idx
}

// storedBatch reads a batch's bytes from the test log: a produced one is its
// entry's body, a cleaned one a slice of its compaction entry.
func storedBatch(tb testing.TB, log *memEntries, b batchLoc) []byte {
	tb.Helper()
	data := log.ents[b.raftIndex-log.first].GetData()
	if b.pos > 0 {
		return data[b.pos : b.pos+b.bytes]
	}
	body, err := entryBatch(data)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// TestOffsetIndexMatchesDense: a partition applying thousands of entries
// (idempotent batches of many sizes, retries answered from producer state,
// sequence errors, other commands, no-ops, term changes), with its log start
// moving, compactions rewriting the log below a cleaner point into one
// entry (batches dropped, gaps; applied some entries after they were
// planned, as a proposal is) and its state round-tripped through
// encodeState, answers every index query as the exact list of the batches
// it holds does.
func TestOffsetIndexMatchesDense(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		log := &memEntries{first: 1}
		p := newPartState("t", 0, 1)
		p.idx.src = log
		// One seed in five keeps every batch exact, as under the planted
		// bugs whose apply the entries do not tell (a compacted run in the
		// tail, out of raft order).
		exact := seed%5 == 0
		p.idx.dense = exact
		var dense []batchLoc  // every batch of the log, as the dense index held them
		var epochs []batchLoc // the same, not compacted: the epoch history's
		var pending *compactBody
		compactions, junctions := 0, 0
		var bytes int64
		seqs := map[int64]int32{}
		var lastBatch = map[int64][]byte{}
		term := uint64(1)
		sparse := 0
		// scanAt checks the fetch path at off: the first batch scan gives
		// is the first ending past off (inside a compaction's gap: the
		// next batch), and bytesFrom counts from it.
		scanAt := func(step int, off int64) {
			t.Helper()
			k := sort.Search(len(dense), func(i int) bool { return dense[i].end() > off })
			var got []batchLoc
			err := p.idx.scan(off, func(b batchLoc, _ []byte) bool {
				got = append(got, b)
				return len(got) < 2
			})
			want := dense[k:min(k+2, len(dense))]
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d: scan(%d) = %+v %v, want %+v", seed, step, off, got, err, want)
			}
			wantBytes := int64(0)
			if k < len(dense) {
				wantBytes = bytes - dense[k].startBytes()
			}
			if b, err := p.idx.bytesFrom(off); err != nil || b != wantBytes {
				t.Fatalf("seed %d step %d: bytesFrom(%d) = %d %v, want %d", seed, step, off, b, err, wantBytes)
			}
		}
		check := func(step int) {
			t.Helper()
			got := indexedBatches(t, p)
			if len(got) != len(dense) {
				t.Fatalf("seed %d step %d: %d batches indexed, %d appended", seed, step, len(got), len(dense))
			}
			for i := range got {
				if got[i] != dense[i] {
					t.Fatalf("seed %d step %d: batch %d is %+v, want %+v", seed, step, i, got[i], dense[i])
				}
			}
			if len(dense) == 0 {
				return
			}
			if step == 3000 {
				// Every offset, gaps and run edges among them.
				for off := p.logStart; off <= p.next; off++ {
					scanAt(step, off)
				}
			}
			for range 20 {
				scanAt(step, p.logStart+rng.Int64N(p.next-p.logStart+1))
				off := dense[0].base + rng.Int64N(p.next-dense[0].base+1)
				loc, ok, err := p.idx.find(off)
				k := sort.Search(len(dense), func(i int) bool { return dense[i].end() > off })
				if err != nil || ok != (k < len(dense) && dense[k].base <= off) || ok && loc != dense[k] {
					t.Fatalf("seed %d step %d: find(%d) = %+v %v %v, want %d of %d", seed, step, off, loc, ok, err, k, len(dense))
				}
				ts := int64(rng.IntN(3000))
				loc, ok, err = p.idx.firstAtOrAfterTS(ts)
				k = slices.IndexFunc(dense, func(b batchLoc) bool { return b.maxTS >= ts })
				if err != nil || ok != (k >= 0) || ok && loc != dense[k] {
					t.Fatalf("seed %d step %d: firstAtOrAfterTS(%d) = %+v %v %v, want %d", seed, step, ts, loc, ok, err, k)
				}
				by := dense[0].startBytes() + rng.Int64N(bytes-dense[0].startBytes()+1)
				loc, ok, err = p.idx.firstEndingAfterBytes(by)
				k = slices.IndexFunc(dense, func(b batchLoc) bool { return b.endBytes > by })
				if err != nil || ok != (k >= 0) || ok && loc != dense[k] {
					t.Fatalf("seed %d step %d: firstEndingAfterBytes(%d) = %+v %v %v, want %d", seed, step, by, loc, ok, err, k)
				}
				e := rng.IntN(int(term) + 1)
				ke := sort.Search(len(epochs), func(i int) bool { return epochs[i].term > uint64(e) })
				wantStart, wantEpoch := p.next, int32(e)
				if ke < len(epochs) {
					wantStart = max(epochs[ke].base, p.logStart)
				}
				if ke > 0 {
					wantEpoch = int32(epochs[ke-1].term)
				}
				if uint64(e) < term {
					if ge, gs := p.epochEnd(int32(e), term); ge != wantEpoch || gs != wantStart {
						t.Fatalf("seed %d step %d: epochEnd(%d) = %d %d, want %d %d", seed, step, e, ge, gs, wantEpoch, wantStart)
					}
				}
			}
			// The log start's epoch (ListOffsets earliest), in a gap too.
			if p.logStart < p.next {
				k := sort.Search(len(epochs), func(i int) bool { return epochs[i].base > p.logStart })
				if got, ok := p.idx.termAt(p.logStart); k == 0 || !ok || got != epochs[k-1].term {
					t.Fatalf("seed %d step %d: termAt(log start %d) = %d %v, want the epoch of %d of %+v", seed, step, p.logStart, got, ok, k, epochs)
				}
			}
			best := 0
			for i, b := range dense {
				if b.maxTS > dense[best].maxTS {
					best = i
				}
			}
			if loc, ok, err := p.idx.maxTimestamp(); err != nil || !ok || loc != dense[best] {
				t.Fatalf("seed %d step %d: maxTimestamp = %+v %v %v, want %+v", seed, step, loc, ok, err, dense[best])
			}
		}
		for step := range 3000 {
			switch r := rng.IntN(100); {
			case r < 2:
				term++
				log.add(term, nil) // a new leader's no-op
			case r < 4:
				log.add(term, appendEntryHeader(nil, entryHeader{cmd: cmdExpireProducers}))
			case r < 5 && len(dense) > 0:
				// The log start moves, now and then to the end.
				to := p.logStart + rng.Int64N((p.next-p.logStart)/3+1)
				if rng.IntN(20) == 0 {
					to = p.next
				}
				p.applyLogStart(to)
				k := sort.Search(len(dense), func(i int) bool { return dense[i].end() > p.logStart })
				dense = dense[k:]
				k = sort.Search(len(epochs), func(i int) bool { return epochs[i].end() > p.logStart })
				epochs = epochs[k:]
				if first := p.idx.firstRaft(); first > 0 {
					// Compacted below the first live batch, as compactPart does.
					log.ents = log.ents[first-log.first:]
					log.first = first
				}
			case r < 6 && pending == nil && len(dense) > 0:
				// A compaction planned: the batches below a cleaner point
				// (at or past the cleaned end), some dropped.
				first := sort.Search(len(dense), func(i int) bool { return dense[i].base >= p.cleanedEnd })
				k := first + rng.IntN(len(dense)-first+1)
				c := compactBody{gen: p.cleanGen, from: p.logStart, to: p.next, horizon: -1, dirtyRaft: p.idx.lastRaft + 1, dirtyBytes: bytes}
				if k < len(dense) {
					c.to, c.dirtyRaft, c.dirtyBytes = dense[k].base, dense[k].raftIndex, dense[k].startBytes()
				}
				for _, b := range dense[:k] {
					if rng.IntN(4) > 0 {
						c.batches = append(c.batches, cleanedBatch{base: b.base, count: b.count, term: b.term, maxTS: b.maxTS,
							data: append([]byte(nil), storedBatch(t, log, b)...)})
					}
				}
				pending = &c
			case r < 8 && pending != nil:
				// The planned compaction applies.
				hdr := appendEntryHeader(nil, entryHeader{cmd: cmdCompact})
				body := appendCompact(nil, *pending)
				idx := log.add(term, append(hdr, body...))
				c, pos, err := parseCompact(body)
				if err != nil {
					t.Fatal(err)
				}
				pending = nil
				if x := &p.idx; len(x.tail) > 0 && x.tail[0].base > c.to {
					// The cleaner point falls inside a span: it starts one.
					if s := sort.Search(len(x.points), func(i int) bool { return x.points[i].base >= c.to }); s > 0 && x.spanEnd(s-1) > c.to {
						junctions++
					}
				}
				if !p.applyCompact(idx, len(hdr), c, pos) {
					t.Fatalf("seed %d step %d: a compaction refused", seed, step)
				}
				compactions++
				k := sort.Search(len(dense), func(i int) bool { return dense[i].base >= c.to })
				end := bytes
				if k < len(dense) {
					end = dense[k].startBytes()
				}
				var run []batchLoc
				for i, b := range c.batches {
					if b.base+int64(b.count) > p.logStart {
						run = append(run, batchLoc{base: b.base, count: b.count, raftIndex: idx, term: b.term, maxTS: b.maxTS,
							bytes: int32(len(b.data)), pos: int32(len(hdr) + pos[i])})
					}
				}
				for i := len(run) - 1; i >= 0; i-- {
					run[i].endBytes = end
					end -= int64(run[i].bytes)
				}
				dense = append(run, dense[k:]...)
				if first := p.idx.firstRaft(); first > log.first {
					log.ents = log.ents[first-log.first:]
					log.first = first
				}
			case r < 8:
				// A snapshot or checkpoint of the state, restored elsewhere.
				from := log.first - 1
				q := newPartState("t", 0, 1)
				q.idx.src, q.idx.dense = log, exact
				if _, err := q.restoreState(p.encodeState(log.first+uint64(len(log.ents))-1, from), from); err != nil {
					t.Fatal(err)
				}
				p = q
			default:
				pid := int64(rng.IntN(3))
				var batch []byte
				switch rng.IntN(10) {
				case 0:
					batch = lastBatch[pid] // a retry
				case 1:
					batch = seqBatch(pid, seqs[pid]+5, 1) // out of order
				}
				if batch == nil {
					spec := wire.BatchSpec{ProducerID: pid, BaseSequence: seqs[pid], FirstTimestamp: int64(rng.IntN(2000))}
					for i := rng.IntN(1 + rng.IntN(40)); i >= 0; i-- {
						spec.Records = append(spec.Records, wire.Record{Value: make([]byte, rng.IntN(300)), TimestampDelta: int64(rng.IntN(1000))})
					}
					batch = wire.AppendBatch(nil, spec)
				}
				idx := log.add(term, append(appendEntryHeader(nil, entryHeader{cmd: cmdProduce}), batch...))
				before := p.next
				p.applyProduce(idx, term, batch, "")
				p.idx.noteApplied(idx)
				if p.next != before {
					h, _ := wire.ParseBatchHeader(batch)
					bytes += int64(len(batch))
					dense = append(dense, batchLoc{base: before, count: h.LastOffsetDelta + 1, raftIndex: idx, term: term,
						maxTS: h.MaxTimestamp, bytes: int32(len(batch)), endBytes: bytes})
					epochs = append(epochs, dense[len(dense)-1])
					seqs[pid] += h.LastOffsetDelta + 1
					lastBatch[pid] = batch
				}
			}
			if step%50 == 0 {
				check(step)
				if len(p.idx.points) > 1 {
					sparse++
				}
			}
		}
		check(3000)
		if sparse < 10 && !exact {
			t.Fatalf("seed %d: spans at only %d checks: the sparse part went untested", seed, sparse)
		}
		if compactions < 10 {
			t.Fatalf("seed %d: only %d compactions", seed, compactions)
		}
		t.Logf("seed %d: %d compactions, %d with a point at the first dirty batch", seed, compactions, junctions)
	}
}
