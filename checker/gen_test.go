package checker

import (
	"fmt"
	"slices"
)

// genConfig shapes a generated history.
type genConfig struct {
	ops       int
	clients   int
	window    int64 // how far call and return may lie from the linearization point
	ambiguous int   // percent of ops that are ambiguous
	failed    int   // percent of ops that definitely failed
	fetchMax  int   // records per fetch at most
	fetchBack int   // how far behind the log end a fetch may start
	finalRead bool  // end with one fetch of the whole log, after everything
	// epochs: the leader epoch moves on now and then (a leader change),
	// records carry the epoch they were written in, and a share of the ops
	// are OffsetForEpoch and ListOffsets, answered as a leader would.
	epochs bool
}

// genHistory builds a history that is valid by construction: it runs a
// sequential log and gives each op a linearization point t, then widens it
// into an interval [call, return] around t without overlapping the client's
// previous op. Ambiguous produces take effect at t or not at all, and their
// client may give up before t, as a timed-out client does. It returns the
// final log too.
//
// rnd(n) returns a number in [0, n); the tests drive it from rapid, the
// benchmarks from a seeded math/rand.
func genHistory(rnd func(n int) int, cfg genConfig, partition string) (History, []string) {
	free := make([]int64, cfg.clients) // time each client's last op returned
	var log []string
	var epochs []int32 // per log entry
	epoch := int32(1)
	var h History
	var t int64
	for i := 0; i < cfg.ops; i++ {
		if cfg.epochs && rnd(10) == 0 {
			epoch++
		}
		t += 1 + int64(rnd(10))
		c := rnd(cfg.clients)
		if free[c] >= t {
			c = slices.Index(free, slices.Min(free))
			t = max(t, free[c]+1)
		}
		op := Op{
			Client:    c,
			Partition: partition,
			Call:      max(free[c]+1, t-int64(rnd(int(cfg.window)+1))),
			Return:    t + int64(rnd(int(cfg.window)+1)),
		}
		outcome := rnd(100)
		ambiguous := outcome < cfg.ambiguous
		failed := !ambiguous && outcome < cfg.ambiguous+cfg.failed
		if cfg.epochs && rnd(4) == 0 {
			genEpochOp(rnd, &op, log, epochs, epoch, ambiguous || failed)
		} else if rnd(2) == 0 {
			op.Kind = Produce
			op.Value = fmt.Sprintf("%s#%d", partition, i)
			switch {
			case ambiguous:
				op.Ambiguous, op.Err = true, "REQUEST_TIMED_OUT"
				op.Return = op.Call + int64(rnd(int(cfg.window)+1))
				if rnd(2) == 0 {
					log = append(log, op.Value)
					epochs = append(epochs, epoch)
				}
			case failed:
				op.Err = "INVALID_RECORD"
			default:
				op.OK, op.Offset = true, int64(len(log))
				log = append(log, op.Value)
				epochs = append(epochs, epoch)
			}
		} else {
			op.Kind = Fetch
			back := min(len(log), cfg.fetchBack)
			off := len(log) - rnd(back+1)
			n := min(rnd(cfg.fetchMax+1), len(log)-off)
			op.Offset = int64(off)
			switch {
			case ambiguous:
				op.Ambiguous, op.Err = true, "REQUEST_TIMED_OUT"
			case failed:
				op.Err = "NOT_LEADER_OR_FOLLOWER"
			default:
				op.OK, op.HighWatermark = true, int64(len(log))
				op.Records = records(off, log[off:off+n]...)
				if cfg.epochs {
					for k := range op.Records {
						op.Records[k].Epoch = epochs[off+k]
					}
				}
			}
		}
		free[c] = op.Return
		h = append(h, op)
	}
	if cfg.finalRead {
		end := slices.Max(append(free, t)) + 1
		final := Op{Client: cfg.clients, Kind: Fetch, Partition: partition, Call: end, Return: end + 1,
			OK: true, HighWatermark: int64(len(log)), Records: records(0, log...)}
		if cfg.epochs {
			for k := range final.Records {
				final.Records[k].Epoch = epochs[k]
			}
		}
		h = append(h, final)
	}
	return h, log
}

func records(from int, values ...string) []Record {
	rs := make([]Record, len(values))
	for i, v := range values {
		rs[i] = Record{Offset: int64(from + i), Value: v}
	}
	return rs
}

// genEpochOp makes op an OffsetForEpoch or ListOffsets (latest or earliest)
// answered, at its linearization point, by a leader of epoch current over
// log (entry k written in epochs[k]); or a failed one.
func genEpochOp(rnd func(int) int, op *Op, log []string, epochs []int32, current int32, failed bool) {
	if rnd(2) == 0 {
		op.Kind, op.Query = ListOffsets, ListLatest
		if rnd(3) == 0 {
			op.Query = ListEarliest
		}
		op.Offset, op.Timestamp, op.LeaderEpoch = -1, -1, -1
		if failed {
			op.Err = "NOT_LEADER_OR_FOLLOWER"
			return
		}
		op.OK, op.CurrentEpoch, op.LeaderEpoch = true, current, current
		switch {
		case op.Query == ListLatest:
			op.Offset = int64(len(log))
		case len(log) > 0:
			op.Offset, op.LeaderEpoch = 0, epochs[0]
		default:
			op.Offset = 0
		}
		return
	}
	op.Kind, op.Position = OffsetForEpoch, -1
	op.Epoch = int32(rnd(int(current) + 2))
	op.Offset, op.LeaderEpoch = -1, -1
	if failed {
		op.Err = "NOT_LEADER_OR_FOLLOWER"
		return
	}
	op.OK, op.CurrentEpoch = true, current
	// Kafka's LeaderEpochFileCache.endOffsetFor, with the current epoch
	// starting at the log end.
	e := op.Epoch
	switch {
	case e > current:
	case e == current:
		op.LeaderEpoch, op.Offset = e, int64(len(log))
	default:
		k := 0
		for k < len(epochs) && epochs[k] <= e {
			k++
		}
		op.Offset, op.LeaderEpoch = int64(k), e
		if k > 0 {
			op.LeaderEpoch = epochs[k-1]
		}
	}
}
