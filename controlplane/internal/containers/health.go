package containers

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// Docker's healthcheck defaults (moby daemon/health.go).
const (
	defaultProbeInterval = 30 * time.Second
	defaultProbeTimeout  = 30 * time.Second
	defaultStartInterval = 5 * time.Second
	defaultProbeRetries  = 3
	// healthLogMax is how many results State.Health.Log keeps (Docker's maxLogEntries).
	healthLogMax = 5
)

// healthFlushEvery bounds how stale the stored health log may get: a result that changes the status is written at
// once; one that only adds to the log (or the failing streak) is kept in memory, where inspect and ps read it, and
// written with the next status change or once this much time has passed since the last write.
const healthFlushEvery = 30 * time.Second

// Health is Docker's State.Health as runsock records it.
type Health struct {
	Status        container.HealthStatus
	FailingStreak int
	Log           []HealthResult
}

// HealthResult is one probe's result (Docker's HealthcheckResult).
type HealthResult struct {
	Start    time.Time
	End      time.Time
	ExitCode int
	Output   string
}

// HealthReport is what a container's agent reported after a probe: its status and its last results, each with the
// exec ID the probe's events carry.
type HealthReport struct {
	Status        container.HealthStatus
	FailingStreak int
	Log           []ProbeResult
}

// ProbeResult is a reported probe.
type ProbeResult struct {
	HealthResult
	ExecID string
}

// HealthSpec is a container's healthcheck as its agent runs it: Docker's defaults applied, the command resolved.
type HealthSpec struct {
	Cmd                                           []string
	Interval, Timeout, StartPeriod, StartInterval time.Duration
	Retries                                       int
}

// HealthcheckOf returns the healthcheck c's agent must run, or false when c has none (no HEALTHCHECK, NONE,
// --no-healthcheck, or a test type Docker does not know: Docker warns and runs nothing).
func HealthcheckOf(c *Container) (HealthSpec, bool) {
	hc := c.Config.Healthcheck
	if hc == nil || len(hc.Test) == 0 {
		return HealthSpec{}, false
	}
	var cmd []string
	switch hc.Test[0] {
	case "CMD":
		cmd = hc.Test[1:]
	case "CMD-SHELL":
		shell := c.Config.Shell
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		cmd = append(slices.Clone(shell), hc.Test[1:]...)
	default:
		return HealthSpec{}, false
	}
	if len(cmd) == 0 {
		return HealthSpec{}, false
	}
	spec := HealthSpec{Cmd: cmd, Interval: cmpDuration(hc.Interval, defaultProbeInterval), Timeout: cmpDuration(hc.Timeout, defaultProbeTimeout),
		StartPeriod: hc.StartPeriod, StartInterval: cmpDuration(hc.StartInterval, defaultStartInterval), Retries: hc.Retries}
	if spec.Retries <= 0 {
		spec.Retries = defaultProbeRetries
	}
	return spec, true
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// checkHealthcheck is Docker's validation of Config.Healthcheck at create (moby's validateHealthCheck).
func checkHealthcheck(hc *container.HealthConfig) error {
	if hc == nil {
		return nil
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Interval", hc.Interval}, {"Timeout", hc.Timeout}} {
		if d.v != 0 && d.v < container.MinimumDuration {
			return errorf(errdefs.ErrInvalidArgument, "%s in Healthcheck cannot be less than %s", d.name, container.MinimumDuration)
		}
	}
	if hc.Retries < 0 {
		return errorf(errdefs.ErrInvalidArgument, "Retries in Healthcheck cannot be negative")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"StartPeriod", hc.StartPeriod}, {"StartInterval", hc.StartInterval}} {
		if d.v != 0 && d.v < container.MinimumDuration {
			return errorf(errdefs.ErrInvalidArgument, "%s in Healthcheck cannot be less than %s", d.name, container.MinimumDuration)
		}
	}
	return nil
}

// mergeHealthcheck is Docker's merge of the image's healthcheck into the container's: none given takes the image's;
// a given one takes the image's test and each duration or retries it leaves zero.
func mergeHealthcheck(user, img *container.HealthConfig) *container.HealthConfig {
	if img == nil {
		return user
	}
	if user == nil {
		c := *img
		c.Test = slices.Clone(img.Test)
		return &c
	}
	if len(user.Test) == 0 {
		user.Test = slices.Clone(img.Test)
	}
	if user.Interval == 0 {
		user.Interval = img.Interval
	}
	if user.Timeout == 0 {
		user.Timeout = img.Timeout
	}
	if user.StartPeriod == 0 {
		user.StartPeriod = img.StartPeriod
	}
	if user.StartInterval == 0 {
		user.StartInterval = img.StartInterval
	}
	if user.Retries == 0 {
		user.Retries = img.Retries
	}
	return user
}

// startHealth is c's health at a start: starting, no failures, the log of earlier runs kept (as Docker's
// initHealthMonitor); nil without a healthcheck.
func startHealth(c *Container) *Health {
	if _, ok := HealthcheckOf(c); !ok {
		return nil
	}
	h := &Health{Status: container.Starting}
	if c.State.Health != nil {
		h.Log = c.State.Health.Log
	}
	return h
}

// stopHealth is Docker's health once the monitor stops (an exit, a pause): unhealthy, for compatibility, with no
// event.
func stopHealth(h *Health) {
	if h != nil {
		h.Status = container.Unhealthy
	}
}

// HealthStatus is the container's status for ps's health filter: "none" without a healthcheck.
func (c *Container) HealthStatus() container.HealthStatus {
	if c.State.Health == nil {
		return container.NoHealthcheck
	}
	return c.State.Health.Status
}

// liveHealth is a running container's health as its agent last reported it, ahead of the stored record.
type liveHealth struct {
	execution string
	health    Health
	flushed   time.Time // when the record last got this run's health
}

// RecordHealth takes a report from the agent of id's run in execution: the results it has not seen join the log
// (each with Docker's exec_create, exec_start and exec_die events, live only), a changed status is written and
// announced (health_status: STATUS); a report that changes only the log or the failing streak stays in memory, where
// inspect and ps read it, until the next write (at most healthFlushEvery later). Each report reads the record once
// (the events carry the container's current name and labels).
func (s *Service) RecordHealth(ctx context.Context, id, execution string, rep HealthReport) {
	c, err := s.store.GetContainer(ctx, id)
	if err != nil {
		if !errdefs.IsNotFound(err) {
			s.log.Warn("health report", "container", id, "err", err)
		}
		return
	}
	if !c.Running() || !sameExecution(c.State.Execution, execution) || c.State.Health == nil {
		s.forgetHealth(id)
		return // a late report of an ended run, or of a container without a healthcheck
	}
	// A container's reports come one at a time (its agent's control stream), so what is read here is not changed
	// under us except by the run's end or a pause, which the write checks and settles.
	s.healthMu.Lock()
	orig := s.health[id] // a pause or the run's end replaces or settles it meanwhile: then this report's memory is dropped
	live := orig
	if live == nil || !sameExecution(live.execution, execution) {
		live = &liveHealth{execution: c.State.Execution, health: *c.State.Health, flushed: s.now()}
	}
	old, flushed := live.health, live.flushed
	s.healthMu.Unlock()
	next := Health{Status: rep.Status, FailingStreak: rep.FailingStreak, Log: slices.Clone(old.Log)}
	var fresh []ProbeResult
	for _, r := range rep.Log {
		if n := len(next.Log); n > 0 && !r.Start.After(next.Log[n-1].Start) {
			continue // seen before: a report resent after the agent redialled
		}
		fresh = append(fresh, r)
		next.Log = append(next.Log, r.HealthResult)
	}
	if n := len(next.Log); n > healthLogMax {
		next.Log = slices.Clone(next.Log[n-healthLogMax:])
	}
	changed := next.Status != old.Status
	if changed || s.now().Sub(flushed) >= healthFlushEvery {
		c2, err := s.store.UpdateContainer(ctx, id, func(c *Container) error {
			if !c.Running() || c.State.Paused || !sameExecution(c.State.Execution, execution) || c.State.Health == nil {
				return errNoChange // ended or paused meanwhile: that change settled the health
			}
			h := next
			c.State.Health = &h
			return nil
		})
		switch {
		case err == errNoChange || errdefs.IsNotFound(err):
			return
		case err != nil:
			s.log.Warn("record health", "container", id, "err", err) // kept in memory; the next report tries again
			changed = false                                          // announced once written
		default:
			c = c2
			flushed = s.now()
		}
	}
	s.healthMu.Lock()
	if s.health[id] == orig {
		s.health[id] = &liveHealth{execution: live.execution, health: next, flushed: flushed}
	}
	s.healthMu.Unlock()
	cmd := ""
	if spec, ok := HealthcheckOf(c); ok {
		cmd = strings.Join(spec.Cmd, " ")
	}
	for _, r := range fresh {
		attrs := map[string]string{"execID": r.ExecID}
		s.publishLive(c, "exec_create: "+cmd, attrs, r.Start)
		s.publishLive(c, "exec_start: "+cmd, attrs, r.Start)
		s.publishLive(c, "exec_die", map[string]string{"execID": r.ExecID, "exitCode": strconv.Itoa(r.ExitCode)}, r.End)
	}
	if changed {
		s.emit(ctx, c, "health_status: "+string(next.Status), nil)
	}
}

// publishLive hands an event to /events subscribers without recording it: a probe's exec events come every
// interval, and writing each would cost more than their history is worth (docker events --since does not show them).
func (s *Service) publishLive(c *Container, action string, extra map[string]string, at time.Time) {
	s.bus.publish(Event{Owner: c.Owner, Type: "container", Action: action, ActorID: c.ID, Attributes: eventAttributes(c, extra), Time: at})
}

// settleHealth is called inside a transaction that ends c's run or pauses it: the record gets the run's latest
// reported health, unhealthy now (Docker's status once its monitor stops); on a pause the memory reads unhealthy too
// (the first probe after the unpause announces the status again). An ended run's memory stays until the next
// start's first report replaces it or rm forgets it: nothing reads it meanwhile (withLiveHealth), and a transaction
// run again finds it.
func (s *Service) settleHealth(c *Container, ended bool) {
	if c.State.Health == nil {
		return
	}
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	if live := s.health[c.ID]; live != nil && sameExecution(live.execution, c.State.Execution) {
		h := live.health
		h.Log = slices.Clone(live.health.Log)
		c.State.Health = &h
		if !ended {
			// Replaced, not changed in place: a report under way sees the change and keeps out of the memory. The
			// transaction may run again; this gives the same record.
			paused := h
			paused.Log = slices.Clone(h.Log)
			paused.Status = container.Unhealthy
			s.health[c.ID] = &liveHealth{execution: live.execution, health: paused, flushed: live.flushed}
		}
	}
	stopHealth(c.State.Health)
}

func (s *Service) forgetHealth(id string) {
	s.healthMu.Lock()
	delete(s.health, id)
	s.healthMu.Unlock()
}

// withLiveHealth returns c with its running execution's latest reported health (c itself when there is none newer).
func (s *Service) withLiveHealth(c *Container) *Container {
	if !c.Running() || c.State.Health == nil || c.State.Paused {
		return c
	}
	s.healthMu.Lock()
	live := s.health[c.ID]
	s.healthMu.Unlock()
	if live == nil || !sameExecution(live.execution, c.State.Execution) {
		return c
	}
	c2 := *c
	h := live.health
	h.Log = slices.Clone(live.health.Log)
	c2.State.Health = &h
	return &c2
}
