package node

// The group coordinator's planted bugs. Each is in bugTable once the
// simulator's group clients catch it within 50 swarm seeds (the scenarios'
// tests demand a swarm bound for every listed bug); until then it is in
// unlistedBugs, and only node tests plant it.
const (
	// BugCommitAnyGeneration (KAFKA-2555 discussion): OffsetCommit skips
	// the generation and member checks, in the handler and in the apply
	// guard alike, so a consumer paused past its session timeout that
	// comes back after a rebalance (a zombie of a fenced generation)
	// commits over the offsets of the partition's new owner.
	BugCommitAnyGeneration = "commit-any-generation"
	// BugOffsetsWhileLoading (KAFKA-16030): a new coordinator answers
	// OffsetFetch from its fold as soon as it leads the partition, before it
	// has applied the entries committed before its term (it is not yet
	// serving()). A commit acknowledged by the old coordinator whose commit
	// index the new one had not learned yet is missing from the answer: the
	// consumer resumes from an older offset.
	BugOffsetsWhileLoading = "offsets-while-loading"
	// BugExpireDuringRebalance (KAFKA-13636): offset expiry handles a group
	// in a rebalance (PreparingRebalance, CompletingRebalance) as if it had
	// no members: each offset expires offsets.retention after its last
	// commit, though the group's members are about to resume from it. A
	// group that consumes an idle topic (nothing new to commit) loses its
	// offsets in the first rebalance after the retention.
	BugExpireDuringRebalance = "expire-during-rebalance"
	// BugGroupStateInMemory (KAFKA-2720; Redpanda #14487): a group's
	// generation and membership live only in the coordinator's memory;
	// offsets are written, group metadata never is. After the coordinator
	// moves, the next one knows no members and no generation: every member
	// rejoins as new and generations start over, so a generation number
	// names two different memberships, and a zombie of the first is not
	// fenced by it.
	BugGroupStateInMemory = "group-state-in-memory"
	// BugMutateOnPropose (KAFKA-9666; Redpanda #6018): the coordinator
	// takes a rebalance's new generation (and answers its members) when it
	// proposes the group write, not when the write applies. A coordinator
	// that loses leadership before the write commits has told members of a
	// generation the log never held; the next coordinator hands the same
	// number out again to another membership.
	BugMutateOnPropose = "mutate-on-propose"
	// BugAssignBeforeRevoke (KAFKA-16147, "Partition is assigned to two
	// members at the same time"): the KIP-848 coordinator's record of who
	// holds a partition (Kafka's partition epochs) loses the partitions a
	// member is still revoking, so the next member to reconcile is given a
	// partition whose previous owner has not released it yet: two members
	// consume it at once (group848.go, cgGroup.owners).
	BugAssignBeforeRevoke = "assign-before-revoke"
)

// unlistedBugs are planted but not in bugTable: the simulator does not catch
// them within 50 swarm seeds yet (docs/zoo.md says why). New accepts them,
// so node tests plant them, but Bugs() does not list them, so the catch
// table and its bounds do not expect them.
var unlistedBugs []string
