package node

// DescribeConfigs (key 32), v0–v4. Any broker answers from its applied
// metadata state, as a Kafka broker answers from its metadata cache.
//
// A topic resource lists the topic configs ketch knows (configs.go), each
// with its value in effect and its source: DYNAMIC_TOPIC_CONFIG when set on
// the topic, DYNAMIC_DEFAULT_BROKER_CONFIG or STATIC_BROKER_CONFIG when a
// broker synonym sets it, DEFAULT_CONFIG otherwise; with IncludeSynonyms
// (v1+), every level that has a value, most preferred first, as Kafka lists
// them. A broker resource named by this broker's id lists its broker
// configs; one with an empty name lists only the cluster-wide dynamic ones
// (Kafka's "default broker" resource); another broker's id is
// INVALID_REQUEST, as Kafka answers (clients send a broker's resource to
// that broker). ConfigNames filters; names ketch does not know are left out.
// Other resource types: INVALID_REQUEST. IsDefault (v0) is true for
// DEFAULT_CONFIG; ConfigType and, when asked, Documentation from v3.

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (n *Node) handleDescribeConfigs(cn *conn, corr int32, req *kmsg.DescribeConfigsRequest) {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for i, rr := range req.Resources {
		r := kmsg.NewDescribeConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		if i >= configResourcesMax {
			r.ErrorCode = kerr.InvalidRequest.Code
			resp.Resources = append(resp.Resources, r)
			continue
		}
		want := func(name string) bool { return rr.ConfigNames == nil || slices.Contains(rr.ConfigNames, name) }
		add := func(v configValue, syns []configValue, readOnly bool, typ kmsg.ConfigType, doc string) {
			if !want(v.name) {
				return
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.Value, c.Source, c.ReadOnly = v.name, v.value, v.source, readOnly
			c.IsDefault = v.source == kmsg.ConfigSourceDefaultConfig
			c.ConfigType = typ
			if req.IncludeDocumentation {
				c.Documentation = sp(doc)
			}
			if req.IncludeSynonyms {
				for _, s := range syns {
					cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					cs.Name, cs.Value, cs.Source = s.name, s.value, s.source
					c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
				}
			}
			r.Configs = append(r.Configs, c)
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := n.meta.topics[rr.ResourceName]
			if t == nil {
				r.ErrorCode = kerr.UnknownTopicOrPartition.Code
				r.ErrorMessage = sp("The topic '" + rr.ResourceName + "' does not exist.")
				break
			}
			for k := range topicConfigs {
				d := &topicConfigs[k]
				v, syns := n.topicValue(t, d)
				add(v, syns, false, d.typ, d.doc)
			}
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName == "" {
				for k := range brokerConfigs {
					d := &brokerConfigs[k]
					if x, ok := n.meta.brokerConfigs[d.name]; ok {
						v := configValue{d.name, sp(x), kmsg.ConfigSourceDynamicDefaultBrokerConfig}
						add(v, []configValue{v}, false, d.typ, d.doc)
					}
				}
				break
			}
			if id, err := strconv.ParseUint(rr.ResourceName, 10, 64); err != nil || id != n.cfg.ID {
				r.ErrorCode = kerr.InvalidRequest.Code
				r.ErrorMessage = sp(fmt.Sprintf("Unexpected broker id, expected %d or empty string, but received %s", n.cfg.ID, rr.ResourceName))
				break
			}
			for k := range brokerConfigs {
				d := &brokerConfigs[k]
				v := n.brokerValue(d)
				syns := n.brokerSynonyms(d)
				add(v, syns, !d.dynamic, d.typ, d.doc)
			}
		default:
			r.ErrorCode = kerr.InvalidRequest.Code
			r.ErrorMessage = sp(fmt.Sprintf("unsupported resource type %d", rr.ResourceType))
		}
		resp.Resources = append(resp.Resources, r)
	}
	n.reply(cn, corr, resp)
}

// brokerSynonyms lists every level of a broker config that has a value.
func (n *Node) brokerSynonyms(d *brokerConfigDef) []configValue {
	if d.readOnly != nil {
		return []configValue{n.brokerValue(d)}
	}
	var out []configValue
	if x, ok := n.meta.brokerConfigs[d.name]; ok {
		out = append(out, configValue{d.name, sp(x), kmsg.ConfigSourceDynamicDefaultBrokerConfig})
	}
	if x, ok := n.cfg.BrokerConfigs[d.name]; ok {
		out = append(out, configValue{d.name, sp(x), kmsg.ConfigSourceStaticBrokerConfig})
	}
	if d.def != nil {
		out = append(out, configValue{d.name, d.def, kmsg.ConfigSourceDefaultConfig})
	}
	return out
}
