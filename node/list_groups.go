package node

// ListGroups (key 16), v0–v5: the groups of every __consumer_offsets
// partition this node coordinates, as Kafka lists those of the coordinator
// partitions a broker hosts; a partition it leads but has not finished
// loading fails the whole answer with COORDINATOR_LOAD_IN_PROGRESS, which
// clients retry. StatesFilter (v4+) and TypesFilter (v5+) keep the groups
// whose state or type is named, case-insensitively; ketch's groups here are
// all of type "classic".

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const groupTypeClassic = "classic"

func (n *Node) handleListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	named := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	t := n.meta.topics[offsetsTopic]
	if t == nil {
		return resp
	}
	for _, pm := range t.partitions {
		g := n.groups[pm.group]
		if g == nil || !g.leader || g.part == nil || g.part.coord == nil {
			continue
		}
		if !g.serving() {
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			resp.Groups = nil
			return resp
		}
		n.loadCoordinator(g)
		cs := g.part.coord
		for _, name := range cs.groupNames() {
			if cs.consumer[name] != nil {
				continue // a KIP-848 group, listed below
			}
			state, protocolType, _, _ := groupView(cs, name)
			if !named(req.StatesFilter, state.String()) || !named(req.TypesFilter, groupTypeClassic) {
				continue
			}
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = name, protocolType, state.String(), groupTypeClassic
			resp.Groups = append(resp.Groups, lg)
		}
		for _, c := range cs.consumerGroupListing() {
			if named(req.StatesFilter, c.state) && named(req.TypesFilter, groupTypeConsumer) {
				lg := kmsg.NewListGroupsResponseGroup()
				lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = c.name, groupTypeConsumer, c.state, groupTypeConsumer
				resp.Groups = append(resp.Groups, lg)
			}
		}
	}
	return resp
}

// groupNames lists every group a coordinator partition knows, in its log or
// in its session state only (joined, generation not written yet), sorted.
func (cs *coordState) groupNames() []string {
	names := make([]string, 0, len(cs.groups)+len(cs.live))
	for name := range cs.groups {
		names = append(names, name)
	}
	for name := range cs.live {
		if cs.groups[name] == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
