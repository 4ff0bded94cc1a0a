package networks

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// Attach gives a container being created its endpoints: HostConfig.NetworkMode first, then every other network of
// nc (Docker's API accepts several since 1.44). It allocates addresses on user-defined networks; a failure
// releases what it took.
func (s *Service) Attach(ctx context.Context, c *containers.Container, nc *network.NetworkingConfig) error {
	mode := string(c.HostConfig.NetworkMode)
	names := []string{mode}
	var cfgs map[string]*network.EndpointSettings
	if nc != nil {
		cfgs = nc.EndpointsConfig
	}
	for name := range cfgs {
		if name != mode && name != network.NetworkDefault && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names[1:])
	if len(names) > 1 && (mode == network.NetworkHost || mode == network.NetworkNone || slices.Contains(names, network.NetworkHost) || slices.Contains(names, network.NetworkNone)) {
		return errkind.New(errdefs.ErrInvalidArgument, "Container cannot be connected to network endpoints: %s", strings.Join(names, ", "))
	}
	owner := identity.Principal{Email: c.Owner}
	c.Networks = map[string]*containers.Endpoint{}
	err := func() error {
		for i, ref := range names {
			cfg := cfgs[ref]
			if cfg == nil && i == 0 {
				cfg = cfgs[network.NetworkDefault]
			}
			ep, name, err := s.join(ctx, owner, c, ref, cfg)
			if err != nil {
				return err
			}
			c.Networks[name] = ep
		}
		if len(c.HostConfig.Links) > 0 {
			return s.checkLinks(ctx, owner, c.HostConfig.Links)
		}
		return nil
	}()
	if err != nil {
		s.Release(ctx, c)
		c.Networks = nil
		return err
	}
	s.notify(c.Owner)
	return nil
}

// checkLinks refuses links to containers that do not exist, as Docker does.
func (s *Service) checkLinks(ctx context.Context, p identity.Principal, links []string) error {
	if s.ctrs == nil {
		return nil
	}
	for _, l := range links {
		target, _, _ := strings.Cut(l, ":")
		target = strings.TrimPrefix(target, "/")
		if _, err := s.ctrs.Resolve(ctx, p, target); err != nil {
			if errdefs.IsNotFound(err) {
				return errkind.New(errdefs.ErrInvalidArgument, "could not get container for %s", target)
			}
			return err
		}
	}
	return nil
}

// join makes c's endpoint on the network ref names; user-defined networks allocate an address.
func (s *Service) join(ctx context.Context, p identity.Principal, c *containers.Container, ref string, cfg *network.EndpointSettings) (*containers.Endpoint, string, error) {
	n, name, err := s.find(ctx, p, ref)
	if err != nil {
		return nil, "", err
	}
	ep := &containers.Endpoint{EndpointID: newID()}
	if cfg != nil {
		ep.Aliases = slices.Clone(cfg.Aliases)
		ep.Links = slices.Clone(cfg.Links)
	}
	if n == nil {
		ep.NetworkID = builtinID(name)
		if name == network.NetworkBridge {
			if len(ep.Aliases) > 0 {
				return nil, "", errkind.New(errdefs.ErrInvalidArgument, "network-scoped aliases are only supported for user-defined networks")
			}
			addr := bridgeAddr(c.ID)
			ep.IPAddress, ep.PrefixLen, ep.Gateway, ep.MacAddress = addr.String(), bridgeSubnet.Bits(), "127.17.0.1", macOf(addr)
		}
		return ep, name, nil
	}
	var addr string
	_, err = s.store.UpdateNetwork(ctx, n.ID, func(n *Network) error {
		addr = ""
		for a, id := range n.Addrs {
			if id == c.ID {
				addr = a // a retry of the same join
			}
		}
		if addr == "" {
			a, ok := freeAddr(n)
			if !ok {
				return errkind.New(errdefs.ErrResourceExhausted, "no available IPv4 addresses on network %s", n.Name)
			}
			addr = a
		}
		if n.Addrs == nil {
			n.Addrs = map[string]string{}
		}
		n.Addrs[addr] = c.ID
		return nil
	})
	if errdefs.IsNotFound(err) {
		return nil, "", notFound(ref)
	}
	if err != nil {
		return nil, "", err
	}
	ep.NetworkID, ep.IPAddress, ep.PrefixLen, ep.Gateway = n.ID, addr, 16, n.Gateway
	ep.MacAddress = macOf(netip.MustParseAddr(addr))
	return ep, n.Name, nil
}

// freeAddr is the lowest address of n's subnet not taken (the gateway .0.1 is never given).
func freeAddr(n *Network) (string, bool) {
	pfx := netip.MustParsePrefix(n.Subnet)
	a := pfx.Addr().Next().Next()
	for pfx.Contains(a) {
		if _, taken := n.Addrs[a.String()]; !taken && a.As4()[3] != 255 && a.As4()[3] != 0 {
			return a.String(), true
		}
		a = a.Next()
	}
	return "", false
}

// bridgeAddr is a container's address on the default bridge: derived from its ID (the bridge keeps no record;
// with --link the address reaches the linked container from its linker only).
func bridgeAddr(id string) netip.Addr {
	h := sha256.Sum256([]byte(id))
	v := binary.BigEndian.Uint16(h[:2])%65000 + 2
	return netip.AddrFrom4([4]byte{127, 17, byte(v >> 8), byte(v)})
}

// macOf is Docker's MAC scheme for an address: 02:42 followed by the four address bytes.
func macOf(a netip.Addr) string {
	b := a.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}.String()
}

func parseMAC(s string) (network.HardwareAddr, error) {
	hw, err := net.ParseMAC(s)
	return network.HardwareAddr(hw), err
}

// Release frees c's addresses on its user-defined networks. Failures are logged: an address left allocated to a
// removed container is reclaimed by freeAddr's next caller only after a manual fix, so they are worth seeing.
func (s *Service) Release(ctx context.Context, c *containers.Container) {
	for name, ep := range c.Networks {
		if isBuiltin(name) {
			continue
		}
		s.releaseOne(ctx, c.ID, ep)
	}
	s.notify(c.Owner)
}

// Connect is POST /networks/{id}/connect: p's container joins the network, running or not; a running one's peers
// learn it at once (the Overlay).
func (s *Service) Connect(ctx context.Context, p identity.Principal, ref string, req network.ConnectRequest) error {
	n, name, c, err := s.endpointOf(ctx, p, ref, req.Container)
	if err != nil {
		return err
	}
	mode := string(c.HostConfig.NetworkMode)
	if mode == network.NetworkHost || mode == network.NetworkNone {
		return errkind.New(errdefs.ErrPermissionDenied, "container sharing network namespace with another container or host cannot be connected to any other network")
	}
	if ep := c.Networks[name]; ep != nil {
		return errkind.New(errdefs.ErrPermissionDenied, "endpoint with name %s already exists in network %s", c.Name, name)
	}
	ep, name, err := s.join(ctx, identity.Principal{Email: c.Owner}, c, ref, req.EndpointConfig)
	if err != nil {
		return err
	}
	_, err = s.records.UpdateContainer(ctx, c.ID, func(c *containers.Container) error {
		if c.Networks == nil {
			c.Networks = map[string]*containers.Endpoint{}
		}
		if c.Networks[name] != nil {
			return errkind.New(errdefs.ErrPermissionDenied, "endpoint with name %s already exists in network %s", c.Name, name)
		}
		c.Networks[name] = ep
		return nil
	})
	if err != nil {
		if !errdefs.IsPermissionDenied(err) {
			s.releaseOne(ctx, c.ID, ep)
		}
		if errdefs.IsNotFound(err) {
			return errkind.New(errdefs.ErrNotFound, "No such container: %s", req.Container)
		}
		return err
	}
	if n != nil {
		s.announce(ctx, n, "connect", map[string]string{"container": c.ID})
	}
	s.notify(c.Owner)
	return nil
}

// releaseOne frees the addresses containerID holds on ep's network (every one: a retried join may have left a
// second). A failure is logged, not returned: an address left allocated to a gone container is reclaimed only by a
// manual fix, so it is worth seeing, but the caller's change has happened.
func (s *Service) releaseOne(ctx context.Context, containerID string, ep *containers.Endpoint) {
	if ep.IPAddress == "" || ep.NetworkID == builtinID(network.NetworkBridge) {
		return
	}
	_, err := s.store.UpdateNetwork(ctx, ep.NetworkID, func(n *Network) error {
		for a, id := range n.Addrs {
			if id == containerID {
				delete(n.Addrs, a)
			}
		}
		return nil
	})
	if err != nil && !errdefs.IsNotFound(err) {
		s.log.Warn("release network address", "network", ep.NetworkID, "container", containerID, "err", err)
	}
}

// endpointOf finds what connect and disconnect act on: p's network ref (nil with its name for bridge; host and none
// cannot change) and p's container ctr.
func (s *Service) endpointOf(ctx context.Context, p identity.Principal, ref, ctr string) (*Network, string, *containers.Container, error) {
	n, name, err := s.find(ctx, p, ref)
	if err != nil {
		return nil, "", nil, err
	}
	if n == nil && name != network.NetworkBridge {
		return nil, "", nil, errkind.New(errdefs.ErrPermissionDenied, "container cannot be disconnected from host network or connected to host network")
	}
	c, err := s.ctrs.Resolve(ctx, p, ctr)
	if err != nil {
		return nil, "", nil, err
	}
	if c.Owner != p.Email && !p.Admin {
		return nil, "", nil, errkind.New(errdefs.ErrNotFound, "No such container: %s", ctr)
	}
	return n, name, c, nil
}

// Disconnect is POST /networks/{id}/disconnect: the container leaves the network; its peers stop resolving it.
func (s *Service) Disconnect(ctx context.Context, p identity.Principal, ref string, req network.DisconnectRequest) error {
	n, name, c, err := s.endpointOf(ctx, p, ref, req.Container)
	if err != nil {
		return err
	}
	var ep *containers.Endpoint
	_, err = s.records.UpdateContainer(ctx, c.ID, func(c *containers.Container) error {
		ep = c.Networks[name]
		if ep == nil {
			return errkind.New(errdefs.ErrPermissionDenied, "container %s is not connected to network %s", c.ID, name)
		}
		delete(c.Networks, name)
		return nil
	})
	if err != nil {
		return err
	}
	s.releaseOne(ctx, c.ID, ep)
	if n != nil {
		s.announce(ctx, n, "disconnect", map[string]string{"container": c.ID})
	}
	s.notify(c.Owner)
	return nil
}

// String is for logs.
func (n *Network) String() string { return fmt.Sprintf("%s (%s)", n.Name, n.ID[:12]) }
