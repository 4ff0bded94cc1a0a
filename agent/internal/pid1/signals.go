package pid1

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Forward relays every signal the agent receives to pid until ctx ends, except the ones the agent itself needs
// (SIGCHLD for reaping, SIGURG used by the Go runtime, SIGPIPE).
func Forward(ctx context.Context, pid int) {
	ch := make(chan os.Signal, 32)
	signal.Notify(ch)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-ch:
			sig, ok := s.(syscall.Signal)
			if !ok || sig == syscall.SIGCHLD || sig == syscall.SIGURG || sig == syscall.SIGPIPE {
				continue
			}
			_ = syscall.Kill(pid, sig)
		}
	}
}
