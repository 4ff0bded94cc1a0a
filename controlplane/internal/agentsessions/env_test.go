package agentsessions

import (
	"slices"
	"testing"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/linkproto"
)

// A container with an endpoint on a user-defined network has its agent wait for its peers (RUNSOCK_PEERS); one on
// the built-in networks only does not.
func TestEnvPeersOnUserDefinedNetworks(t *testing.T) {
	a := &Agent{o: AgentOptions{URL: "https://cp.example"}}
	for _, tc := range []struct {
		networks []string
		want     bool
	}{
		{nil, false},
		{[]string{"bridge"}, false},
		{[]string{"host"}, false},
		{[]string{"none"}, false},
		{[]string{"default"}, false},
		{[]string{"proj_backend"}, true},
		{[]string{"bridge", "proj_default"}, true},
	} {
		c := &containers.Container{ID: "0123456789ab", Networks: map[string]*containers.Endpoint{}}
		for _, n := range tc.networks {
			c.Networks[n] = &containers.Endpoint{}
		}
		if got := slices.Contains(a.env(c, "secret", "run"), linkproto.EnvPeers+"=1"); got != tc.want {
			t.Errorf("networks %q: %s=1 set %v, want %v", tc.networks, linkproto.EnvPeers, got, tc.want)
		}
	}
}
