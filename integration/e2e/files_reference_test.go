package e2e

import (
	"os"
	"sort"
	"strings"
	"testing"
)

// sortedLines sorts output's lines: docker diff's order is its daemon's walk of maps, not fixed, so lines are
// compared as sets.
func sortedLines(output string) string {
	lines := strings.Split(strings.TrimSuffix(output, "\n"), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// refDocker runs the docker CLI against the reference engine.
func refDocker(t *testing.T, args ...string) result {
	t.Helper()
	return dockerAs(t, referenceHost(t), "", args...)
}

func mustRefDocker(t *testing.T, args ...string) string {
	t.Helper()
	r := refDocker(t, args...)
	if r.code != 0 {
		t.Fatalf("reference docker %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// referenceAlpine pulls, on the reference engine, the image runsock's "alpine" is (gcpsim's Docker Hub stand-in's
// library/alpine) and returns its name there.
func referenceAlpine(t *testing.T) string {
	t.Helper()
	hub := os.Getenv("GCPSIM_DOCKERHUB")
	if hub == "" {
		t.Skip("GCPSIM_DOCKERHUB not set")
	}
	img := hub + "/library/alpine:latest"
	mustRefDocker(t, "pull", "-q", img)
	return img
}

// onBothWith runs the same docker command on runsock and on the reference engine, with image standing for the
// reference's copy of alpine there, and returns both results.
func onBothWith(t *testing.T, refImage string, args ...string) (runsock, reference result) {
	t.Helper()
	refArgs := make([]string, len(args))
	for i, a := range args {
		if a == "alpine" {
			a = refImage
		}
		refArgs[i] = a
	}
	return docker(t, args...), refDocker(t, refArgs...)
}
