package containers

import (
	"os/exec"
	"strings"
	"testing"
)

// The lifecycle reaches the cloud, the database and the agent only through the interfaces it declares: it never
// imports them, not even indirectly.
func TestImportsNoCloudSDKNorAgentLink(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{"cloud.google.com/", "google.golang.org/grpc", "google.golang.org/api",
		"/controlplane/internal/agentlink", "/controlplane/internal/agentsessions", "/controlplane/internal/livelogs",
		"/controlplane/internal/dockerapi", "/controlplane/internal/store", "/linkproto"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.Contains(dep, f) {
				t.Errorf("containers depends on %s", dep)
			}
		}
	}
}
