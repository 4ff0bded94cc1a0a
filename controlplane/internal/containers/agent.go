package containers

import (
	"context"
	"time"

	"github.com/containerd/errdefs"
)

// AgentRecord is what a container's record keeps about its current start's agent. No secret is stored, only hashes:
// the start's one-time bootstrap (in the launch's environment, which project viewers can read) until the agent's
// first link spends it, and from then on the key the agent bound with it (held only in the agent's memory). Both
// prove only the run of State.Execution.
type AgentRecord struct {
	BootstrapHash  []byte `json:",omitempty"`
	KeyHash        []byte `json:",omitempty"`
	ServiceAccount string `json:",omitempty"`
	// Run identifies the start (RUNSOCK_RUN).
	Run string `json:",omitempty"`
	// Unavailable says why this start runs without the agent ("" = it runs with it).
	Unavailable string `json:",omitempty"`
}

// noAgent is why a start runs without the agent when the Service has no Agent.
const noAgent = "this control plane runs containers without the runsock agent"

// prepareAgent turns spec into a launch with the agent when the Service has one.
func (s *Service) prepareAgent(ctx context.Context, c *Container, spec *LaunchSpec) AgentRecord {
	if s.agent == nil {
		return AgentRecord{Unavailable: noAgent}
	}
	return s.agent.Prepare(ctx, c, spec)
}

// CheckAgent says why c cannot have sessions through the agent (nil when it can): the control plane runs without
// it, or this start's image could not be given it.
func (s *Service) CheckAgent(c *Container) error {
	if s.agent == nil {
		return errorf(errNoAgentKind, "container %s has no runsock agent: %s", c.ID, noAgent)
	}
	if c.Agent.Unavailable != "" {
		return errorf(errNoAgentKind, "container %s has no runsock agent: %s", c.ID, c.Agent.Unavailable)
	}
	return nil
}

// errNoAgentKind is the kind of "no agent" errors: Docker answers 409 for sessions a container cannot have.
var errNoAgentKind = errdefs.ErrConflict

// agentReachable reports whether c's agent is linked (waiting briefly for a redial in progress).
func (s *Service) agentReachable(ctx context.Context, c *Container) bool {
	if s.CheckAgent(c) != nil {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.agent.WaitConnected(wctx, c.ID) == nil
}

// forgetAgent drops what the agent's side remembers about a removed container.
func (s *Service) forgetAgent(c *Container) {
	if s.agent != nil {
		s.agent.Forget(c.ID)
	}
}

// AgentExited records an exit the agent of execution reported first-hand (exact code and time, and whether the
// kernel's OOM killer killed a process of it): state, oom and die events, waiters, auto-remove, as the watcher
// would — when execution is still the container's current one. A late report of a run that has been replaced ends
// nothing.
func (s *Service) AgentExited(id, execution string, code int, oomKilled bool, at time.Time) {
	if execution == "" {
		return // a report that names no run applies to none
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	s.recordExit(ctx, id, execution, Outcome{ExitCode: code, OOMKilled: oomKilled, FinishedAt: at})
}

// runEnded tells the agent's side that execution no longer runs c: its credential and link stop applying.
func (s *Service) runEnded(id, execution string) {
	if s.agent != nil && execution != "" {
		s.agent.Ended(id, execution)
	}
}
