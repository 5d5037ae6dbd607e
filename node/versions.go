package node

import "github.com/twmb/franz-go/pkg/kmsg"

// served is the one table of what this broker implements. ApiVersions
// advertises exactly this, the parser refuses anything outside it, and
// dispatch has a handler for each key (a test checks all three agree).
var served = []struct {
	key      kmsg.Key
	min, max int16
}{
	{kmsg.Produce, 3, 13},
	{kmsg.Fetch, 4, 16},
	{kmsg.ListOffsets, 1, 8},
	{kmsg.Metadata, 0, 12},
	{kmsg.ApiVersions, 0, 3},
	{kmsg.CreateTopics, 2, 7},
	{kmsg.DeleteTopics, 1, 6},
	{kmsg.DescribeConfigs, 0, 4},
	{kmsg.AlterConfigs, 0, 2},
	{kmsg.IncrementalAlterConfigs, 0, 1},
	{kmsg.CreatePartitions, 0, 3},
	{kmsg.DeleteRecords, 0, 2},
	{kmsg.InitProducerID, 0, 4},
	{kmsg.OffsetForLeaderEpoch, 0, 4},
	{kmsg.FindCoordinator, 0, 6},
	{kmsg.JoinGroup, 0, 9},
	{kmsg.SyncGroup, 0, 5},
	{kmsg.Heartbeat, 0, 4},
	{kmsg.LeaveGroup, 0, 5},
	{kmsg.OffsetCommit, 0, 10},
	{kmsg.OffsetFetch, 0, 10},
	{kmsg.DescribeGroups, 0, 6},
	{kmsg.ListGroups, 0, 5},
	{kmsg.DeleteGroups, 0, 3},
	{kmsg.OffsetDelete, 0, 0},
	{kmsg.ConsumerGroupHeartbeat, 0, 1},
	{kmsg.ConsumerGroupDescribe, 0, 1},
}

func servedVersions(key int16) (min, max int16, ok bool) {
	for _, s := range served {
		if int16(s.key) == key {
			return s.min, s.max, true
		}
	}
	return 0, 0, false
}
