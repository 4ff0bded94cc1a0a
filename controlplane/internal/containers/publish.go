package containers

import (
	"context"
	"net/netip"
	"slices"
	"strconv"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// Published ports (-p, -P) are served by localproxy on the user's machine, which tunnels each connection through
// the control plane to the agent (127.0.0.1:PORT inside the container). A fixed host port (-p 8080:80) is recorded
// at create. A random one (-P, -p 80, or HostPort "" or "0" as testcontainers sends it) can only be chosen where it
// will be bound: the owner's localproxy listens on 127.0.0.1:0 after the start and reports the port the kernel gave
// it (AssignPorts), so that docker port, ps and inspect show it. The assignment belongs to one execution, as
// Docker allocates random ports at each start: a new start forgets it.

// publishedPorts returns the container's port map at a start: fixed host ports set, random ones "" (unassigned).
func publishedPorts(hc container.HostConfig, exposed network.PortSet) network.PortMap {
	out := network.PortMap{}
	for port, bindings := range hc.PortBindings {
		for _, b := range bindings {
			if b.HostPort == "0" {
				b.HostPort = ""
			}
			if !b.HostIP.IsValid() {
				b.HostIP = netip.IPv4Unspecified()
			}
			out[port] = append(out[port], b)
		}
	}
	if hc.PublishAllPorts {
		for port := range exposed {
			if _, ok := out[port]; !ok {
				out[port] = []network.PortBinding{{HostIP: netip.IPv4Unspecified()}}
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// PublishedPort is one published binding of a running container as its owner's localproxy sees it: HostPort is ""
// while a random port is not yet assigned.
type PublishedPort struct {
	Port     string // "80/tcp"
	Index    int    // the binding's index among Port's bindings
	HostIP   string `json:"HostIp"`
	HostPort string
	// Random: the user asked for any free port, so the proxy chooses (and may choose again).
	Random bool
}

// PublishedPorts is what a localproxy needs to publish a running container's ports.
type PublishedPorts struct {
	Execution string // the execution the assignment belongs to
	Ports     []PublishedPort
}

// PortAssignment sets a random binding's host port. Previous must be the host port the proxy saw (compare and set:
// two proxies of one user cannot both claim the same binding).
type PortAssignment struct {
	Port     string
	Index    int
	Previous string
	HostPort string
}

// Published returns the container's published ports for its owner's localproxy (409 when it is not running).
func (s *Service) Published(ctx context.Context, p identity.Principal, ref string) (PublishedPorts, error) {
	c, err := s.Resolve(ctx, p, ref)
	if err != nil {
		return PublishedPorts{}, err
	}
	if !c.Running() {
		return PublishedPorts{}, errorf(errdefs.ErrConflict, "Container %s is not running", c.ID)
	}
	return publishedView(c), nil
}

func publishedView(c *Container) PublishedPorts {
	out := PublishedPorts{Execution: c.State.Execution, Ports: []PublishedPort{}}
	for port, bindings := range c.Ports {
		for i, b := range bindings {
			hostIP := ""
			if b.HostIP.IsValid() {
				hostIP = b.HostIP.String()
			}
			out.Ports = append(out.Ports, PublishedPort{Port: port.String(), Index: i, HostIP: hostIP, HostPort: b.HostPort,
				Random: randomBinding(c, port, i)})
		}
	}
	slices.SortFunc(out.Ports, func(a, b PublishedPort) int {
		if a.Port != b.Port {
			if a.Port < b.Port {
				return -1
			}
			return 1
		}
		return a.Index - b.Index
	})
	return out
}

// randomBinding reports whether port's i-th binding asked for any free host port.
func randomBinding(c *Container, port network.Port, i int) bool {
	bs, ok := c.HostConfig.PortBindings[port]
	if !ok {
		return c.HostConfig.PublishAllPorts
	}
	return i < len(bs) && (bs[i].HostPort == "" || bs[i].HostPort == "0")
}

// AssignPorts records the host ports a localproxy bound for the random bindings of execution (the container's
// current one). Everything is checked before anything changes: an unknown binding, a fixed one, a port out of
// range are invalid (400); another execution, or a binding whose host port is no longer Previous, a conflict (409).
func (s *Service) AssignPorts(ctx context.Context, p identity.Principal, ref, execution string, as []PortAssignment) (PublishedPorts, error) {
	c, err := s.Resolve(ctx, p, ref)
	if err != nil {
		return PublishedPorts{}, err
	}
	if len(as) == 0 {
		return PublishedPorts{}, errorf(errdefs.ErrInvalidArgument, "no port assignment given")
	}
	for _, a := range as {
		n, err := strconv.Atoi(a.HostPort)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != a.HostPort {
			return PublishedPorts{}, errorf(errdefs.ErrInvalidArgument, "invalid host port %q for %s", a.HostPort, a.Port)
		}
	}
	c2, err := s.store.UpdateContainer(ctx, c.ID, func(c *Container) error {
		if !c.Running() || c.State.Execution != execution {
			return errorf(errdefs.ErrConflict, "container %s: execution %q is not the running one", c.ID, execution)
		}
		for _, a := range as {
			port, err := network.ParsePort(a.Port)
			bs := c.Ports[port]
			if err != nil || a.Index < 0 || a.Index >= len(bs) {
				return errorf(errdefs.ErrInvalidArgument, "container %s does not publish %s (binding %d)", c.ID, a.Port, a.Index)
			}
			if !randomBinding(c, port, a.Index) {
				return errorf(errdefs.ErrInvalidArgument, "%s of container %s has a fixed host port", a.Port, c.ID)
			}
			if bs[a.Index].HostPort != a.Previous {
				return errorf(errdefs.ErrConflict, "%s of container %s is already published on host port %s", a.Port, c.ID, bs[a.Index].HostPort)
			}
			bs[a.Index].HostPort = a.HostPort
		}
		return nil
	})
	if err != nil {
		return PublishedPorts{}, err
	}
	return publishedView(c2), nil
}
