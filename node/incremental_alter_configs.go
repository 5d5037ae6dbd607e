package node

// IncrementalAlterConfigs (key 44), v0–v1: SET, DELETE, and for list
// configs (cleanup.policy) APPEND and SUBTRACT; the configs not named keep
// their values. Applied as AlterConfigs is (alter_configs.go): one metadata
// entry per resource, checked again at apply against the configs then in
// force, so two concurrent APPENDs both take effect. APPEND or SUBTRACT on a
// config that is not a list is INVALID_CONFIG, a name given twice in one
// resource INVALID_REQUEST, as Kafka answers.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleIncrementalAlterConfigs(cn *conn, corr int32, req *kmsg.IncrementalAlterConfigsRequest) {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	resources := make([]alterResource, len(req.Resources))
	for i, rr := range req.Resources {
		ar := alterResource{rtype: rr.ResourceType, name: rr.ResourceName}
		for _, c := range rr.Configs {
			ar.ops = append(ar.ops, configOp{op: c.Op, name: c.Name, value: c.Value})
		}
		resources[i] = ar
	}
	resp.Resources = make([]kmsg.IncrementalAlterConfigsResponseResource, len(resources))
	outs := make([]*alterOutcome, len(resources))
	for i, ar := range resources {
		r := &resp.Resources[i]
		*r = kmsg.NewIncrementalAlterConfigsResponseResource()
		r.ResourceType, r.ResourceName = ar.rtype, ar.name
		outs[i] = &alterOutcome{code: &r.ErrorCode, msg: &r.ErrorMessage}
	}
	n.alterConfigs(cn, corr, resp, resources, outs, req.ValidateOnly)
}
