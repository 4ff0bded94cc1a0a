package health

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/runsock/runsock/linkproto"
)

// Prober runs one probe command in the container until it exits or ctx ends (the probe's timeout: the process is
// killed). It returns the exit code and the output (stdout and stderr as they came, at most
// linkproto.HealthOutputMax bytes, truncated marks more), or an error when the command could not be started.
type Prober interface {
	Probe(ctx context.Context, cmd []string) (code int, output string, truncated bool, err error)
}

// Clock is the time the monitor schedules probes by; tests inject their own.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Monitor runs a container's healthcheck. Create with New, run with Run.
type Monitor struct {
	spec    linkproto.HealthSpec
	started time.Time // the container's start: the start period counts from it
	probe   Prober
	report  func(linkproto.Health)
	clock   Clock

	mu       sync.Mutex
	state    linkproto.Health
	paused   bool
	resumed  chan struct{} // closed and replaced on every pause change
	cancelPr context.CancelFunc
}

// New returns a Monitor for spec. report is called after each probe with the whole state; it must not block for
// long.
func New(spec linkproto.HealthSpec, probe Prober, report func(linkproto.Health), clock Clock) *Monitor {
	if clock == nil {
		clock = realClock{}
	}
	return &Monitor{spec: spec, probe: probe, report: report, clock: clock,
		state: linkproto.Health{Status: linkproto.HealthStarting, Log: []linkproto.HealthResult{}}, resumed: make(chan struct{})}
}

// Current is the health so far (status starting before the first probe).
func (m *Monitor) Current() linkproto.Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.copyState()
}

func (m *Monitor) copyState() linkproto.Health {
	h := m.state
	h.Log = append([]linkproto.HealthResult{}, m.state.Log...)
	return h
}

// SetPaused stops probing while the container is paused (a probe under way is cancelled and not recorded) and
// resumes after it. As Docker's, the status reads unhealthy from the pause on, until a probe after the unpause; no
// report is made of that (Docker emits no event for it: the control plane records the pause itself).
func (m *Monitor) SetPaused(paused bool) {
	m.mu.Lock()
	if m.paused == paused {
		m.mu.Unlock()
		return
	}
	m.paused = paused
	close(m.resumed)
	m.resumed = make(chan struct{})
	if paused {
		if m.cancelPr != nil {
			m.cancelPr()
		}
		m.state.Status = linkproto.HealthUnhealthy
	}
	m.mu.Unlock()
}

// interval is moby's getInterval: the start interval while starting within the start period, the rest of the
// start period when it ends before the next interval, the interval otherwise.
func (m *Monitor) interval() time.Duration {
	elapsed := m.clock.Now().Sub(m.started)
	if elapsed >= m.spec.StartPeriod {
		return m.spec.Interval
	}
	if rest := m.spec.StartPeriod - elapsed; rest < m.spec.Interval {
		return rest
	}
	m.mu.Lock()
	starting := m.state.Status == linkproto.HealthStarting
	m.mu.Unlock()
	if starting {
		return m.spec.StartInterval
	}
	return m.spec.Interval
}

// Run probes until ctx ends (the main process has exited, or the agent is stopping). started is when the main
// process started: the start period counts from it. Call Run once.
func (m *Monitor) Run(ctx context.Context, started time.Time) {
	m.started = started
	wait := m.interval()
	for {
		m.mu.Lock()
		paused, resumed := m.paused, m.resumed
		m.mu.Unlock()
		if paused {
			select {
			case <-ctx.Done():
				return
			case <-resumed:
				wait = m.interval()
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-resumed:
			continue // paused meanwhile
		case <-m.clock.After(wait):
		}
		r, ok := m.runProbe(ctx)
		if ctx.Err() != nil {
			return
		}
		if ok {
			m.record(r)
		}
		wait = m.interval()
	}
}

// runProbe runs one probe within the timeout. ok is false when a pause cancelled it.
func (m *Monitor) runProbe(ctx context.Context) (linkproto.HealthResult, bool) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	if m.paused {
		m.mu.Unlock()
		return linkproto.HealthResult{}, false
	}
	m.cancelPr = cancel
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.cancelPr = nil
		m.mu.Unlock()
	}()
	r := linkproto.HealthResult{ExecID: execID(), Start: m.clock.Now()}
	tctx, stop := context.WithTimeout(pctx, m.spec.Timeout)
	defer stop()
	code, out, truncated, err := m.probe.Probe(tctx, m.spec.Cmd)
	r.End = m.clock.Now()
	if truncated {
		out += "..."
	}
	switch {
	case pctx.Err() != nil:
		return r, false
	case err != nil:
		r.ExitCode, r.Output = -1, err.Error()
	case tctx.Err() != nil:
		// Docker's words for a probe that took longer than its timeout; it counts as a failure.
		r.ExitCode, r.Output = -1, fmt.Sprintf("Health check exceeded timeout (%v)", m.spec.Timeout)
		if out != "" {
			r.Output += ": " + out
		}
	default:
		r.ExitCode, r.Output = code, out
	}
	return r, true
}

// record applies a result as moby's handleProbeResult does, then reports the state.
func (m *Monitor) record(r linkproto.HealthResult) {
	m.mu.Lock()
	if m.paused {
		m.mu.Unlock()
		return
	}
	h := &m.state
	h.Log = append(h.Log, r)
	if len(h.Log) > linkproto.HealthLogMax {
		h.Log = append([]linkproto.HealthResult{}, h.Log[len(h.Log)-linkproto.HealthLogMax:]...)
	}
	if r.ExitCode == 0 {
		h.FailingStreak = 0
		h.Status = linkproto.HealthHealthy
	} else if h.Status != linkproto.HealthStarting || r.Start.Sub(m.started) >= m.spec.StartPeriod {
		// A failure within the start period, before any success, does not count.
		h.FailingStreak++
		if h.FailingStreak >= m.spec.Retries {
			h.Status = linkproto.HealthUnhealthy
		}
	}
	st := m.copyState()
	m.mu.Unlock()
	m.report(st)
}

// execID is a probe's exec ID, as Docker's: 32 random bytes in hex.
func execID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
