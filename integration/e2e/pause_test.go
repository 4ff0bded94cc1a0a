package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// docker pause stops every process of the container; what Docker allows and refuses while it is paused, and what
// ends a pause. Same steps on runsock and the reference engine.
func TestPauseAndUnpauseAsDocker(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			since := time.Now().Add(-time.Second).Unix()
			name := e.run(t, "pause", "alpine", "sh", "-c", `i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done`)
			e.waitLogs(t, name, "3\n")
			last := func() string {
				lines := strings.Split(strings.TrimSpace(e.must(t, "logs", name)), "\n")
				return lines[len(lines)-1]
			}
			refused := func(want string, args ...string) {
				t.Helper()
				if r := e.docker(t, args...); r.code == 0 || !strings.Contains(r.stderr, want) {
					t.Errorf("docker %s: %s; want a failure saying %q", strings.Join(args, " "), r, want)
				}
			}

			e.must(t, "pause", name)
			if got := strings.TrimSpace(e.must(t, "ps", "--filter", "name="+name, "--format", "{{.State}}|{{.Status}}")); !strings.HasPrefix(got, "paused|Up ") || !strings.HasSuffix(got, "(Paused)") {
				t.Errorf("ps while paused: %q; want paused|Up … (Paused)", got)
			}
			if got := strings.TrimSpace(e.must(t, "inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.State.Paused}}", name)); got != "paused true true" {
				t.Errorf("inspect while paused: %q; want paused true true", got)
			}
			if got := strings.TrimSpace(e.must(t, "ps", "-q", "--no-trunc", "--filter", "status=paused", "--filter", "name="+name)); got == "" {
				t.Error("ps --filter status=paused does not list the paused container")
			}
			before := last()
			time.Sleep(time.Second)
			if after := last(); after != before {
				t.Errorf("the output went on while paused: %s, then %s", before, after)
			}
			refused("is already paused", "pause", name)
			refused("is paused, unpause the container before exec", "exec", name, "true")
			refused("You cannot remove a paused container", "rm", name)
			refused("cannot start a paused container, try unpause instead", "start", name)
			// The CLI refuses to attach to a paused container by itself; the API does too.
			if code, body := e.api(t, "POST", "/containers/"+name+"/attach?stream=1&stdout=1"); code != 409 || !strings.Contains(body, "is paused, unpause the container before attach") {
				t.Errorf("attach to a paused container: %d %s; want 409 saying it is paused", code, body)
			}
			if out := e.must(t, "top", name); !strings.Contains(out, "sleep") {
				t.Errorf("top while paused: %q", out)
			}

			e.must(t, "unpause", name)
			waitFor(t, 10*time.Second, "output after unpause", func() bool { return last() != before })
			if got := strings.TrimSpace(e.must(t, "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", name)); got != "running false" {
				t.Errorf("inspect after unpause: %q; want running false", got)
			}
			refused("is not paused", "unpause", name)
			e.must(t, "exec", name, "true")

			// A stop of a paused container works: the shell has no handler for SIGTERM, so the kill at the timeout.
			e.must(t, "pause", name)
			e.must(t, "stop", "-t", "2", name)
			if got := strings.TrimSpace(e.must(t, "inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.ExitCode}}", name)); got != "exited false 137" {
				t.Errorf("inspect after stop of a paused container: %q; want exited false 137", got)
			}
			refused("is not running", "pause", name)

			// A kill of a paused container works too.
			e.must(t, "start", name)
			if e.host == stack.dockerHost {
				waitFor(t, 60*time.Second, "the agent", func() bool { return e.docker(t, "exec", name, "true").code == 0 })
			}
			e.must(t, "pause", name)
			e.must(t, "kill", name)
			if code := strings.TrimSpace(e.must(t, "wait", name)); code != "137" {
				t.Errorf("wait after kill of a paused container: %s; want 137", code)
			}

			events := e.must(t, "events", "--since", itoa(since), "--until", itoa(time.Now().Add(time.Second).Unix()),
				"--filter", "container="+name, "--filter", "event=pause", "--filter", "event=unpause", "--format", "{{.Action}}")
			if got := strings.Fields(events); len(got) < 3 || got[0] != "pause" || got[1] != "unpause" || got[2] != "pause" {
				t.Errorf("events: %q; want pause, unpause, pause first", got)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
