package node

// The group coordinator's planted bugs (../shared/BUGZOO.md, "Consumer
// groups"). They are registered in bugTable once the simulator's group
// clients catch them.
const (
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
)

// unlistedBugs are planted but not yet in bugTable (no swarm bound yet):
// New accepts them, so node tests can plant them, but Bugs() does not list
// them, so the simulator's catch table and bounds do not expect them.
var unlistedBugs = []string{BugGroupStateInMemory, BugMutateOnPropose}
