package e2e

import (
	"strings"
	"testing"
)

// TestReviewInfoLoggingDriver: /info's LoggingDriver is the driver a container gets when it names none, and the
// same as the reference engine's (json-file).
func TestReviewInfoLoggingDriver(t *testing.T) {
	t.Parallel()
	got := map[string]string{}
	for _, e := range engines(t) {
		name := uniqueName("review-logdriver")
		t.Cleanup(func() { e.docker(t, "rm", "-f", name) })
		e.must(t, "create", "--name", name, "alpine", "true")
		driver := strings.TrimSpace(e.must(t, "info", "--format", "{{.LoggingDriver}}"))
		if created := strings.TrimSpace(e.must(t, "inspect", "-f", "{{.HostConfig.LogConfig.Type}}", name)); created != driver {
			t.Errorf("%s: info says LoggingDriver %q, a container created without --log-driver has %q", e.name, driver, created)
		}
		got[e.name] = driver
	}
	if got["runsock"] != got["docker"] {
		t.Errorf("LoggingDriver: runsock %q, the reference engine %q", got["runsock"], got["docker"])
	}
}
