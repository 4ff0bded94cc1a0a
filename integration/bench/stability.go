package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/moby/moby/client"
)

// The local stack is shared: other people restart the control plane while they work. A benchmark that ran across
// a restart measured the restart, not runsock, so it is run again (up to maxReruns times) once the stack is back.
const maxReruns = 2

// runStable runs b, and again if the control plane's process changed while it ran. It returns the rows of the last
// attempt and how many reruns it took.
func runStable(ctx context.Context, e *env, b bench) ([]row, int) {
	for attempt := 0; ; attempt++ {
		waitReady(ctx, e)
		before := devPids(e.pidDir)["controlplane"]
		rows := b.run(ctx, e)
		after := devPids(e.pidDir)["controlplane"]
		restarted := before != after || (after != 0 && !alive(after))
		if !restarted || attempt == maxReruns || ctx.Err() != nil {
			return rows, attempt
		}
		fmt.Fprintf(os.Stderr, "bench: the control plane restarted during %s (pid %d → %d); running it again\n", b.name, before, after)
		// The rerun leaves nothing behind from the void attempt.
		_, _ = e.runsock.cleanup(ctx)
		_, _ = e.reference.cleanup(ctx)
	}
}

// waitReady waits (up to two minutes) until runsock answers _ping and the control plane's PID has held for 5 s.
func waitReady(ctx context.Context, e *env) {
	deadline := time.Now().Add(2 * time.Minute)
	var pid int
	var since time.Time
	for time.Now().Before(deadline) && ctx.Err() == nil {
		p := devPids(e.pidDir)["controlplane"]
		if p != pid {
			pid, since = p, pidSince(e.pidDir)
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := e.runsock.api.Ping(pctx, client.PingOptions{})
		cancel()
		if err == nil && (pid == 0 || time.Since(since) >= 5*time.Second) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// pidSince is when scripts/dev recorded the control plane's PID (now if unknown).
func pidSince(dir string) time.Time {
	fi, err := os.Stat(filepath.Join(dir, "controlplane.pid")) // Stat follows a symlinked PID file
	if err != nil {
		return time.Now()
	}
	return fi.ModTime()
}

func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}
