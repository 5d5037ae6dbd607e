// Package checker judges client histories recorded against ketch: by the
// simulator, and later by real-process chaos runs.
//
// A history is every Produce, Fetch, ListOffsets and OffsetForEpoch a client
// issued, with its call and return times, its outcome and what it returned
// (see Op). Outcomes are three:
// OK (it took effect), definitely failed (it did not), and Ambiguous (a
// timeout or a cut connection: it may have taken effect, at any later time).
//
// Two checkers read the same history:
//
//   - QueueCheck, Jepsen-style checks that need near-linear time and so scale
//     to millions of ops: acknowledged writes lost, values duplicated, one
//     offset with two values, high watermarks going back, stale reads after an
//     acknowledged write, gaps in a fetch, phantom values. Each Anomaly names
//     the ops involved by their index in the history.
//   - Linearizable, porcupine against a sequential model of one partition
//     (produce appends and returns the offset; fetch returns a slice of the
//     log and the high watermark, the log's length). It is exact but
//     exponential in the worst case, so it runs under a timeout, and a timeout
//     is a failure, not a pass. On failure it writes porcupine's HTML
//     visualisation, with injected faults drawn as annotations.
//
// The queue checks include the epoch checks (epochs.go) on what KIP-320
// consumers see: each record's leader epoch (Record.Epoch) never changes and
// never decreases along the log, a request sent with a CurrentLeaderEpoch is
// answered only by a leader of that epoch, and ListOffsets and
// OffsetForEpoch answers agree with the log as reads show it (an end offset
// below a consumer's position is a truncation). A ListOffsets latest is a
// read of the high watermark for porcupine and the real-time checks.
//
// Check runs both and is what the simulator and scenarios call:
//
//	res := checker.Check(history, checker.Options{
//		LinearizabilityTimeout: 10 * time.Second,
//		VizPath:                "failover-seed7.html",
//		Annotations:            faults,
//	})
//	if !res.OK {
//		t.Fatalf("seed %d: %s", seed, res)
//	}
//
// The model assumes acks=all: an acknowledged produce is committed, so every
// fetch called after it returned must report a high watermark above its
// offset. The queue checks can only judge what reads show, so a run should end
// with reads of every partition's whole log once faults have healed. That
// final read also keeps porcupine fast: an ambiguous produce no read accounts
// for has an unknown offset and no end, and a few hundred of them make the
// search exponential.
//
// The package depends on porcupine and the standard library only, so that
// anything may use it.
package checker
