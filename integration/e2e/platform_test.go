package e2e

import (
	"os"
	"strings"
	"testing"
)

// User code finds the metadata server as on Cloud Run: metadata.google.internal and 169.254.169.254 on port 80,
// with nothing simulator-only in its environment.
func TestUserCodeReachesTheMetadataServerAsOnCloudRun(t *testing.T) {
	project := os.Getenv("RUNSOCK_PROJECT")
	if project == "" {
		project = "runsock-dev"
	}
	script := `wget -qO- --header 'Metadata-Flavor: Google' http://metadata.google.internal/computeMetadata/v1/project/project-id; echo
wget -qO- --header 'Metadata-Flavor: Google' http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/email; echo
env`
	r := docker(t, "run", "--rm", "alpine", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("run: %s", r)
	}
	lines := strings.Split(r.stdout, "\n")
	if len(lines) < 3 || lines[0] != project || !strings.HasSuffix(lines[1], ".gserviceaccount.com") {
		t.Errorf("metadata answers %q, want the project %q and the job's service account", lines[:min(2, len(lines))], project)
	}
	if strings.Contains(r.stdout, "GCE_METADATA") {
		t.Errorf("the container's environment names the metadata server, which Cloud Run never does:\n%s", r.stdout)
	}
}
