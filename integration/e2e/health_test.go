package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// healthEvents follows the container name's events on host from now on; stop ends the stream and returns each as
// "ACTION|EXECID".
func healthEvents(t *testing.T, host, name string) (stop func() []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := dockerCmd(ctx, t, host, "events", "--filter", "container="+name, "--format", `{{.Action}}|{{index .Actor.Attributes "execID"}}`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	time.Sleep(300 * time.Millisecond) // the stream is subscribed before the caller's next step
	var once sync.Once
	stop = func() []string {
		once.Do(func() {
			time.Sleep(500 * time.Millisecond) // the last events in flight
			cancel()
			_ = cmd.Wait()
			<-done
		})
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
	t.Cleanup(func() { stop() })
	return stop
}

// healthSequence reduces a container's events to what its healthcheck did: "probe" for each probe (its
// exec_create, exec_start and exec_die in that order, by exec ID, with the probe's command), runs of probes as one
// "probe+", and the health_status events. A probe whose events come out of order is reported as such.
func healthSequence(events []string, probeCmd string) []string {
	probes := map[string]string{} // exec ID → the actions seen so far
	var seq []string
	for _, ev := range events {
		action, id, _ := strings.Cut(ev, "|")
		switch {
		case action == "exec_create: "+probeCmd:
			probes[id] = "create"
		case action == "exec_start: "+probeCmd:
			if probes[id] != "create" {
				seq = append(seq, "start before create")
			}
			probes[id] = "start"
		case action == "exec_die" && probes[id] != "":
			if probes[id] != "start" {
				seq = append(seq, "die before start")
			}
			if len(seq) == 0 || seq[len(seq)-1] != "probe+" {
				seq = append(seq, "probe+")
			}
		case strings.HasPrefix(action, "health_status"):
			seq = append(seq, action)
		}
	}
	return seq
}

func healthStatus(t *testing.T, e engine, name string) string {
	t.Helper()
	return strings.TrimSpace(e.must(t, "inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}", name))
}

// The done-when of healthchecks: --health-cmd with a 1 s interval and 2 retries goes starting → unhealthy, and
// healthy once the file the check tests exists; ps shows it and filters by it; inspect's Health has Docker's
// contents; the events are Docker's (a probe's exec_create, exec_start, exec_die; health_status at each change); a
// stopped container's health reads unhealthy. The same steps run on runsock and on the reference engine.
func TestHealthcheckAsDocker(t *testing.T) {
	seqs := map[string][]string{}
	var mu sync.Mutex
	t.Run("engines", func(t *testing.T) {
		for _, e := range engines(t) {
			t.Run(e.name, func(t *testing.T) {
				t.Parallel()
				name := uniqueName("health")
				t.Cleanup(func() { e.docker(t, "rm", "-f", name) })
				stop := healthEvents(t, e.host, name)
				e.must(t, "run", "-d", "--name", name, "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "2",
					"alpine", "sleep", "600")
				if got := healthStatus(t, e, name); got != "starting" {
					t.Errorf("health right after run: %q, want starting", got)
				}
				waitFor(t, 90*time.Second, name+" unhealthy", func() bool { return healthStatus(t, e, name) == "unhealthy" })
				if st := e.must(t, "ps", "--filter", "name="+name, "--format", "{{.Status}}"); !strings.HasSuffix(strings.TrimSpace(st), "(unhealthy)") {
					t.Errorf("ps status %q, want Up … (unhealthy)", st)
				}
				if got := e.must(t, "ps", "--filter", "health=unhealthy", "--filter", "name="+name, "--format", "{{.Names}}"); strings.TrimSpace(got) != name {
					t.Errorf("ps --filter health=unhealthy: %q, want %s", got, name)
				}
				var h struct {
					Status        string
					FailingStreak int
					Log           []struct {
						Start, End time.Time
						ExitCode   int
						Output     string
					}
				}
				if err := json.Unmarshal([]byte(e.must(t, "inspect", "--format", "{{json .State.Health}}", name)), &h); err != nil {
					t.Fatal(err)
				}
				if h.FailingStreak < 2 || len(h.Log) < 2 || len(h.Log) > 5 || h.Log[len(h.Log)-1].ExitCode != 1 || h.Log[0].End.Before(h.Log[0].Start) {
					t.Errorf("unhealthy Health: %+v; want a failing streak of 2 or more and the last (at most 5) failed results", h)
				}

				e.must(t, "exec", name, "touch", "/tmp/ok")
				waitFor(t, 30*time.Second, name+" healthy", func() bool { return healthStatus(t, e, name) == "healthy" })
				if st := e.must(t, "ps", "--filter", "name="+name, "--format", "{{.Status}}"); !strings.HasSuffix(strings.TrimSpace(st), "(healthy)") {
					t.Errorf("ps status %q, want Up … (healthy)", st)
				}
				for filter, want := range map[string]string{"healthy": name, "unhealthy": "", "none": "", "starting": ""} {
					if got := e.must(t, "ps", "--filter", "health="+filter, "--filter", "name="+name, "--format", "{{.Names}}"); strings.TrimSpace(got) != want {
						t.Errorf("ps --filter health=%s: %q, want %q", filter, got, want)
					}
				}
				seq := healthSequence(stop(), "/bin/sh -c test -f /tmp/ok")
				mu.Lock()
				seqs[e.name] = seq
				mu.Unlock()

				e.must(t, "stop", "-t", "1", name)
				if got := healthStatus(t, e, name); got != "unhealthy" {
					t.Errorf("health of the stopped container: %q, want unhealthy (Docker's, once its monitor stops)", got)
				}
				if st := e.must(t, "ps", "-a", "--filter", "name="+name, "--format", "{{.Status}}"); strings.Contains(st, "health") {
					t.Errorf("ps status of the stopped container %q, want no health", st)
				}

				// A start begins again at starting with no failures, the earlier results kept; a pause reads
				// unhealthy until a probe after the unpause.
				e.must(t, "start", name)
				if got := e.must(t, "inspect", "--format", "{{.State.Health.Status}} {{.State.Health.FailingStreak}} {{len .State.Health.Log}}", name); strings.TrimSpace(got) != "starting 0 5" {
					t.Errorf("health after a start: %q, want \"starting 0 5\"", got)
				}
				e.must(t, "exec", name, "touch", "/tmp/ok")
				waitFor(t, 60*time.Second, name+" healthy again", func() bool { return healthStatus(t, e, name) == "healthy" })
				e.must(t, "pause", name)
				if got := healthStatus(t, e, name); got != "unhealthy" {
					t.Errorf("health of the paused container: %q, want unhealthy", got)
				}
				e.must(t, "unpause", name)
				waitFor(t, 30*time.Second, name+" healthy after the unpause", func() bool { return healthStatus(t, e, name) == "healthy" })
			})
		}
	})
	want := []string{"probe+", "health_status: unhealthy", "probe+", "health_status: healthy"}
	for engine, seq := range seqs {
		if n := len(seq); n > 0 && seq[n-1] == "probe+" {
			seq = seq[:n-1] // probes after the last change, before the stream was stopped
		}
		if strings.Join(seq, ", ") != strings.Join(want, ", ") {
			t.Errorf("%s: healthcheck events %q, want %q", engine, seq, want)
		}
	}
}

// An image's HEALTHCHECK runs (the image made by docker commit --change, on both engines); --no-healthcheck turns
// it off (no Health in inspect, a plain "Up" in ps, health=none in the filter); a bad healthcheck is refused at
// create with Docker's message; a bad health filter too.
func TestHealthcheckFromImageAndNoHealthcheck(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			base := uniqueName("health-base")
			t.Cleanup(func() { e.docker(t, "rm", "-f", base) })
			e.must(t, "run", "--name", base, "alpine", "true")
			image := uniqueName("e2e-health") + ":v1"
			t.Cleanup(func() { e.docker(t, "rmi", "-f", image) })
			e.must(t, "commit", "--change", "HEALTHCHECK --interval=1s --retries=1 CMD [\"sh\", \"-c\", \"echo probed; exit 0\"]",
				"--change", `CMD ["sleep", "600"]`, base, image)

			name := uniqueName("health-image")
			t.Cleanup(func() { e.docker(t, "rm", "-f", name) })
			e.must(t, "run", "-d", "--name", name, image)
			if got := e.must(t, "inspect", "--format", "{{json .Config.Healthcheck.Test}}", name); strings.TrimSpace(got) != `["CMD","sh","-c","echo probed; exit 0"]` {
				t.Errorf("Config.Healthcheck.Test from the image: %s", got)
			}
			waitFor(t, 90*time.Second, name+" healthy", func() bool { return healthStatus(t, e, name) == "healthy" })
			if out := e.must(t, "inspect", "--format", "{{(index .State.Health.Log 0).Output}}", name); out != "probed\n\n" {
				t.Errorf("probe output %q, want the command's output", out)
			}

			off := uniqueName("health-off")
			t.Cleanup(func() { e.docker(t, "rm", "-f", off) })
			e.must(t, "run", "-d", "--name", off, "--no-healthcheck", image)
			if got := e.must(t, "inspect", "--format", "{{json .State.Health}} {{json .Config.Healthcheck.Test}}", off); strings.TrimSpace(got) != `null ["NONE"]` {
				t.Errorf("--no-healthcheck: Health and test %s, want null [\"NONE\"]", got)
			}
			if st := e.must(t, "ps", "--filter", "name="+off, "--format", "{{.Status}}"); !strings.HasPrefix(st, "Up") || strings.Contains(st, "(") {
				t.Errorf("ps status without a healthcheck: %q", st)
			}
			if got := e.must(t, "ps", "--filter", "health=none", "--filter", "name="+off, "--format", "{{.Names}}"); strings.TrimSpace(got) != off {
				t.Errorf("ps --filter health=none: %q, want %s", got, off)
			}

			if r := e.docker(t, "create", "--health-cmd", "true", "--health-interval", "500us", "alpine"); r.code == 0 ||
				!strings.Contains(r.stderr, "Interval in Healthcheck cannot be less than 1ms") {
				t.Errorf("create with a 500us interval: %s", r)
			}
			if r := e.docker(t, "ps", "--filter", "health=sick"); r.code == 0 || !strings.Contains(r.stderr, "Unrecognised filter value for health: sick") {
				t.Errorf("ps --filter health=sick: %s", r)
			}
		})
	}
}
