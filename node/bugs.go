package node

import (
	"slices"
	"strings"
)

// The produce path's planted bugs (the others are listed in status.go).
const (
	// BugDedupWindowOne (Redpanda #3039, #3038): a partition remembers only
	// the last batch of each idempotent producer, not the last five. A
	// client pipelines five batches; when the answers are lost and it
	// retries the oldest, the broker no longer recognises it and, its
	// sequence not following the last one, answers
	// OUT_OF_ORDER_SEQUENCE_NUMBER. The client takes that as a lost
	// producer id (KIP-360), bumps, renumbers its buffer and sends the batch
	// again under the new id: it is appended twice.
	BugDedupWindowOne = "dedup-window-one"
	// BugDedupWrongOffset (Jepsen Bufstream 0.1.0, "spurious zero offsets"):
	// a retried idempotent batch is recognised as a duplicate and answered
	// success, but with the log end as its base offset instead of the
	// offsets it was written at, so the client believes its records sit
	// where other records (or none yet) are.
	BugDedupWrongOffset = "dedup-wrong-offset"
	// BugProducerStateLeaderOnly (Chronik Stream, the raft produce path
	// removed in commit 9b12b2f): the idempotent producers' sequence table
	// lives in the leader's produce handler, filled once a proposal is
	// answered, and is never part of the replicated state: applying an entry
	// never looks at sequences, followers never learn them, a restart
	// forgets them. A retry the leader has answered before is recognised; a
	// retry of a batch still in flight, or one sent to the next leader after
	// a failover, is appended again.
	BugProducerStateLeaderOnly = "producer-state-leader-only"
	// BugAckByIndex (Redpanda PR #3003, found by Jepsen Redpanda 21.10.1 as
	// "inconsistent offsets"): a produce waiter is keyed by the raft index
	// its entry was appended at and resolves when an entry applies at that
	// index, without checking that entry's term or request id; a term change
	// fails no waiter. A leader deposed with proposals in flight keeps them
	// waiting; when the new leader's entries replace its tail, each is
	// answered with the outcome of whatever entry landed at its index.
	BugAckByIndex = "ack-by-index"
	// BugOffsetBeforePropose (Chronik Stream, the raft produce path removed
	// in commit 9b12b2f): the leader assigns a batch's offsets from a
	// counter of its own, set from what it has applied when it wins, and
	// stamps them on the batch before proposing; applying the entry writes
	// it at the stamped offset. A new leader whose log still holds entries
	// of the previous term that have not committed yet starts its counter
	// below them, and stamps its first batches over their offsets.
	BugOffsetBeforePropose = "offset-before-propose"
	// BugQuorumOfLive (Jepsen Kafka 0.8, 2013; KIP-966): acks=-1 waits only
	// for the followers currently counted as live (raft's
	// Progress.RecentActive, as Kafka's ISR), not for a quorum, so a leader
	// whose followers all dropped out of the set acknowledges alone. Raft
	// marks every follower inactive at each check-quorum round until it
	// answers again; a leader cut off from its peers keeps leading for up to
	// an election timeout after the last round it passed, acknowledging
	// every write alone, and the majority's new leader never had them.
	BugQuorumOfLive = "quorum-of-live"
	// BugMaxTimestampLastOffset (KAFKA-16342, Kafka 3.6 to 3.7): for a
	// compressed batch the offset of its max timestamp is taken to be the
	// batch's last offset (LogValidator's shallowOffsetOfMaxTimestamp)
	// rather than found among its records, so ListOffsets for the max
	// timestamp (-3, KIP-734) answers the batch's last record even when an
	// earlier one carries that timestamp: every record of a batch a
	// producer stamps at one millisecond does.
	BugMaxTimestampLastOffset = "max-timestamp-last-offset"
	// BugCheckpointAhead plants etcd's v3.5 data inconsistency (#13766): a
	// partition's checkpoint names the last committed entry of the Ready
	// being applied but holds the state from before that Ready, so a
	// restart from it skips those entries.
	BugCheckpointAhead = "checkpoint-ahead"
	// BugLogStartLeaderOnly (KAFKA-15351, KAFKA-15352: with tiered storage
	// the log start was moved by the leader's own deleter and never went
	// through replication, so after a leader election the new leader
	// answered an older log start, and served offsets already deleted):
	// DeleteRecords and retention move the leader's log start in its memory
	// and answer at once; no entry is proposed, so the followers keep the
	// records and the old start, and a failover or a restart brings them
	// back.
	BugLogStartLeaderOnly = "log-start-leader-only"
	// BugProducerExpiryByTimestamp plants KAFKA-6817 (UnknownProducerIdException
	// for producers writing old timestamps): a producer's last-seen time is
	// its last batch's max timestamp, the client's CreateTime, not the
	// broker's clock, so a producer sending records stamped earlier than
	// the expiration ago is forgotten at the next expiry check while it is
	// still producing, and its retries lose their deduplication.
	BugProducerExpiryByTimestamp = "producer-expiry-by-timestamp"
	// BugTombstoneRecordTime (KAFKA-4529: Kafka 0.10.1's cleaner took a
	// segment's largest record timestamp as its last-modified time, so
	// the delete horizon of a tombstone produced with an old timestamp had
	// passed at its first clean and consumers never saw it): the cleaner
	// judges a tombstone that carries no delete horizon yet by its
	// record's timestamp plus delete.retention.ms instead of stamping the
	// horizon from its own clock, so a tombstone with a producer's old
	// CreateTime is removed at once.
	BugTombstoneRecordTime = "tombstone-record-time"
	// BugCleanActiveSegment (Kafka never cleans the active segment;
	// kafka-python #1701 and brod #263 are consumers stalled on logs whose
	// last batches compaction had removed; ketch's own cleaner did it
	// before 89052c2): the cleaner's point is bounded by neither the
	// active segment nor the newest batch, so a clean that removes the
	// newest batch (its tombstones past their horizon, or its records all
	// superseded) leaves the log ending in a gap below the high watermark:
	// a fetch there finds no batch, and a consumer never reaches the end.
	BugCleanActiveSegment = "clean-active-segment"
)

// BugInfo describes one plantable bug: its switch, the real incident whose
// mechanism it plants, and that mechanism in a line. The catch-rate table
// (cmd/sim -catch-table, docs/zoo.md) prints Source next to each bug.
type BugInfo struct {
	Name   string // the -bug switch (one of the Bug constants)
	Source string // the incident: issue, pull request, postmortem or paper
	About  string // the mechanism, planted
}

// bugTable is every plantable bug. A new bug adds its constant (with a doc
// comment naming the incident and the mechanism) and one row here; Bugs,
// BugTable and BugSource derive from it.
var bugTable = []BugInfo{
	{BugAckBeforeCommit, "planted at the start (acks=1 on a leader that fails over)",
		"a produce is answered as soon as it is proposed, with a guessed offset"},
	{BugStaleRead, "etcd #20418; Jepsen etcd 2014",
		"fetch is served without confirming leadership (no ReadIndex)"},
	{BugOverloadStaleRead, "etcd #20418 (a read served unconfirmed)",
		"past FetchWaitsMax held fetches, a fetch is answered from the node's state without a ReadIndex barrier"},
	{BugNoReportSnapshot, "etcd raft's ReportSnapshot contract; etcd #10225",
		"ReportSnapshot is never called: a follower whose MsgSnap was lost stays paused"},
	{BugSnapshotCommitUnclamped, "etcd #7477",
		"a Ready that installs a snapshot is not synced first, and recovery keeps a commit index below the snapshot"},
	{BugSkipFsync, "NATS #7564",
		"acknowledgements go out without the log made durable"},
	{BugNoDedupe, "Redpanda #3039",
		"idempotent producers' recent batches are forgotten: a retry is appended again"},
	{BugFetchIgnoresEpoch, "KIP-320; Redpanda #17260",
		"CurrentLeaderEpoch is not checked, and OffsetForLeaderEpoch answers the log end for every epoch"},
	{BugFsyncRetry, "PostgreSQL fsyncgate; KAFKA-10778",
		"after fsync EIO the log retries and takes the next success as durable"},
	{BugTruncateOnCorruption, "Protocol-Aware Recovery (FAST '18); NATS #7549",
		"any checksum failure is taken for a torn tail and truncated"},
	{BugDedupWindowOne, "Redpanda #3039, #3038",
		"only the last sequence per producer is kept: a retry of an older in-flight batch answers OUT_OF_ORDER_SEQUENCE_NUMBER, the client bumps and resends it"},
	{BugDedupWrongOffset, "Jepsen Bufstream 0.1.0 (spurious zero offsets)",
		"a deduplicated retry answers success with the log end as its offset"},
	{BugProducerStateLeaderOnly, "Chronik Stream, commit 9b12b2f",
		"the sequence table lives in the leader's handler memory, updated after propose, never applied on followers"},
	{BugAckByIndex, "Redpanda PR #3003 (Jepsen Redpanda 21.10.1, inconsistent offsets)",
		"a produce waiter resolves when an entry appears at its raft index, without checking its term or request id; a term change fails no waiter"},
	{BugOffsetBeforePropose, "Chronik Stream, commit 9b12b2f",
		"the leader stamps offsets from its own counter before proposing; apply writes at the stamped offset"},
	{BugQuorumOfLive, "Jepsen Kafka 0.8; KIP-966",
		"acks=all counts the followers currently active (raft Progress.RecentActive), so a leader alone satisfies it"},
	{BugTruncateToHW, "Kafka KIP-101",
		"on restart every group's log is cut to its last hard state's commit index, dropping entries it synced and acknowledged"},
	{BugNoDirSync, "KAFKA-3968",
		"a segment created by a roll is never synced in its directory: a power loss after the roll loses the segment"},
	{BugServeUncommitted, "Redpanda PR #5025; etcd #7331",
		"a new leader serves as soon as it wins, and its reads take its own commit index, before an entry of its term committed"},
	{BugApplyBeforePersist, "etcd #14370",
		"committed entries of a Ready are applied and answered before that Ready's entries are synced"},
	{BugEpochNotTerm, "KAFKA-10527; KIP-279",
		"the leader epoch stamped and reported is a per-broker counter resumed after restart, not the raft term"},
	{BugGroupStateInMemory, "KAFKA-2720; Redpanda #14487",
		"a group's generation and membership live only in the coordinator's memory: the next coordinator starts generations over"},
	{BugMutateOnPropose, "KAFKA-9666; Redpanda #6018",
		"the coordinator takes a rebalance's new generation, and answers its members, when it proposes the group write, not when it applies"},
	{BugCommitAnyGeneration, "KAFKA-2555 discussion",
		"OffsetCommit skips the generation and member checks, in the handler and at apply"},
	{BugOffsetsWhileLoading, "KAFKA-16030",
		"a new coordinator answers OffsetFetch from what it applied so far, before an entry of its term applied (before it loaded the group)"},
	{BugExpireDuringRebalance, "KAFKA-13636",
		"offset expiry takes a group in a rebalance for one without members: each offset expires the retention after its last commit"},
	{BugTombstoneRecordTime, "KAFKA-4529 (the cleaner's delete horizon from the segment's largest record timestamp)",
		"a compacted tombstone's delete horizon is judged from its record's timestamp, not the cleaner's clock: one produced with an old timestamp is removed at its first clean"},
	{BugLogStartLeaderOnly, "KAFKA-15351, KAFKA-15352 (the log start moved by the leader's deleter, not replicated)",
		"DeleteRecords and retention move the log start in the leader's memory only; followers keep the old start and the records"},
	{BugAppendTimeAtApply, "databend PR #7325 (leader and followers each read their own clock at apply)",
		"a LogAppendTime batch is not stamped by the leader before propose: each replica stamps its own clock when it applies the entry, in its index and on what it serves"},
	{BugAssignBeforeRevoke, "KAFKA-16147",
		"the KIP-848 coordinator's record of who holds a partition leaves out the partitions members are still revoking: the next member to reconcile is given one before its owner released it"},
	{BugMaxTimestampLastOffset, "KAFKA-16342",
		"ListOffsets max timestamp answers a compressed batch's last offset, not its first record carrying the max timestamp"},
	{BugCheckpointAhead, "etcd v3.5 data inconsistency postmortem (#13766)",
		"a partition's checkpoint of applied state records the index of the Ready's last committed entry but the state from before applying it; a restart resumes past entries it never applied"},
	{BugProducerExpiryByTimestamp, "KAFKA-6817",
		"producer-id expiry judges a producer by its last batch's max timestamp (the client's CreateTime), not by broker time: a producer writing old timestamps is expired while it produces, and a retry of a batch already written is taken again"},
	{BugCleanActiveSegment, "Kafka's cleaner never cleans the active segment; kafka-python #1701, brod #263 (consumers stalled where compaction removed a log's last batches); ketch before 89052c2",
		"the cleaner's point is bounded by neither the active segment nor the newest batch: a clean that removes the newest batch ends the log in a gap below the high watermark, where a fetch finds nothing"},
	{BugQuiesceDeadLeader, "CockroachDB #9315, #9383 (quiescence before node liveness woke it, #26911)",
		"a quiesced follower is not woken when its leader's node goes silent or restarts: an idle partition stays leaderless until that node is back"},
}

// BugTable lists the plantable bugs with their sources, sorted by name.
func BugTable() []BugInfo {
	out := slices.Clone(bugTable)
	slices.SortFunc(out, func(a, b BugInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Bugs lists the plantable bugs' names, sorted.
func Bugs() []string {
	out := make([]string, len(bugTable))
	for i, b := range bugTable {
		out[i] = b.Name
	}
	slices.Sort(out)
	return out
}

// BugSource is the incident a bug comes from ("" for an unknown name).
func BugSource(name string) string {
	for _, b := range bugTable {
		if b.Name == name {
			return b.Source
		}
	}
	return ""
}
