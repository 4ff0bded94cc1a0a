package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// On Docker the user's command is PID 1 of its container, so a signal it has no handler for is not delivered:
// `docker stop` of a shell that traps nothing waits out the timeout (the shell finishes its work) or kills it. With
// --init, tini is PID 1 and forwards the signal to the command, which dies of it. Same steps on both engines.
func TestStopDeliversOnlyWhatPID1Would(t *testing.T) {
	const script = `echo ready; sleep 10; exit 42`
	cases := []struct {
		name    string
		run     []string
		timeout string
		code    int
		min     time.Duration // the stop took at least this
		max     time.Duration // and at most this
	}{
		// The shell ignores SIGTERM and finishes its sleep: its own exit code, some seconds later.
		{"no handler, time to finish", []string{"alpine", "sh", "-c", script}, "20", 42, 3 * time.Second, 15 * time.Second},
		// The timeout comes first: SIGKILL.
		{"no handler, killed at the timeout", []string{"alpine", "sh", "-c", script}, "2", 137, 1500 * time.Millisecond, 8 * time.Second},
		// tini forwards SIGTERM to the shell, which is not PID 1: the default action ends it at once.
		{"--init", []string{"--init", "alpine", "sh", "-c", script}, "20", 143, 0, 4 * time.Second},
	}
	for _, e := range engines(t) {
		for _, tc := range cases {
			t.Run(e.name+"/"+tc.name, func(t *testing.T) {
				name := e.run(t, "pid1", tc.run...)
				e.waitLogs(t, name, "ready")
				start := time.Now()
				e.must(t, "stop", "-t", tc.timeout, name)
				took := time.Since(start)
				code, _ := strconv.Atoi(strings.TrimSpace(e.must(t, "inspect", "-f", "{{.State.ExitCode}}", name)))
				if code != tc.code || took < tc.min || took > tc.max {
					t.Errorf("stop -t %s: exit code %d after %s; want %d after %s to %s", tc.timeout, code, took.Round(time.Millisecond), tc.code, tc.min, tc.max)
				}
				t.Logf("stop -t %s: exit code %d after %s", tc.timeout, code, took.Round(time.Millisecond))
			})
		}
	}
}

// A signal the process has a handler for reaches it, and one it has none for is dropped, as for PID 1 on Docker;
// `docker kill` (SIGKILL) ends it at once.
func TestKillDeliversOnlyWhatPID1Would(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			name := e.run(t, "pid1kill", "alpine", "sh", "-c", `trap 'echo got-usr1' USR1; echo ready; while true; do sleep 0.1; done`)
			e.waitLogs(t, name, "ready")
			e.must(t, "kill", "-s", "USR1", name)
			e.waitLogs(t, name, "got-usr1")
			e.must(t, "kill", "-s", "USR2", name) // no handler: dropped, where it would otherwise end the shell
			time.Sleep(time.Second)
			if got := strings.TrimSpace(e.must(t, "inspect", "-f", "{{.State.Status}}", name)); got != "running" {
				t.Fatalf("after kill -s USR2 the container is %s; want running (PID 1 has no handler for USR2)", got)
			}
			start := time.Now()
			e.must(t, "kill", name)
			code := strings.TrimSpace(e.must(t, "wait", name))
			if took := time.Since(start); code != "137" || took > 5*time.Second {
				t.Errorf("kill: wait says %s after %s; want 137 within 5 s", code, took.Round(time.Millisecond))
			}
		})
	}
}
