package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestReviewWorkdirAsDocker: `docker run -w` of a missing directory runs there (created, root's, 0755), and a
// relative one is refused with Docker's words, on runsock as on the reference engine.
func TestReviewWorkdirAsDocker(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			out := e.must(t, "run", "--rm", "-w", "/missing/dir", "alpine", "sh", "-c", "pwd; stat -c '%a %U' /missing /missing/dir")
			if want := "/missing/dir\n755 root\n755 root\n"; out != want {
				t.Errorf("run -w /missing/dir printed %q, want %q", out, want)
			}
			// An exec without -w runs in the container's working directory, made at the start.
			name := uniqueName("review-workdir")
			t.Cleanup(func() { e.docker(t, "rm", "-f", name) })
			e.must(t, "run", "-d", "--name", name, "-w", "/made/at/start", "alpine", "sleep", "600")
			waitFor(t, 60*time.Second, "an exec in "+name, func() bool { return e.docker(t, "exec", name, "true").code == 0 })
			if out := e.must(t, "exec", name, "pwd"); out != "/made/at/start\n" {
				t.Errorf("exec pwd in a container run with -w /made/at/start printed %q", out)
			}
			r := e.docker(t, "run", "--rm", "-w", "rel", "alpine", "pwd")
			if want := "the working directory 'rel' is invalid, it needs to be an absolute path"; r.code != 125 || !strings.Contains(r.stderr, want) {
				t.Errorf("run -w rel: %s, want exit 125 and %q", r, want)
			}
		})
	}
}

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

// reviewEndGrace is how long runsock's follower keeps reading after a die (livelogs.EndGrace).
const reviewEndGrace = 5 * time.Second

// TestReviewLogsFollowEndsWithTheRun: `docker logs -f` of a container with a restart policy ends when the run it
// follows ends, with that run's output, as the reference engine's does (Docker 20.10: its follower ends with the
// run's log writer; checked three times, each ended at the first exit with one line), rather than following the
// restarts.
func TestReviewLogsFollowEndsWithTheRun(t *testing.T) {
	t.Parallel()
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			name := uniqueName("review-follow")
			t.Cleanup(func() { e.docker(t, "rm", "-f", name) })
			e.must(t, "run", "-d", "--name", name, "--restart", "always", "alpine", "sh", "-c", "echo run; sleep 5; exit 1")
			start := time.Now()
			r := e.docker(t, "logs", "-f", name)
			took := time.Since(start)
			if r.code != 0 || r.stdout != "run\n" {
				t.Fatalf("logs -f: %s, want the one run's line", r)
			}
			if limit := 5*time.Second + reviewEndGrace + 5*time.Second; took > limit {
				t.Fatalf("logs -f took %s (more than %s): it followed the restarts", took, limit)
			}
			waitFor(t, 60*time.Second, name+" restarted", func() bool {
				return strings.TrimSpace(e.docker(t, "inspect", "-f", "{{.RestartCount}}", name).stdout) != "0"
			})
		})
	}
}
