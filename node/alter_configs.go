package node

// AlterConfigs (key 33), v0–v2: the legacy whole-set alter. A resource's
// configs become exactly the ones listed (the rest fall back to the
// broker's), as Kafka's AlterConfigs replaces them. Topic resources, and the
// broker resource with an empty name (the cluster-wide dynamic defaults);
// a broker named by its id is INVALID_REQUEST: ketch keeps no per-broker
// dynamic configs. Any broker takes it: each resource is one metadata entry
// (a follower forwards it to the metadata leader, as Kafka 4 brokers forward
// to the controller), checked again when it applies and answered then, so
// every replica holds the same configs. An unknown name or a bad value is
// INVALID_CONFIG with Kafka's message; a read-only broker config
// INVALID_REQUEST. ValidateOnly checks against this node's state and
// changes nothing. A resource named twice is answered INVALID_REQUEST for
// each mention.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleAlterConfigs(cn *conn, corr int32, req *kmsg.AlterConfigsRequest) {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	resources := make([]alterResource, len(req.Resources))
	for i, rr := range req.Resources {
		ar := alterResource{rtype: rr.ResourceType, name: rr.ResourceName, replace: true}
		for _, c := range rr.Configs {
			ar.ops = append(ar.ops, configOp{op: kmsg.IncrementalAlterConfigOpSet, name: c.Name, value: c.Value})
		}
		resources[i] = ar
	}
	resp.Resources = make([]kmsg.AlterConfigsResponseResource, len(resources))
	outs := make([]*alterOutcome, len(resources))
	for i, ar := range resources {
		r := &resp.Resources[i]
		*r = kmsg.NewAlterConfigsResponseResource()
		r.ResourceType, r.ResourceName = ar.rtype, ar.name
		outs[i] = &alterOutcome{code: &r.ErrorCode, msg: &r.ErrorMessage}
	}
	n.alterConfigs(cn, corr, resp, resources, outs, req.ValidateOnly)
}

// alterResource is one resource of an alter request, as ops.
type alterResource struct {
	rtype   kmsg.ConfigResourceType
	name    string
	replace bool
	ops     []configOp
}

// alterOutcome points into the answer's resource.
type alterOutcome struct {
	code *int16
	msg  **string
}

// alterConfigs checks each resource, proposes the good ones to the metadata
// group and answers once every proposal applied or failed.
func (n *Node) alterConfigs(cn *conn, corr int32, resp kmsg.Response, resources []alterResource, outs []*alterOutcome, validateOnly bool) {
	more, finish := n.answerWhenDone(cn, corr, resp)
	mg := n.groups[metaGroup]
	deadline := n.now.Add(alterConfigsTimeout)
	type key struct {
		t kmsg.ConfigResourceType
		n string
	}
	count := make(map[key]int, len(resources))
	for _, ar := range resources {
		count[key{ar.rtype, ar.name}]++
	}
	for i, ar := range resources {
		out := outs[i]
		fail := func(code int16, msg string) {
			*out.code = code
			if msg != "" {
				*out.msg = &msg
			}
		}
		var rtype byte
		switch {
		case i >= configResourcesMax:
			fail(kerr.InvalidRequest.Code, "too many resources")
			continue
		case count[key{ar.rtype, ar.name}] > 1:
			fail(kerr.InvalidRequest.Code, "Duplicate resource in the request")
			continue
		case len(ar.ops) > configsPerResourceMax:
			fail(kerr.InvalidRequest.Code, "too many configs")
			continue
		case ar.rtype == kmsg.ConfigResourceTypeTopic:
			rtype = resourceTopic
			t := n.meta.topics[ar.name]
			if t == nil {
				fail(kerr.UnknownTopicOrPartition.Code, "The topic '"+ar.name+"' does not exist.")
				continue
			}
			if _, code, msg := applyConfigOps(t.configs, rtype, ar.replace, ar.ops); code != 0 {
				fail(code, msg)
				continue
			}
		case ar.rtype == kmsg.ConfigResourceTypeBroker:
			rtype = resourceBroker
			if ar.name != "" {
				fail(kerr.InvalidRequest.Code, "broker configs are cluster-wide: alter the default broker resource (an empty name)")
				continue
			}
			if _, code, msg := applyConfigOps(n.meta.brokerConfigs, rtype, ar.replace, ar.ops); code != 0 {
				fail(code, msg)
				continue
			}
		default:
			fail(kerr.InvalidRequest.Code, "unsupported resource type")
			continue
		}
		if validateOnly {
			continue
		}
		more()
		n.propose(mg, cmdAlterConfigs, appendAlterConfigs(nil, rtype, ar.name, ar.replace, ar.ops), deadline,
			func(res any) {
				r := res.(metaResult)
				fail(r.code, r.msg)
				finish()
			},
			func(code int16) {
				if code == kerr.NotLeaderForPartition.Code {
					code = kerr.NotController.Code
				}
				fail(code, "")
				finish()
			})
	}
	finish()
}

// alterConfigsTimeout bounds the wait for a config change to apply: the
// requests carry no timeout (Kafka's admin client uses 30s).
const alterConfigsTimeout = 30 * time.Second
