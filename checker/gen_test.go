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
	var h History
	var t int64
	for i := 0; i < cfg.ops; i++ {
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
		if rnd(2) == 0 {
			op.Kind = Produce
			op.Value = fmt.Sprintf("%s#%d", partition, i)
			switch {
			case ambiguous:
				op.Ambiguous, op.Err = true, "REQUEST_TIMED_OUT"
				op.Return = op.Call + int64(rnd(int(cfg.window)+1))
				if rnd(2) == 0 {
					log = append(log, op.Value)
				}
			case failed:
				op.Err = "INVALID_RECORD"
			default:
				op.OK, op.Offset = true, int64(len(log))
				log = append(log, op.Value)
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
			}
		}
		free[c] = op.Return
		h = append(h, op)
	}
	if cfg.finalRead {
		end := slices.Max(append(free, t)) + 1
		h = append(h, Op{Client: cfg.clients, Kind: Fetch, Partition: partition, Call: end, Return: end + 1,
			OK: true, HighWatermark: int64(len(log)), Records: records(0, log...)})
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
