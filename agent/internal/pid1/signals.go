package pid1

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Forward relays every signal the agent receives to pid until ctx ends, except the ones the agent itself needs
// (SIGCHLD for reaping, SIGURG used by the Go runtime, SIGPIPE) and the ones Cloud Run sends around a maintenance
// migration (SIGTSTP 10 s before, SIGCONT after: reference/cloud-run-behaviour.md §3.3.6). Those are the platform
// pausing the whole instance, not a request to the user's process: forwarded, SIGTSTP would stop a process that
// never asked for job control. A `docker kill -s TSTP` reaches the process through the agent's session
// (mainproc.Main.Signal), not through here.
func Forward(ctx context.Context, pid int) {
	ch := make(chan os.Signal, 32)
	signal.Notify(ch)
	defer signal.Stop(ch)
	forward(ctx, pid, ch)
}

func forward(ctx context.Context, pid int, ch <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-ch:
			if sig, ok := s.(syscall.Signal); ok && forwarded(sig) {
				_ = syscall.Kill(pid, sig)
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
