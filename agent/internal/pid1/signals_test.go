package pid1

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestForwardSkipsMaintenanceSignals(t *testing.T) {
	// A child that reports every signal it gets (an untrapped SIGTSTP would stop it, and it would report nothing more).
	cmd := exec.Command("sh", "-c", `trap 'echo TSTP' TSTP; trap 'echo CONT' CONT; trap 'echo USR1' USR1; trap 'echo USR2' USR2
trap 'echo TERM; exit 0' TERM; echo ready; while true; do sleep 0.02; done`)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("child said nothing for 10 s")
			return ""
		}
	}
	if l := next(); l != "ready" {
		t.Fatalf("child said %q first", l)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	done := make(chan struct{})
	send := func(sig syscall.Signal) error { return syscall.Kill(cmd.Process.Pid, sig) }
	go func() { defer close(done); forward(ctx, send, ch) }()
	defer func() { cancel(); <-done }()
	// The shell runs pending traps in signal-number order, one loop turn (20 ms) at a time: send each signal with a
	// forwarded marker and give the shell time to report both before the next.
	var got []string
	for _, sig := range []syscall.Signal{syscall.SIGTSTP, syscall.SIGCONT, syscall.SIGUSR2, syscall.SIGTERM} {
		ch <- sig
		if sig == syscall.SIGTERM {
			break
		}
		ch <- syscall.SIGUSR1
		got = append(got, next())
		time.Sleep(200 * time.Millisecond)
		for len(lines) > 0 {
			got = append(got, next())
		}
	}
	for l := range lines {
		got = append(got, l)
	}
	want := []string{"USR1", "USR1", "USR1", "USR2", "TERM"}
	if !slices.Equal(got, want) {
		t.Errorf("the child got %q, want %q (no TSTP, no CONT)", got, want)
	}
}

func TestForwarded(t *testing.T) {
	for sig, want := range map[syscall.Signal]bool{
		syscall.SIGTERM: true, syscall.SIGINT: true, syscall.SIGHUP: true, syscall.SIGUSR1: true, syscall.SIGWINCH: true,
		syscall.SIGTSTP: false, syscall.SIGCONT: false, syscall.SIGCHLD: false, syscall.SIGURG: false, syscall.SIGPIPE: false,
	} {
		if got := forwarded(sig); got != want {
			t.Errorf("forwarded(%v) = %v, want %v", sig, got, want)
		}
	}
}

// startShell starts sh running script and returns its PID once it has printed "ready".
func startShell(t *testing.T, script string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the shell never said ready")
	}
	return cmd.Process.Pid
}

func TestReachesInit(t *testing.T) {
	// The shell installs handlers for USR1 and TERM (trap) and none for USR2 or HUP.
	pid := startShell(t, `trap 'echo usr1' USR1; trap 'exit 3' TERM; echo ready; while true; do sleep 0.05; done`)
	for sig, want := range map[syscall.Signal]bool{
		syscall.SIGUSR1: true, syscall.SIGTERM: true, syscall.SIGKILL: true, syscall.SIGSTOP: true,
		syscall.SIGUSR2: false, syscall.SIGHUP: false,
	} {
		if got := ReachesInit(pid, sig); got != want {
			t.Errorf("ReachesInit(%v) = %v, want %v", sig, got, want)
		}
	}
	plain := startShell(t, `echo ready; while true; do sleep 0.05; done`)
	if ReachesInit(plain, syscall.SIGTERM) {
		t.Error("SIGTERM reaches a shell without a TERM trap; as PID 1 it would not")
	}
	if ReachesInit(1<<22+12345, syscall.SIGTERM) {
		t.Error("a signal reaches a process that does not exist")
	}
	if _, err := Catches(pid, 0); err == nil {
		t.Error("Catches(0) did not fail")
	}
}

// Pause stops every descendant, grandchildren included, and Unpause lets them go on; the caller keeps running.
func TestPauseAndUnpause(t *testing.T) {
	r := NewReaper() // a subreaper: the shell's background child stays a descendant
	defer r.Close()
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", `(while true; do date +%s%N > `+dir+`/child; sleep 0.01; done) &
while true; do date +%s%N > `+dir+`/parent; sleep 0.01; done`)
	if _, _, err := r.Start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range descendants(os.Getpid()) {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})
	read := func(name string) string {
		b, _ := os.ReadFile(dir + "/" + name)
		return string(b)
	}
	waitChange := func(name string) bool {
		before := read(name)
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if read(name) != before {
				return true
			}
		}
		return false
	}
	if !waitChange("parent") || !waitChange("child") {
		t.Fatal("the processes never wrote")
	}
	if err := Pause(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	for _, p := range descendants(os.Getpid()) {
		if p.state != 'T' && p.state != 'Z' {
			t.Errorf("process %d is %c after Pause, want T (stopped)", p.pid, p.state)
		}
	}
	time.Sleep(50 * time.Millisecond) // a write in flight at the stop lands
	if waitChange("parent") || waitChange("child") {
		t.Fatal("a paused process kept writing")
	}
	if err := Unpause(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if !waitChange("parent") || !waitChange("child") {
		t.Fatal("the processes did not go on after Unpause")
	}
}
