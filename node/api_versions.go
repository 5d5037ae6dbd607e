package node

// ApiVersions (key 18), v0–v3. Advertises exactly the served table. An
// ApiVersions request of a version we do not serve is answered in v0 with
// UNSUPPORTED_VERSION (conn.go), as Kafka does, so clients can downgrade.
// From v3 the client names its software; a name or version Kafka's pattern
// refuses is answered INVALID_REQUEST with no versions, as Kafka does.

import (
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// softwarePattern is Kafka's ApiVersionsRequest.SOFTWARE_NAME_VERSION_PATTERN.
var softwarePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func handleApiVersions(req *kmsg.ApiVersionsRequest) *kmsg.ApiVersionsResponse {
	if req.Version >= 3 && (!softwarePattern.MatchString(req.ClientSoftwareName) || !softwarePattern.MatchString(req.ClientSoftwareVersion)) {
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(req.Version)
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.FinalizedFeaturesEpoch = -1
		return resp
	}
	return apiVersionsResponse(req.Version)
}

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
