package containers

import (
	"context"
	"time"

	"github.com/containerd/errdefs"
)

// AgentRecord is what a container's record keeps about its current start's agent. The secret itself is never
// stored: only its hash, for the link to check.
type AgentRecord struct {
	SecretHash     []byte `json:",omitempty"`
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

// AgentExited records an exit the agent reported first-hand (exact code and time): state, die event, waiters,
// auto-remove, as the watcher would.
func (s *Service) AgentExited(id string, code int, at time.Time) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	s.recordExit(ctx, id, "", Outcome{ExitCode: code, FinishedAt: at})
}
