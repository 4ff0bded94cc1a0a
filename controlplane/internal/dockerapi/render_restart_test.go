package dockerapi

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// A restarting container renders as Docker's: running and restarting in inspect, "Restarting (code) … ago" in ps.
func TestRestartingRendersAsDocker(t *testing.T) {
	c := &containers.Container{ID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Name: "web", RestartCount: 2,
		State: containers.State{Status: container.StateRestarting, ExitCode: 3, FinishedAt: time.Now().Add(-3 * time.Second)}}
	st := inspect(c).State
	if st.Status != container.StateRestarting || !st.Running || !st.Restarting || st.ExitCode != 3 {
		t.Errorf("inspect state %+v; want restarting, Running and Restarting true, exit 3", st)
	}
	if s := summary(c); s.State != container.StateRestarting || s.Status != "Restarting (3) 3 seconds ago" {
		t.Errorf("ps: state %q status %q; want restarting, \"Restarting (3) 3 seconds ago\"", s.State, s.Status)
	}
	c.State.Status = container.StateExited
	if st := inspect(c).State; st.Running || st.Restarting {
		t.Errorf("an exited container's state %+v", st)
	}
}
