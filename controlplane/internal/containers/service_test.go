package containers_test

import (
	"context"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/containers/containerstest"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// testService is a Service on the in-memory store and launcher, without the agent; it is closed when t ends.
func testService(t *testing.T) (*containers.Service, *containerstest.Store, *containerstest.Launcher) {
	t.Helper()
	st, l := containerstest.NewStore(), containerstest.NewLauncher()
	s := containers.New(containers.Options{Store: st, Launcher: l, Images: containerstest.Images{}})
	t.Cleanup(func() { s.Close() })
	return s, st, l
}

// mustCreate creates a container named name for p from alpine.
func mustCreate(t *testing.T, s *containers.Service, p identity.Principal, name string, labels map[string]string) *containers.Container {
	t.Helper()
	c, err := s.Create(context.Background(), p, containers.CreateRequest{Name: name, Config: container.Config{Image: "alpine", Labels: labels}})
	if err != nil {
		t.Fatalf("create %s for %s: %v", name, p.Email, err)
	}
	return c
}
