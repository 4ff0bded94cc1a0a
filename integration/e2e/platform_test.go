package e2e

import (
	"os"
	"strings"
	"testing"
	"time"
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

// An outage of the Cloud Run Admin API (gcpsim's process gone) is not the loss of a data centre: a running container
// keeps working through its agent, new starts fail naming the Admin API, and once the API is back the container's
// task is adopted and its exit seen, and new containers run again at once.
func TestCloudRunAdminAPIOutage(t *testing.T) {
	name := uniqueName("outage")
	removeOnCleanup(t, name)
	mustDocker(t, "run", "-d", "--name", name, "alpine", "sh", "-c",
		"echo before; while [ ! -e /tmp/go-on ]; do sleep 0.2; done; echo after; exit 3")
	waitFor(t, 60*time.Second, "first line", func() bool { return strings.Contains(docker(t, "logs", name).stdout, "before") })

	killPart(t, "gcpsim")
	up := false
	t.Cleanup(func() {
		if !up {
			devUp(t)
		}
	})
	if got := mustDocker(t, "exec", name, "echo", "exec works"); got != "exec works\n" {
		t.Errorf("exec while the Admin API is down = %q", got)
	}
	if got := mustDocker(t, "logs", name); got != "before\n" {
		t.Errorf("logs while the Admin API is down = %q", got)
	}
	if r := docker(t, "run", "--rm", "alpine", "true"); r.code == 0 || !strings.Contains(r.stderr, "Cloud Run Admin API") {
		t.Errorf("run while the Admin API is down: want a failure naming the Cloud Run Admin API, got %s", r)
	}

	devUp(t)
	up = true
	mustDocker(t, "exec", name, "touch", "/tmp/go-on")
	if r := docker(t, "wait", name); strings.TrimSpace(r.stdout) != "3" {
		t.Fatalf("wait after the outage: %s", r)
	}
	if got := mustDocker(t, "logs", name); got != "before\nafter\n" {
		t.Errorf("logs after the outage = %q", got)
	}
	// The API is back: a new container starts, runs and is removed at once, as the first call after an outage of
	// Google's API succeeds. (It hung here when the Admin API's connection was still between reconnect attempts:
	// the --rm container's removal was refused and never retried, so the CLI's wait for it never ended.)
	start := time.Now()
	r := docker(t, "run", "--rm", "alpine", "echo", "ok")
	if took := time.Since(start); r.code != 0 || r.stdout != "ok\n" || took > 30*time.Second {
		t.Errorf("run after the outage took %s: %s", took.Round(time.Millisecond), r)
	}
}
