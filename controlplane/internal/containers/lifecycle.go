package containers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// exitWait bounds how long stop/restart wait for the watcher to record an exit after the cancel.
const exitWait = 60 * time.Second

// Start launches a new execution for the container (304 when it is already running).
func (s *Service) Start(ctx context.Context, p identity.Principal, ref string) error {
	c, err := s.resolveFor(ctx, p, ref, "start")
	if err != nil {
		return err
	}
	return s.start(ctx, c, startManual)
}

// startMode is who starts a container: the user (docker start, docker restart) or its restart policy.
type startMode int

const (
	startManual  startMode = iota // docker start
	startRestart                  // docker restart
	startPolicy                   // the restart policy, while the container is restarting
)

func (s *Service) start(ctx context.Context, c *Container, mode startMode) error {
	if c.Running() && c.State.Paused {
		return errorf(errdefs.ErrConflict, "cannot start a paused container, try unpause instead")
	}
	if mode != startPolicy && c.Active() {
		// Docker counts a restarting container as running: starting it is not modified either.
		return errorf(errdefs.ErrNotModified, "container %s is already running", c.ID)
	}
	timeout, err := taskTimeout(c)
	if err != nil {
		return err
	}
	spec := LaunchSpec{Timeout: timeout, Image: c.ImageRef, Entrypoint: c.Config.Entrypoint, Args: c.Config.Cmd, Env: c.Config.Env,
		WorkingDir: c.Config.WorkingDir, User: c.Config.User, CPU: c.CPU, MemoryBytes: c.MemoryBytes,
		Labels: map[string]string{"managed-by": "runsock"}, ContainerID: c.ID, Owner: c.Owner, Mounts: c.Mounts}
	agent := s.prepareAgent(ctx, c, &spec)
	if c.HostConfig.NetworkMode.IsNone() && agent.Unavailable != "" {
		// Only the agent can take the process off the network: without it, `none` would be a lie.
		return errorf(errdefs.ErrConflict, "container %s: network mode none needs the runsock agent, which this container cannot have: %s", c.Name, agent.Unavailable)
	}
	exec, err := s.launcher.Launch(ctx, spec)
	if err != nil {
		err = fmt.Errorf("start container %s: %w", c.Name, err)
		if c.HostConfig.AutoRemove && mode == startManual {
			// As Docker does: an --rm container that fails to start is removed (`docker run --rm` waits for that).
			s.autoRemove(context.WithoutCancel(ctx), c)
		}
		return err
	}
	var already bool
	c2, err := s.store.UpdateContainer(ctx, c.ID, func(c *Container) error {
		if mode == startPolicy {
			already = !c.Restarting() // stopped meanwhile, or started by another instance
		} else {
			already = c.Active()
		}
		if already {
			return nil
		}
		c.State = State{Status: container.StateRunning, StartedAt: s.now().UTC(), Execution: exec, Health: startHealth(c)}
		c.Agent = agent
		c.Executions = append(c.Executions, exec)
		c.Ports = publishedPorts(c.HostConfig, c.Config.ExposedPorts) // random host ports are chosen anew per start
		if mode != startPolicy {
			// As Docker's start and restart: the restart policy begins afresh (count, backoff, manual stop).
			c.RestartCount, c.RestartDelay, c.ManuallyStopped, c.RestartCancelled = 0, 0, false, false
		}
		return nil
	})
	if err != nil || already {
		// Someone else started it first (or it is gone): this execution is an orphan.
		cctx := context.WithoutCancel(ctx)
		_ = s.launcher.Cancel(cctx, exec)
		_ = s.launcher.DeleteExecution(cctx, exec)
		if err != nil {
			return err
		}
		return errorf(errdefs.ErrNotModified, "container %s is already running", c.ID)
	}
	s.recordLaunch(ctx, c2, exec)
	s.watch(c2.ID, exec)
	s.emitVolumes(ctx, c2, "mount")
	s.emit(ctx, c2, "start", nil)
	return nil
}

// Stop ends a running container (304 when it is not running): without the agent there is no SIGTERM to send, so
// the execution is cancelled at once; timeout and signal are for the agent hook. It returns once the exit is
// recorded. A restarting container stays stopped with its last exit, its restart policy cancelled.
func (s *Service) Stop(ctx context.Context, p identity.Principal, ref string, timeout *int, signal string) error {
	c, err := s.resolveFor(ctx, p, ref, "stop")
	if err != nil {
		return err
	}
	if c, err = s.stopRestarting(ctx, c, "stop"); err != nil || c == nil {
		return err
	}
	if !c.Running() {
		return errorf(errdefs.ErrNotModified, "container %s is not running", c.ID)
	}
	if signal == "" {
		signal = c.Config.StopSignal
	}
	return s.stop(ctx, c, signal, stopWait(c, timeout), "stop")
}

// stopRestarting ends c's restart loop when c is restarting, emitting action ("" = none) as Docker's stop does, and
// returns nil then; otherwise (or when c's next start won the race) it returns c as it now is.
func (s *Service) stopRestarting(ctx context.Context, c *Container, action string) (*Container, error) {
	if !c.Restarting() {
		return c, nil
	}
	stopped, ok, err := s.cancelRestart(ctx, c.ID, true)
	if err != nil {
		return nil, err
	}
	if ok {
		if action != "" {
			s.emit(ctx, stopped, action, nil)
		}
		return nil, nil
	}
	return s.store.GetContainer(ctx, c.ID)
}

// stopWait is how long a stop waits for the main process before killing it: the request's timeout, else the
// container's StopTimeout, else Docker's 10 s. Negative means wait indefinitely, as in Docker (`docker stop -t -1`).
func stopWait(c *Container, timeout *int) time.Duration {
	switch {
	case timeout != nil:
		return time.Duration(*timeout) * time.Second
	case c.Config.StopTimeout != nil:
		return time.Duration(*c.Config.StopTimeout) * time.Second
	}
	return 10 * time.Second
}

// stop asks the main process to end with signal (SIGTERM by default) through the agent, waits up to wait for it
// to exit, then kills it through the agent, and cancels the execution when the agent cannot (or there is none).
func (s *Service) stop(ctx context.Context, c *Container, signal string, wait time.Duration, action string) error {
	sig, err := ParseSignal(signal, syscall.SIGTERM)
	if err != nil {
		return err
	}
	if !s.agentReachable(ctx, c) {
		return s.cancelAndWait(ctx, c, action, true)
	}
	sub, unsubscribe := s.bus.subscribe()
	defer unsubscribe()
	if err := s.markManualStop(ctx, c.ID, stopSignalCancelsRestart(c, sig), true); err != nil {
		return err
	}
	kill := sig == syscall.SIGKILL
	if !kill {
		if err := s.agent.Signal(ctx, c.ID, sig); err != nil {
			s.log.Warn("stop signal", "container", c.ID, "err", err)
			return s.cancelAndWait(ctx, c, action, true)
		}
		s.signalPaused(ctx, c)
		if err := s.awaitAction(ctx, sub, c.ID, "die", wait); err != nil {
			if ctx.Err() != nil {
				return err
			}
			kill = true
		}
	}
	// Docker's SIGKILL after the timeout. A process that has no handler for the stop signal never got it (it is
	// PID 1 on Docker, see pid1.ReachesInit), so this is the common end of `docker stop` of a plain shell.
	if kill && !s.killThroughAgent(ctx, sub, c) {
		return s.cancelAndWait(ctx, c, action, true)
	}
	if action != "" {
		s.emit(ctx, c, action, nil)
	}
	return nil
}

// agentKillWait bounds the wait for the exit after a SIGKILL through the agent, before the execution is cancelled.
const agentKillWait = 10 * time.Second

// killThroughAgent sends SIGKILL through c's agent, which kills every process of the container at once and
// reports the exit (137) first-hand, and waits for that exit on sub. It reports false when the agent could not do
// it in agentKillWait: the caller cancels the execution then. Cancelling first would be slower where it matters:
// Cloud Run sends SIGTERM, which a process without a handler ignores, and SIGKILL only after its grace period.
func (s *Service) killThroughAgent(ctx context.Context, sub *subscription, c *Container) bool {
	if err := s.agent.Signal(ctx, c.ID, syscall.SIGKILL); err != nil {
		s.log.Warn("kill through the agent", "container", c.ID, "err", err)
		return false
	}
	return s.awaitAction(ctx, sub, c.ID, "die", agentKillWait) == nil
}

// Kill cancels the container's execution (409 when it is not running, as Docker does). As Docker's kill, SIGKILL,
// the container's stop signal (or any signal when it has none) cancels its restart policy; a restarting container
// is then stopped without an event, and one that runs is not restarted after this exit.
func (s *Service) Kill(ctx context.Context, p identity.Principal, ref, signal string) error {
	c, err := s.resolveFor(ctx, p, ref, "kill")
	if err != nil {
		return err
	}
	if !c.Active() {
		return errorf(errdefs.ErrConflict, "cannot kill container: %s: container %s is not running", ref, c.ID)
	}
	sig, err := ParseSignal(signal, syscall.SIGKILL)
	if err != nil {
		return err
	}
	if c.Restarting() {
		_, ok, err := s.cancelRestart(ctx, c.ID, stopSignalCancelsRestart(c, sig))
		if err != nil || ok {
			return err
		}
		if c, err = s.store.GetContainer(ctx, c.ID); err != nil {
			return err
		}
		if !c.Running() {
			return nil // still restarting: Docker sends nothing to a container that has no process
		}
	}
	if err := s.markManualStop(ctx, c.ID, stopSignalCancelsRestart(c, sig), false); err != nil {
		return err
	}
	s.emit(ctx, c, "kill", map[string]string{"signal": strconv.Itoa(int(sig))})
	if !s.agentReachable(ctx, c) {
		return s.cancelAndWait(ctx, c, "", stopSignalCancelsRestart(c, sig))
	}
	if sig == syscall.SIGKILL {
		sub, unsubscribe := s.bus.subscribe()
		defer unsubscribe()
		if err := s.markManualStop(ctx, c.ID, true, true); err != nil {
			return err
		}
		if s.killThroughAgent(ctx, sub, c) {
			return nil
		}
		return s.cancelAndWait(ctx, c, "", true)
	}
	if err := s.agent.Signal(ctx, c.ID, sig); err != nil {
		return err
	}
	s.signalPaused(ctx, c)
	return nil
}

// cancelAndWait cancels c's execution and waits for its exit to be recorded; cancelRestart says whether the signal it
// stands for cancels the restart policy (a SIGKILL, a stop: yes).
func (s *Service) cancelAndWait(ctx context.Context, c *Container, action string, cancelRestart bool) error {
	sub, unsubscribe := s.bus.subscribe()
	defer unsubscribe()
	exec := c.State.Execution
	if err := s.markManualStop(ctx, c.ID, cancelRestart, true); err != nil {
		return err
	}
	if err := s.launcher.Cancel(ctx, exec); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", c.Name, err)
	}
	s.watch(c.ID, exec) // after a restart of the control plane, make sure someone records the exit
	if err := s.awaitAction(ctx, sub, c.ID, "die", exitWait); err != nil {
		return err
	}
	if action != "" {
		s.emit(ctx, c, action, nil)
	}
	return nil
}

func (s *Service) awaitAction(ctx context.Context, sub *subscription, id, action string, limit time.Duration) error {
	var expired <-chan time.Time // a negative limit waits until ctx ends
	if limit >= 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case e := <-sub.ch:
			if e.ActorID == id && (e.Action == action || e.Action == "destroy" || e.Action == actionRestartCancelled) {
				return nil
			}
		case <-sub.lost:
			return nil
		case <-expired:
			return errorf(errdefs.ErrUnavailable, "container %s: Cloud Run has not reported the end of its execution yet", id)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Restart stops the container if it runs (or ends its restart loop) and starts a new execution.
func (s *Service) Restart(ctx context.Context, p identity.Principal, ref string, timeout *int, signal string) error {
	c, err := s.resolveFor(ctx, p, ref, "restart")
	if err != nil {
		return err
	}
	if c.Restarting() {
		stopped, err := s.stopRestarting(ctx, c, "")
		if err != nil {
			return err
		}
		if stopped != nil {
			c = stopped // its next start won: stop that run below
		} else if c, err = s.store.GetContainer(ctx, c.ID); err != nil {
			return err
		}
	}
	if c.Running() {
		if signal == "" {
			signal = c.Config.StopSignal
		}
		if err := s.stop(ctx, c, signal, stopWait(c, timeout), ""); err != nil {
			return err
		}
		if c, err = s.store.GetContainer(ctx, c.ID); err != nil {
			return err
		}
	}
	if err := s.start(ctx, c, startRestart); err != nil {
		return err
	}
	s.emit(ctx, c, "restart", nil)
	return nil
}

// Remove deletes the container's executions and records (409 for a running one unless force).
func (s *Service) Remove(ctx context.Context, p identity.Principal, ref string, force, volumes bool) error {
	c, err := s.resolveFor(ctx, p, ref, "remove")
	if err != nil {
		return err
	}
	if c.Running() && c.State.Paused && !force {
		return errorf(errdefs.ErrConflict, "You cannot remove a paused container %s. Unpause and then stop the container before attempting removal or force remove", c.ID)
	}
	if c.Active() {
		if !force {
			return errorf(errdefs.ErrConflict, "cannot remove container \"/%s\": container is %s: stop the container before removing or force remove", c.Name, c.State.Status)
		}
		if c.Restarting() {
			if _, err := s.stopRestarting(ctx, c, ""); err != nil {
				return err
			}
			if c, err = s.store.GetContainer(ctx, c.ID); err != nil {
				return err
			}
		}
	}
	if c.Running() {
		if err := s.launcher.Cancel(ctx, c.State.Execution); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: %w", c.Name, err)
		}
	}
	return s.remove(ctx, c, volumes)
}

// remove deletes c's executions and record; anonymous also removes its anonymous volumes (rm -v, run --rm) before
// the destroy event, so that a `docker run --rm` that returns on it finds them gone.
func (s *Service) remove(ctx context.Context, c *Container, anonymous bool) error {
	for _, e := range c.Executions {
		if err := s.launcher.DeleteExecution(ctx, e); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: execution %s: %w", c.Name, e, err)
		}
	}
	if err := s.store.DeleteContainer(ctx, c.ID); err != nil {
		if errdefs.IsNotFound(err) {
			return noSuchContainer(c.ID)
		}
		return err
	}
	s.releaseNetworks(c)
	s.forgetAgent(c)
	s.forgetHealth(c.ID)
	if anonymous {
		s.removeAnonymous(ctx, c.Owner, c.Mounts)
	}
	s.emit(ctx, c, "destroy", nil)
	return nil
}

// Rename gives the container a new name (409 when taken).
func (s *Service) Rename(ctx context.Context, p identity.Principal, ref, newName string) error {
	name, err := checkName(newName)
	if err != nil {
		return err
	}
	if name == "" {
		return errorf(errdefs.ErrInvalidArgument, "Neither old nor new names may be empty")
	}
	c, err := s.resolveFor(ctx, p, ref, "rename")
	if err != nil {
		return err
	}
	if c.Name == name {
		return errorf(errdefs.ErrInvalidArgument, "Renaming a container with the same name as its current name")
	}
	if err := s.store.RenameContainer(ctx, c.ID, name); err != nil {
		if errdefs.IsConflict(err) {
			return s.nameInUse(ctx, c.Owner, name)
		}
		return err
	}
	old := c.Name
	c.Name = name
	s.emit(ctx, c, "rename", map[string]string{"oldName": "/" + old})
	return nil
}

// WaitResult is how a wait ended: Docker's WaitResponse. Error is the container's State.Error for that exit (a task
// timeout, a failure to start, a cancel by someone else), as Docker fills Error.Message from the state's error.
type WaitResult struct {
	ExitCode int
	Error    string
}

// waitResult is the result of a wait that ended with out.
func waitResult(out Outcome) WaitResult { return WaitResult{ExitCode: out.ExitCode, Error: out.Error} }

// dieResult is the result of a wait ended by die event e. A die event recorded before events carried their outcome
// has only Docker's exitCode attribute.
func dieResult(e Event) WaitResult {
	if e.Exit != nil {
		return waitResult(*e.Exit)
	}
	code, _ := strconv.Atoi(e.Attributes["exitCode"])
	return WaitResult{ExitCode: code}
}

// WaitCursor names a wait so that it can be re-issued after Cloud Run's request timeout cut it: the container and
// the moment the wait began. A resumed wait answers with the exit (or removal) that happened since then, so a
// `next-exit` re-issued after that exit still returns it rather than waiting for another.
type WaitCursor struct {
	ID    string
	Since time.Time
}

// Wait checks ref now (errors come back before anything is streamed) and returns a channel that delivers one
// result when condition is met ("not-running" (default), "next-exit", "removed"), or closes if ctx ends first,
// and the cursor that resumes this wait. With resume (nil = a new wait) it continues the wait that cursor named.
func (s *Service) Wait(ctx context.Context, p identity.Principal, ref string, condition container.WaitCondition, resume *WaitCursor) (<-chan WaitResult, WaitCursor, error) {
	switch condition {
	case "", container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		return nil, WaitCursor{}, errorf(errdefs.ErrInvalidArgument, "invalid condition: %q", condition)
	}
	since := s.now()
	sub, unsubscribe := s.bus.subscribe()
	if resume != nil {
		ref, since = resume.ID, resume.Since
	}
	c, err := s.Resolve(ctx, p, ref)
	out := make(chan WaitResult, 1)
	var last WaitResult
	died := false
	if resume != nil {
		// What happened while no wait was open: the events since the wait began (subscribed first, so nothing
		// falls between the history and the live events).
		if err != nil && !errdefs.IsNotFound(err) {
			unsubscribe()
			return nil, WaitCursor{}, err
		}
		res, exited, done, herr := s.waitHistory(ctx, p, *resume, condition)
		if herr != nil {
			unsubscribe()
			return nil, WaitCursor{}, herr
		}
		if done {
			unsubscribe()
			out <- res
			return out, *resume, nil
		}
		last, died = res, exited
	}
	if err != nil {
		unsubscribe()
		return nil, WaitCursor{}, err
	}
	if !died {
		last = WaitResult{ExitCode: c.State.ExitCode, Error: c.State.Error}
	}
	cursor := WaitCursor{ID: c.ID, Since: since}
	if (condition == "" || condition == container.WaitConditionNotRunning) && !c.Active() {
		unsubscribe()
		out <- last
		return out, cursor, nil
	}
	go func() {
		defer unsubscribe()
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.lost:
				return
			case e := <-sub.ch:
				if e.ActorID != c.ID {
					continue
				}
				if e.Action == "die" || e.Action == actionRestartCancelled {
					// A restarting container stopped before its next start ends a wait as an exit does.
					last = dieResult(e)
					if condition != container.WaitConditionRemoved {
						out <- last
						return
					}
				}
				if e.Action == "destroy" {
					out <- last
					return
				}
				if e.Action == actionRemovalFailed && condition == container.WaitConditionRemoved {
					// As Docker answers a wait for a removal that failed: the exit code and the removal's error.
					out <- WaitResult{ExitCode: last.ExitCode, Error: e.Attributes["error"]}
					return
				}
			}
		}
	}()
	return out, cursor, nil
}

// waitHistory replays the events of cur's container since the wait began: the result when the condition was met
// (done), or the last exit seen (died) for a wait on removal still to come.
func (s *Service) waitHistory(ctx context.Context, p identity.Principal, cur WaitCursor, condition container.WaitCondition) (res WaitResult, died, done bool, err error) {
	scope, err := ScopeFor(p, nil, true) // the container was resolved for p already; an admin's may be anyone's
	if err != nil {
		return WaitResult{}, false, false, err
	}
	events, err := s.store.ListEvents(ctx, scope.Owner, cur.Since, s.now())
	if err != nil {
		return WaitResult{}, false, false, err
	}
	for _, e := range events {
		if e.ActorID != cur.ID || e.Type != "container" {
			continue
		}
		switch e.Action {
		case "die":
			res, died = dieResult(e), true
			if condition != container.WaitConditionRemoved {
				return res, true, true, nil
			}
		case "destroy":
			return res, died, true, nil
		}
	}
	return res, died, false, nil
}

// Prune removes p's stopped containers matching filters (until, label) and reports their IDs and what their files
// took (SpaceReclaimed, as Docker counts it: each one's writable layer). An admin's prune,
// like anyone's, covers the admin's own containers; another user's take the owner filter, and each is audited.
func (s *Service) Prune(ctx context.Context, p identity.Principal, filters map[string][]string) (container.PruneReport, error) {
	rep := container.PruneReport{ContainersDeleted: []string{}}
	f, err := parsePruneFilters(filters, s.now())
	if err != nil {
		return rep, err
	}
	scope, err := ScopeFor(p, f.owners, false)
	if err != nil {
		return rep, err
	}
	list, err := s.store.ListContainers(ctx, scope.Owner)
	if err != nil {
		return rep, err
	}
	for _, c := range list {
		if c.Active() || !f.match(c) || !scope.Covers(c.Owner) {
			continue
		}
		size := s.writableSize(ctx, c)
		s.Audit(ctx, p, c, "prune")
		if err := s.remove(ctx, c, false); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return rep, err
		}
		rep.ContainersDeleted = append(rep.ContainersDeleted, c.ID)
		rep.SpaceReclaimed += uint64(size)
	}
	return rep, nil
}

// writableSize is what removing c frees, as Docker counts it for prune; a size that cannot be read counts as
// nothing (the removal matters more than its report).
func (s *Service) writableSize(ctx context.Context, c *Container) int64 {
	if s.sizes == nil {
		return 0
	}
	n, err := s.sizes.WritableSize(ctx, c.ID)
	if err != nil {
		s.log.Warn("size of a pruned container", "container", c.ID, "err", err)
		return 0
	}
	return n
}
