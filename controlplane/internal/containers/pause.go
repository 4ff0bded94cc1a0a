package containers

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// Pause stops every process of ref's running container but its agent (docker pause), with Docker's conflicts:
// not running, already paused. A container without the agent cannot be paused (409, saying why).
func (s *Service) Pause(ctx context.Context, p identity.Principal, ref string) error {
	c, err := s.resolveFor(ctx, p, ref, "pause")
	if err != nil {
		return err
	}
	if !c.Running() {
		return errorf(errdefs.ErrConflict, "Container %s is not running", c.ID)
	}
	if c.State.Paused {
		return errorf(errdefs.ErrConflict, "Container %s is already paused", c.ID)
	}
	if err := s.CheckAgent(c); err != nil {
		return err
	}
	if err := s.agent.Pause(ctx, c.ID); err != nil {
		return fmt.Errorf("pause container %s: %w", c.ID, err)
	}
	return s.setPaused(ctx, c, true)
}

// Unpause continues the processes of ref's paused container (docker unpause); 409 when it is not paused.
func (s *Service) Unpause(ctx context.Context, p identity.Principal, ref string) error {
	c, err := s.resolveFor(ctx, p, ref, "unpause")
	if err != nil {
		return err
	}
	if !c.Running() || !c.State.Paused {
		return errorf(errdefs.ErrConflict, "Container %s is not paused", c.ID)
	}
	return s.unpause(ctx, c)
}

// unpause continues c's processes through the agent and records it.
func (s *Service) unpause(ctx context.Context, c *Container) error {
	if err := s.agent.Unpause(ctx, c.ID); err != nil {
		return fmt.Errorf("unpause container %s: %w", c.ID, err)
	}
	return s.setPaused(ctx, c, false)
}

// setPaused records paused for c's current execution and emits pause or unpause. The execution may have ended in
// between: then there is nothing to record (the exit cleared Paused).
func (s *Service) setPaused(ctx context.Context, c *Container, paused bool) error {
	execution := c.State.Execution
	c2, err := s.store.UpdateContainer(ctx, c.ID, func(c *Container) error {
		if !c.Running() || c.State.Execution != execution || c.State.Paused == paused {
			return errNoChange
		}
		c.State.Paused = paused
		if paused {
			s.settleHealth(c, false)
		}
		return nil
	})
	if err == errNoChange {
		return nil
	}
	if err != nil {
		return err
	}
	action := "pause"
	if !paused {
		action = "unpause"
	}
	s.emit(ctx, c2, action, nil)
	return nil
}

// signalPaused is what Docker does after it sends a signal other than SIGKILL to a paused container: it unpauses
// it, so the signal is delivered.
func (s *Service) signalPaused(ctx context.Context, c *Container) {
	if !c.State.Paused {
		return
	}
	if err := s.unpause(ctx, c); err != nil {
		s.log.Warn("unpause after a signal", "container", c.ID, "err", err)
	}
}
