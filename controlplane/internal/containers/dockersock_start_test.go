package containers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// The Docker socket is served by the agent: a container that cannot have it is not started without its socket (409,
// saying why), and nothing is launched.
func TestDockerSocketNeedsTheAgent(t *testing.T) {
	s, _, l := testService(t) // no agent
	p := identity.Principal{Email: "alice@example.com"}
	ctx := context.Background()
	c, err := s.Create(ctx, p, containers.CreateRequest{Name: "ci", Config: container.Config{Image: "alpine"},
		HostConfig: container.HostConfig{Binds: []string{"/var/run/docker.sock:/var/run/docker.sock"}}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Start(ctx, p, c.ID)
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "Docker socket") {
		t.Fatalf("start without the agent: %v, want a 409 about the Docker socket", err)
	}
	if n := len(l.Specs()); n != 0 {
		t.Errorf("%d executions launched", n)
	}
	plain := mustCreate(t, s, p, "plain", nil)
	if err := s.Start(ctx, p, plain.ID); err != nil {
		t.Fatalf("a container without the socket: %v", err)
	}
}
