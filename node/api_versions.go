package node

// ApiVersions (key 18), v0–v3. Advertises exactly the served table. An
// ApiVersions request of a version we do not serve is answered in v0 with
// UNSUPPORTED_VERSION (conn.go), as Kafka does, so clients can downgrade.

import "github.com/twmb/franz-go/pkg/kmsg"

func apiVersionsResponse(version int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(version)
	for _, s := range served {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey = int16(s.key)
		k.MinVersion = s.min
		k.MaxVersion = s.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	resp.FinalizedFeaturesEpoch = -1
	return resp
}
