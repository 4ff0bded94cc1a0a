package pid1

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

// Forward relays every signal the agent receives to send until ctx ends, except the ones the agent itself needs
// (SIGCHLD for reaping, SIGURG used by the Go runtime, SIGPIPE) and the ones Cloud Run sends around a maintenance
// migration (SIGTSTP 10 s before, SIGCONT after: reference/cloud-run-behaviour.md §3.3.6). Those are the platform
// pausing the whole instance, not a request to the user's process: forwarded, SIGTSTP would stop a process that
// never asked for job control. A `docker kill -s TSTP` reaches the process through the agent's session
// (mainproc.Main.Signal), not through here. send decides whether the process gets it (see ReachesInit).
func Forward(ctx context.Context, send func(syscall.Signal) error) {
	ch := make(chan os.Signal, 32)
	signal.Notify(ch)
	defer signal.Stop(ch)
	forward(ctx, send, ch)
}

func forward(ctx context.Context, send func(syscall.Signal) error, ch <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-ch:
			if sig, ok := s.(syscall.Signal); ok && forwarded(sig) {
				_ = send(sig)
			}
		}
	}
}

// forwarded reports whether Forward relays sig.
func forwarded(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGCHLD, syscall.SIGURG, syscall.SIGPIPE, syscall.SIGTSTP, syscall.SIGCONT:
		return false
	}
	return true
}

// ReachesInit reports whether sig, sent from outside the container, reaches process pid as it would reach the
// container's PID 1 on Docker, where the user's command is PID 1 of its PID namespace: the kernel delivers SIGKILL
// and SIGSTOP, and any other signal only when the process has a handler for it (signal-default actions, terminate
// included, do not apply to a namespace's init: pid_namespaces(7)). So `docker stop` of `sh -c 'sleep 10'` waits
// out its timeout, as on Docker. A process whose status cannot be read (it has exited) gets nothing.
func ReachesInit(pid int, sig syscall.Signal) bool {
	if sig == syscall.SIGKILL || sig == syscall.SIGSTOP {
		return true
	}
	caught, err := Catches(pid, sig)
	return err == nil && caught
}

// Catches reports whether process pid has a handler installed for sig: its SigCgt mask in /proc/<pid>/status
// (bit n-1 for signal n; proc(5)).
func Catches(pid int, sig syscall.Signal) (bool, error) {
	if sig < 1 || sig > 64 {
		return false, fmt.Errorf("signal %d out of range", int(sig))
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false, fmt.Errorf("read the status of process %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("SigCgt:")); ok {
			mask, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 16, 64)
			if err != nil {
				return false, fmt.Errorf("process %d: SigCgt %q: %w", pid, v, err)
			}
			return mask&(1<<(uint(sig)-1)) != 0, nil
		}
	}
	return false, fmt.Errorf("process %d: no SigCgt in its status", pid)
}
