package containers

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// Restart policies (--restart always|unless-stopped|on-failure[:N]) follow Docker's restart manager
// (moby daemon/restartmanager and daemon/monitor.go): when an execution ends, the policy decides; a container to be
// restarted becomes "restarting" (Docker counts it as running), its RestartCount grows, and a new execution is
// launched after the backoff — 100 ms, doubling up to a minute, back to 100 ms when the run lasted 10 s or more.
//
// The decision and the moment of the next start are stored with the container in the same transaction that records
// the exit, so they survive the control plane: a Service waits for each restarting container's moment (one
// goroutine per container, ended by Close), Resume picks them up after a restart, and the reconciler starts any
// whose moment has long passed. The start itself is a transaction that succeeds only while the container is still
// restarting, so a docker stop that wins the race ends the loop and the execution launched meanwhile is cancelled.
//
// A control-plane restart is not Docker's daemon restart: containers keep running on Cloud Run through it (as
// Docker's live-restore keeps them), so it changes nothing — a restarting container goes on restarting, and a
// stopped one stays stopped whatever its policy. runsock as a whole never restarts, so the daemon-restart case of
// "always" (a manually stopped container started again when dockerd starts) does not arise.
const (
	restartDelayFirst = 100 * time.Millisecond
	restartDelayMax   = time.Minute
	// restartResetAfter is the run length after which the backoff starts again from restartDelayFirst.
	restartResetAfter = 10 * time.Second
	// restartRetryUnavailable is how long a restart waits after Cloud Run refused the launch as unavailable or over
	// quota before trying again: the loop goes on rather than ending for good, as Docker's would only when the
	// process itself cannot start. A user's `docker start` is never retried (RunJob is not idempotent, see
	// docs/local-stack.md); here an UNAVAILABLE RunJob that did start an execution leaves it unreferenced — the
	// retry's execution is the one the container records — and the reconciler cancels and deletes it after its
	// launch grace (cleanCloud: executions no container references).
	restartRetryUnavailable = 5 * time.Second
)

// validateRestartPolicy is Docker's check of a create's or update's restart policy with --rm.
func validateRestartPolicy(hc *container.HostConfig) error {
	if err := container.ValidateRestartPolicy(hc.RestartPolicy); err != nil {
		return errorf(errdefs.ErrInvalidArgument, "%s", err.Error())
	}
	if hc.AutoRemove && !hc.RestartPolicy.IsNone() {
		return errorf(errdefs.ErrInvalidArgument, "can't create 'AutoRemove' container with restart policy")
	}
	return nil
}

// shouldRestart is the restart manager's decision for c, whose execution has just ended with exitCode after running
// for ran; when it restarts it also advances c's backoff.
func shouldRestart(c *Container, exitCode int, ran time.Duration) bool {
	p := c.HostConfig.RestartPolicy
	if p.IsNone() || c.RestartCancelled {
		return false
	}
	var restart bool
	switch {
	case p.IsAlways():
		restart = true
	case p.IsUnlessStopped():
		restart = !c.ManuallyStopped
	case p.IsOnFailure():
		// MaximumRetryCount 0 means no limit.
		restart = exitCode != 0 && (p.MaximumRetryCount == 0 || c.RestartCount < p.MaximumRetryCount)
	}
	if !restart {
		return false
	}
	if ran >= restartResetAfter {
		c.RestartDelay = 0
	}
	switch {
	case c.RestartDelay <= 0:
		c.RestartDelay = restartDelayFirst
	case c.RestartDelay < restartDelayMax:
		c.RestartDelay = min(c.RestartDelay*2, restartDelayMax)
	}
	return true
}

// endRun records out as the end of c's execution: restarting when its policy says so, exited otherwise.
func (s *Service) endRun(c *Container, out Outcome) {
	s.setExited(c, out)
	if shouldRestart(c, out.ExitCode, c.State.FinishedAt.Sub(c.State.StartedAt)) {
		c.RestartCount++
		c.State.Status = container.StateRestarting
		c.State.RestartAt = s.now().UTC().Add(c.RestartDelay)
	}
}

// stopSignalCancelsRestart is Docker's rule for a kill: it cancels the restart policy when it is SIGKILL, the
// container's stop signal, or any signal when the container has no stop signal of its own.
func stopSignalCancelsRestart(c *Container, sig syscall.Signal) bool {
	if sig == syscall.SIGKILL || c.Config.StopSignal == "" {
		return true
	}
	own, err := ParseSignal(c.Config.StopSignal, syscall.SIGTERM)
	return err != nil || own == sig
}

// markManualStop records, before a stop or kill signals the container, that the user stopped it (and, when cancel,
// that its restart policy must not restart it), so the exit that follows is decided with it — whichever instance
// records that exit. It also sets State.StopRequested when stopRequested.
func (s *Service) markManualStop(ctx context.Context, id string, cancel, stopRequested bool) error {
	_, err := s.store.UpdateContainer(ctx, id, func(c *Container) error {
		if c.ManuallyStopped && (c.RestartCancelled || !cancel) && (c.State.StopRequested || !stopRequested) {
			return errNoChange
		}
		c.ManuallyStopped = true
		c.RestartCancelled = c.RestartCancelled || cancel
		c.State.StopRequested = c.State.StopRequested || stopRequested
		return nil
	})
	if err == errNoChange {
		return nil
	}
	return err
}

// actionRestartCancelled is the in-process notice to waits that a restarting container was stopped before its next
// start (Docker's waits for not-running return then, with the last exit). Neither recorded nor streamed.
const actionRestartCancelled = "runsock-restart-cancelled"

// cancelRestart stops c, which is restarting: it stays exited with its last exit, and waits are told. It reports
// false when c was no longer restarting (its next start won, or someone else stopped it).
func (s *Service) cancelRestart(ctx context.Context, id string, cancel bool) (*Container, bool, error) {
	c, err := s.store.UpdateContainer(ctx, id, func(c *Container) error {
		if !c.Restarting() {
			return errNoChange
		}
		c.ManuallyStopped = true
		c.RestartCancelled = c.RestartCancelled || cancel
		if !c.RestartCancelled {
			return nil // a kill with another signal than the stop signal: the loop goes on
		}
		c.State.Status = container.StateExited
		c.State.RestartAt = time.Time{}
		return nil
	})
	if err == errNoChange {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if c.Restarting() {
		return c, false, nil
	}
	s.bus.publish(Event{Owner: c.Owner, Type: "container", Action: actionRestartCancelled, ActorID: c.ID, Time: s.now(),
		Exit:     &Outcome{ExitCode: c.State.ExitCode, OOMKilled: c.State.OOMKilled, Error: c.State.Error, FinishedAt: c.State.FinishedAt},
		internal: true})
	return c, true, nil
}

// scheduleRestart starts (once per container) the goroutine that starts c again at c.State.RestartAt.
func (s *Service) scheduleRestart(c *Container) {
	if !c.Restarting() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.restarting[c.ID] || s.ctx.Err() != nil {
		return
	}
	s.restarting[c.ID] = true
	s.wg.Add(1)
	id, at := c.ID, c.State.RestartAt
	go func() {
		defer s.wg.Done()
		release := func() {
			s.mu.Lock()
			delete(s.restarting, id)
			s.mu.Unlock()
		}
		if s.sleep(s.ctx, at.Sub(s.now())) != nil {
			release()
			return
		}
		release() // before the start: its exit may schedule the next restart of the same container
		ctx, cancel := context.WithTimeout(s.ctx, 2*time.Minute)
		defer cancel()
		if err := s.restartDue(ctx, id); err != nil && s.ctx.Err() == nil {
			s.log.Warn("restart policy", "container", id, "err", err)
		}
	}()
}

// RestartDue starts again, through its restart policy, every restarting container whose moment has passed by more
// than grace and that no goroutine of this Service is about to start: the reconciler's backstop for a restart that
// failed or that no instance scheduled. It reports how many it started.
func (s *Service) RestartDue(ctx context.Context, list []*Container, grace time.Duration) (int, error) {
	var n int
	var errs []error
	for _, c := range list {
		if !c.Restarting() || s.now().Before(c.State.RestartAt.Add(grace)) {
			continue
		}
		s.mu.Lock()
		pending := s.restarting[c.ID]
		s.mu.Unlock()
		if pending {
			continue
		}
		if err := s.restartDue(ctx, c.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// restartDue launches the policy's next execution of container id, if it is still restarting.
func (s *Service) restartDue(ctx context.Context, id string) error {
	c, err := s.store.GetContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !c.Restarting() {
		return nil
	}
	if wait := c.State.RestartAt.Sub(s.now()); wait > 0 {
		s.scheduleRestart(c)
		return nil
	}
	err = s.start(ctx, c, startPolicy)
	switch {
	case err == nil || errdefs.IsNotModified(err) || errdefs.IsNotFound(err):
		return nil
	case errdefs.IsUnavailable(err) || errdefs.IsResourceExhausted(err):
		// Cloud Run could not take the launch now: try again later, still restarting.
		c, uerr := s.store.UpdateContainer(ctx, id, func(c *Container) error {
			if !c.Restarting() {
				return errNoChange
			}
			c.State.RestartAt = s.now().UTC().Add(restartRetryUnavailable)
			return nil
		})
		if uerr == nil {
			s.scheduleRestart(c)
		}
		return err
	}
	// As Docker: a restart that fails to start leaves the container stopped, with the failure as its error.
	c, uerr := s.store.UpdateContainer(ctx, id, func(c *Container) error {
		if !c.Restarting() {
			return errNoChange
		}
		c.State.Status = container.StateExited
		c.State.RestartAt = time.Time{}
		c.State.Error = err.Error()
		return nil
	})
	if uerr == nil {
		s.bus.publish(Event{Owner: c.Owner, Type: "container", Action: actionRestartCancelled, ActorID: c.ID, Time: s.now(),
			Exit: &Outcome{ExitCode: c.State.ExitCode, Error: c.State.Error, FinishedAt: c.State.FinishedAt}, internal: true})
	}
	return err
}
