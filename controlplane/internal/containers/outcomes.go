package containers

import (
	"context"
	"path"
	"time"

	"github.com/containerd/errdefs"
)

// LabelTaskTimeout is the Docker label that sets one container's Cloud Run task timeout (a Go duration, e.g. "5s",
// at most 168h). Without it the control plane's configured task timeout applies.
const LabelTaskTimeout = "runsock.task-timeout"

// ErrorCancelled is State.Error for an execution cancelled by someone other than the container's user.
const ErrorCancelled = "execution cancelled"

// maxTaskTimeout is Cloud Run's limit.
const maxTaskTimeout = 168 * time.Hour

// taskTimeout reads c's LabelTaskTimeout (0 = none).
func taskTimeout(c *Container) (time.Duration, error) {
	v, ok := c.Config.Labels[LabelTaskTimeout]
	if !ok || v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second || d > maxTaskTimeout {
		return 0, errorf(errdefs.ErrInvalidArgument, "label %s=%q: want a duration between 1s and 168h", LabelTaskTimeout, v)
	}
	return d, nil
}

// LaunchRecorder is implemented by a Store that also keeps the executions collection: at every launch it records
// which container an execution belongs to, so the execution-events function's facts find their container.
type LaunchRecorder interface {
	RecordLaunch(ctx context.Context, execution, containerID, owner string, at time.Time) error
}

// recordLaunch writes executions/{short} when the store can. A failure is logged: the watcher and the reconciler
// still end the container; only the fast path through the function is lost for this execution.
func (s *Service) recordLaunch(ctx context.Context, c *Container, execution string) {
	r, ok := s.store.(LaunchRecorder)
	if !ok {
		return
	}
	if err := r.RecordLaunch(context.WithoutCancel(ctx), execution, c.ID, c.Owner, s.now().UTC()); err != nil {
		s.log.Warn("record launch", "container", c.ID, "execution", execution, "err", err)
	}
}

// ApplyOutcome ends container id's execution with out, through the same path as the watcher (state, "die"
// event, waiters, auto-remove), when that execution is still the container's running one. When the container has
// already ended that execution, the recorded exit stays — it came first-hand and is at least as precise — except
// that, when enrich is true, OOMKilled may be added to an exit recorded with the same code, and an Error to an exit
// recorded without one (never after the user's own stop). It reports whether it changed anything. execution may be
// the full or the short name. The container is read and written in one transaction.
func (s *Service) ApplyOutcome(ctx context.Context, id, execution string, out Outcome, enrich bool) (bool, error) {
	var ended string  // the execution this outcome ended ("" = it enriched an exit already recorded)
	var oomAdded bool // the enrichment told of an OOM kill the recorded exit did not have (the agent's report may have)
	applied := out
	c, err := s.store.UpdateContainer(ctx, id, func(c *Container) error {
		ended, applied = "", out
		oomAdded = out.OOMKilled && !c.State.OOMKilled
		switch {
		case c.Running() && sameExecution(c.State.Execution, execution):
			if c.State.StopRequested && applied.Error == ErrorCancelled {
				applied.Error = "" // the user's own stop/kill: Docker reports 137 with no error
			}
			ended = c.State.Execution
			s.endRun(c, applied)
			return nil
		case enrich && lastEnded(c, execution) && enrichExit(c, out):
			return nil
		}
		return errNoChange
	})
	if err == errNoChange {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if ended != "" {
		s.afterExit(ctx, c, ended, applied)
		return true, nil
	}
	if oomAdded && c.State.OOMKilled {
		s.emit(ctx, c, "oom", nil)
	}
	return true, nil
}

// lastEnded reports whether execution is c's last one and has ended.
func lastEnded(c *Container, execution string) bool {
	return !c.Running() && len(c.Executions) > 0 && sameExecution(c.Executions[len(c.Executions)-1], execution)
}

// enrichExit adds to c's recorded exit what out explains and it lacks, and reports whether it added anything. An
// OOM kill is a SIGKILL: it explains only an exit recorded as one. A timeout's error explains whatever the process
// did when Cloud Run terminated it (143 after SIGTERM, 137 after SIGKILL).
func enrichExit(c *Container, out Outcome) bool {
	var changed bool
	if out.OOMKilled && !c.State.OOMKilled && c.State.ExitCode == out.ExitCode {
		c.State.OOMKilled, changed = true, true
	}
	if out.Error != "" && c.State.Error == "" && !c.State.StopRequested {
		c.State.Error, changed = out.Error, true
	}
	return changed
}

// errNoChange aborts an UpdateContainer that has nothing to write.
var errNoChange = errorf(errdefs.ErrNotModified, "no change")

// sameExecution compares execution names, either of which may be short.
func sameExecution(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return path.Base(a) == path.Base(b)
}

// Announce records and publishes an event that is not a container's own lifecycle change (the reconciler's
// cleanups). Owner "" makes it visible to admins only.
func (s *Service) Announce(ctx context.Context, e Event) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	s.publish(ctx, e)
}
