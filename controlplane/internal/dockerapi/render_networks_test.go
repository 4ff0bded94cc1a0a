package dockerapi

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// A running container's endpoint on a user-defined network lists its DNS names as Docker does: name, aliases, short
// ID, hostname, each once (the default hostname is the short ID).
func TestEndpointDNSNamesAsDocker(t *testing.T) {
	for _, tc := range []struct {
		hostname string
		want     []string
	}{
		{"apihost", []string{"web", "api", "0123456789ab", "apihost"}},
		{"", []string{"web", "api", "0123456789ab"}},
		{"api", []string{"web", "api", "0123456789ab"}},
	} {
		c := &containers.Container{ID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Name: "web",
			Config: container.Config{Hostname: tc.hostname}, State: containers.State{Status: container.StateRunning},
			Networks: map[string]*containers.Endpoint{"appnet": {NetworkID: "n1", Aliases: []string{"api"}, IPAddress: "127.18.0.2",
				PrefixLen: 16, Gateway: "127.18.0.1", MacAddress: "02:42:7f:12:00:02", EndpointID: "e1"}}}
		es := inspect(c).NetworkSettings.Networks["appnet"]
		if es == nil || !slices.Equal(es.DNSNames, tc.want) {
			t.Errorf("hostname %q: DNSNames = %v, want %v", tc.hostname, es, tc.want)
		}
		if es != nil && (es.IPPrefixLen != 16 || es.IPAddress.String() != "127.18.0.2" || es.Gateway.String() != "127.18.0.1" ||
			es.MacAddress.String() != "02:42:7f:12:00:02" || es.EndpointID != "e1" || es.NetworkID != "n1") {
			t.Errorf("endpoint %+v", es)
		}
	}
}
