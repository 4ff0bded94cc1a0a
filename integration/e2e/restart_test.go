package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// restartControlPlane kills the control plane without warning (SIGKILL, as a lost instance) and brings it back with
// scripts/dev, which starts whatever part of the stack is not running.
func restartControlPlane(t *testing.T, down time.Duration) {
	t.Helper()
	killPart(t, "controlplane")
	time.Sleep(down)
	devUp(t)
}

// killPart kills a part of the stack that scripts/dev started (its process group, SIGKILL) and waits until it is gone.
func killPart(t *testing.T, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stack.root, ".dev", "pids", name+".pid"))
	if err != nil {
		t.Fatalf("%s pid: %v", name, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", name, err)
	}
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(50 * time.Millisecond)
	}
}

// devUp runs scripts/dev up, which starts whatever part of the stack is not running.
func devUp(t *testing.T) {
	t.Helper()
	cmd := exec.Command(filepath.Join(stack.root, "scripts", "dev"), "up")
	cmd.Dir = stack.root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/dev up: %v\n%s", err, out)
	}
}

func TestControlPlaneRestartLosesNothing(t *testing.T) {
	name, done := uniqueName("survivor"), uniqueName("done")
	removeOnCleanup(t, name)
	removeOnCleanup(t, done)
	if r := docker(t, "run", "--name", done, "alpine", "sh", "-c", "echo finished; exit 4"); r.code != 4 {
		t.Fatalf("run: %s", r)
	}
	mustDocker(t, "run", "-d", "--name", name, "alpine", "sh", "-c", "echo before; sleep 8; echo after; exit 5")
	waitFor(t, 60*time.Second, "first line", func() bool { return strings.Contains(docker(t, "logs", name).stdout, "before") })

	psBefore := mustDocker(t, "ps", "-a", "--filter", "name="+done, "--format", "{{.ID}} {{.Names}} {{.State}} {{.Image}} {{.Command}}")
	inspectBefore := inspectField(t, done, "{{.Id}} {{.State.Status}} {{.State.ExitCode}} {{.State.FinishedAt}}")

	restartControlPlane(t, 2*time.Second)

	if got := mustDocker(t, "ps", "-a", "--filter", "name="+done, "--format", "{{.ID}} {{.Names}} {{.State}} {{.Image}} {{.Command}}"); got != psBefore {
		t.Errorf("ps -a after restart = %q, before %q", got, psBefore)
	}
	if got := inspectField(t, done, "{{.Id}} {{.State.Status}} {{.State.ExitCode}} {{.State.FinishedAt}}"); got != inspectBefore {
		t.Errorf("inspect after restart = %q, before %q", got, inspectBefore)
	}
	if got := mustDocker(t, "logs", done); got != "finished\n" {
		t.Errorf("logs after restart = %q", got)
	}
	r := docker(t, "wait", name)
	if strings.TrimSpace(r.stdout) != "5" {
		t.Fatalf("wait across the restart: %s", r)
	}
	if got := mustDocker(t, "logs", name); got != "before\nafter\n" {
		t.Errorf("logs of the container that ran across the restart = %q", got)
	}
}
