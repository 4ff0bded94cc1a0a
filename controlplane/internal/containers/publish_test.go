package containers_test

import (
	"context"
	"errors"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// Random host ports ("" and "0" as testcontainers sends, -P) are unassigned until the owner's localproxy reports
// the port it bound; fixed ones are kept; an assignment is checked whole before anything changes and belongs to one
// start.
func TestRandomHostPorts(t *testing.T) {
	bg := context.Background()
	s, _, _ := testService(t)
	tcp := func(p string) network.Port { return network.MustParsePort(p) }
	_, err := s.Create(bg, alice, containers.CreateRequest{Name: "web", Config: container.Config{Image: "alpine",
		ExposedPorts: network.PortSet{tcp("80/tcp"): {}, tcp("90/tcp"): {}}},
		HostConfig: container.HostConfig{PublishAllPorts: true, PortBindings: network.PortMap{
			tcp("80/tcp"): {{HostPort: "0"}},
			tcp("81/tcp"): {{HostPort: ""}},
			tcp("82/tcp"): {{HostPort: "8082"}},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Published(bg, alice, "web"); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("published ports of a created container: %v; want a conflict (not running)", err)
	}
	if err := s.Start(bg, alice, "web"); err != nil {
		t.Fatal(err)
	}
	pp, err := s.Published(bg, alice, "web")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]containers.PublishedPort{
		"80/tcp": {Port: "80/tcp", HostIP: "0.0.0.0", HostPort: "", Random: true},
		"81/tcp": {Port: "81/tcp", HostIP: "0.0.0.0", HostPort: "", Random: true},
		"82/tcp": {Port: "82/tcp", HostIP: "0.0.0.0", HostPort: "8082"},
		"90/tcp": {Port: "90/tcp", HostIP: "0.0.0.0", HostPort: "", Random: true}, // -P
	}
	if len(pp.Ports) != len(want) || pp.Execution == "" {
		t.Fatalf("published %+v; want %d bindings and the execution", pp, len(want))
	}
	for _, p := range pp.Ports {
		if p != want[p.Port] {
			t.Errorf("binding %+v; want %+v", p, want[p.Port])
		}
	}

	for _, tc := range []struct {
		name string
		bob  bool
		exec string
		as   []containers.PortAssignment
		kind error
	}{
		{"another user's container", true, pp.Execution, []containers.PortAssignment{{Port: "80/tcp", HostPort: "40000"}}, errdefs.ErrNotFound},
		{"another execution", false, "old", []containers.PortAssignment{{Port: "80/tcp", HostPort: "40000"}}, errdefs.ErrConflict},
		{"a fixed port", false, pp.Execution, []containers.PortAssignment{{Port: "82/tcp", Previous: "8082", HostPort: "40000"}}, errdefs.ErrInvalidArgument},
		{"an unpublished port", false, pp.Execution, []containers.PortAssignment{{Port: "83/tcp", HostPort: "40000"}}, errdefs.ErrInvalidArgument},
		{"a binding past the last", false, pp.Execution, []containers.PortAssignment{{Port: "80/tcp", Index: 1, HostPort: "40000"}}, errdefs.ErrInvalidArgument},
		{"port 0", false, pp.Execution, []containers.PortAssignment{{Port: "80/tcp", HostPort: "0"}}, errdefs.ErrInvalidArgument},
		{"port 70000", false, pp.Execution, []containers.PortAssignment{{Port: "80/tcp", HostPort: "70000"}}, errdefs.ErrInvalidArgument},
		{"nothing", false, pp.Execution, nil, errdefs.ErrInvalidArgument},
		{"one good, one stale", false, pp.Execution, []containers.PortAssignment{{Port: "80/tcp", HostPort: "40000"}, {Port: "81/tcp", Previous: "1", HostPort: "40001"}}, errdefs.ErrConflict},
	} {
		p := alice
		if tc.bob {
			p = bob
		}
		if _, err := s.AssignPorts(bg, p, "web", tc.exec, tc.as); !errors.Is(err, tc.kind) {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.kind)
		}
	}
	if c, _ := s.Resolve(bg, alice, "web"); c.Ports[tcp("80/tcp")][0].HostPort != "" {
		t.Fatalf("a refused assignment changed the ports: %v", c.Ports)
	}

	pp, err = s.AssignPorts(bg, alice, "web", pp.Execution, []containers.PortAssignment{{Port: "80/tcp", HostPort: "40000"}, {Port: "90/tcp", HostPort: "40090"}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.Resolve(bg, alice, "web")
	if got := c.Ports[tcp("80/tcp")][0].HostPort; got != "40000" {
		t.Errorf("80/tcp on %q; want 40000", got)
	}
	if got := c.Ports[tcp("90/tcp")][0].HostPort; got != "40090" {
		t.Errorf("90/tcp on %q; want 40090", got)
	}
	// A second proxy of the same user that saw the port unassigned loses.
	if _, err := s.AssignPorts(bg, alice, "web", pp.Execution, []containers.PortAssignment{{Port: "80/tcp", HostPort: "40005"}}); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("second claim: %v; want a conflict", err)
	}
	// The proxy that holds it may move it (it could not bind it again after a restart).
	if _, err := s.AssignPorts(bg, alice, "web", pp.Execution, []containers.PortAssignment{{Port: "80/tcp", Previous: "40000", HostPort: "40006"}}); err != nil {
		t.Errorf("move: %v", err)
	}

	// A new start forgets the random ports of the last.
	if err := s.Kill(bg, alice, "web", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Published(bg, alice, "web"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("published ports of a stopped container: %v; want a conflict", err)
	}
	if err := s.Start(bg, alice, "web"); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Resolve(bg, alice, "web")
	if got := c.Ports[tcp("80/tcp")][0].HostPort; got != "" {
		t.Errorf("after a new start 80/tcp on %q; want unassigned", got)
	}
	if got := c.Ports[tcp("82/tcp")][0].HostPort; got != "8082" {
		t.Errorf("after a new start 82/tcp on %q; want 8082", got)
	}
}
