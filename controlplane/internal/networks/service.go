package networks

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// Containers is what the package needs of containers: their records (the store) and Docker's resolution of a
// reference for a caller (containers.Service).
type Containers interface {
	Resolve(ctx context.Context, p identity.Principal, ref string) (*containers.Container, error)
	Announce(ctx context.Context, e containers.Event)
}

// ContainerStore is the subset of containers.Store the package reads and changes.
type ContainerStore interface {
	GetContainer(ctx context.Context, id string) (*containers.Container, error)
	ListContainers(ctx context.Context, owner string) ([]*containers.Container, error)
	UpdateContainer(ctx context.Context, id string, fn func(*containers.Container) error) (*containers.Container, error)
}

// Options are a Service's parts; all are required but Containers (set later with SetContainers, as the containers
// Service is built with this one) and Log.
type Options struct {
	Store      Store
	Records    ContainerStore
	Containers Containers
	Log        *slog.Logger
	Now        func() time.Time
}

// Service serves the network routes and places containers on networks.
type Service struct {
	store   Store
	records ContainerStore
	ctrs    Containers
	log     *slog.Logger
	now     func() time.Time
	// changed is told of every membership change (the Overlay); nil: nobody.
	changed func(owner string)
}

var _ containers.Networks = (*Service)(nil)

// New returns a Service.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{store: o.Store, records: o.Records, ctrs: o.Containers, log: o.Log, now: o.Now}
}

// SetContainers completes a Service built before the containers Service (which needs this one).
func (s *Service) SetContainers(c Containers) { s.ctrs = c }

// OnChange registers fn, called with the owner after every membership change.
func (s *Service) OnChange(fn func(owner string)) { s.changed = fn }

func (s *Service) notify(owner string) {
	if s.changed != nil {
		s.changed(owner)
	}
}

// Built-in networks: every user sees them; they cannot be created, removed, connected or disconnected.
var builtins = []string{network.NetworkBridge, network.NetworkHost, network.NetworkNone}

// builtinID is the ID a built-in network has on runsock (stable, the same for every user).
func builtinID(name string) string {
	h := sha256.Sum256([]byte("runsock built-in network " + name))
	return hex.EncodeToString(h[:])
}

// bridgeSubnet is the default bridge's address range: its members' addresses are derived from their IDs.
var bridgeSubnet = netip.MustParsePrefix("127.17.0.0/16")

func isBuiltin(name string) bool {
	for _, b := range builtins {
		if name == b {
			return true
		}
	}
	return false
}

func builtinInspect(name string) network.Inspect {
	drv := name
	if name == network.NetworkNone {
		drv = "null"
	}
	n := network.Inspect{Network: network.Network{Name: name, ID: builtinID(name), Scope: "local", Driver: drv,
		Created: time.Unix(0, 0).UTC(), EnableIPv4: name == network.NetworkBridge, Options: map[string]string{},
		Labels: map[string]string{}, IPAM: network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}}},
		Containers: map[string]network.EndpointResource{}}
	if name == network.NetworkBridge {
		n.IPAM.Config = []network.IPAMConfig{{Subnet: bridgeSubnet, Gateway: netip.MustParseAddr("127.17.0.1")}}
		n.Options = map[string]string{"com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.name": "docker0"}
	}
	return n
}

func notFound(ref string) error {
	return errkind.New(errdefs.ErrNotFound, "network %s not found", ref)
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// firstSubnet and lastSubnet bound N in 127.N.0.0/16 (127.17 is the bridge's, as 172.17 is Docker's).
const firstSubnet, lastSubnet = 18, 254

// Create makes a user-defined network for p (Docker's checks: a name, not a built-in's, unique per user).
func (s *Service) Create(ctx context.Context, p identity.Principal, req network.CreateRequest) (network.CreateResponse, error) {
	switch {
	case req.Name == "":
		return network.CreateResponse{}, errkind.New(errdefs.ErrInvalidArgument, "network name cannot be empty")
	case isBuiltin(req.Name):
		return network.CreateResponse{}, errkind.New(errdefs.ErrPermissionDenied, "%s is a pre-defined network and cannot be created", req.Name)
	case !validName.MatchString(req.Name):
		return network.CreateResponse{}, errkind.New(errdefs.ErrInvalidArgument, "invalid network name %q", req.Name)
	}
	switch req.Driver {
	case "", "bridge":
	default:
		return network.CreateResponse{}, errkind.New(errdefs.ErrInvalidArgument,
			"runsock networks are carried by its agents: driver %q is not supported (use bridge, the default)", req.Driver)
	}
	if req.ConfigOnly || req.ConfigFrom != nil || req.Ingress || req.Scope == "swarm" {
		return network.CreateResponse{}, errkind.New(errdefs.ErrInvalidArgument, "runsock has no swarm, ingress or config-only networks")
	}
	if req.IPAM != nil && len(req.IPAM.Config) > 0 {
		return network.CreateResponse{}, errkind.New(errdefs.ErrInvalidArgument,
			"runsock chooses a network's addresses itself (a loopback range 127.N.0.0/16 inside each member): --subnet, --ip-range and --gateway are not supported")
	}
	if _, err := s.store.NetworkIDByName(ctx, p.Email, req.Name); err == nil {
		return network.CreateResponse{}, errkind.New(errdefs.ErrConflict, "network with name %s already exists", req.Name)
	} else if !errdefs.IsNotFound(err) {
		return network.CreateResponse{}, err
	}
	mine, err := s.store.ListNetworks(ctx, p.Email)
	if err != nil {
		return network.CreateResponse{}, err
	}
	used := map[int]bool{}
	for _, n := range mine {
		used[n.SubnetIndex] = true
	}
	n := &Network{ID: newID(), Owner: p.Email, Name: req.Name, Created: s.now().UTC(), Driver: "bridge",
		Labels: orEmpty(req.Labels), Options: orEmpty(req.Options), Internal: req.Internal, Attachable: req.Attachable,
		Addrs: map[string]string{}}
	for idx := firstSubnet; idx <= lastSubnet; idx++ {
		if used[idx] {
			continue
		}
		n.SubnetIndex = idx
		n.Subnet = fmt.Sprintf("127.%d.0.0/16", idx)
		n.Gateway = fmt.Sprintf("127.%d.0.1", idx)
		err = s.store.CreateNetwork(ctx, n)
		if !errdefs.IsConflict(err) {
			break
		}
		// A concurrent create took the name or this subnet: the name decides.
		if _, nerr := s.store.NetworkIDByName(ctx, p.Email, req.Name); nerr == nil {
			return network.CreateResponse{}, errkind.New(errdefs.ErrConflict, "network with name %s already exists", req.Name)
		}
	}
	if n.SubnetIndex == 0 || errdefs.IsConflict(err) {
		return network.CreateResponse{}, errkind.New(errdefs.ErrResourceExhausted,
			"all of runsock's %d network address ranges are in use by your networks", lastSubnet-firstSubnet+1)
	}
	if err != nil {
		return network.CreateResponse{}, fmt.Errorf("create network %s: %w", req.Name, err)
	}
	s.announce(ctx, n, "create", nil)
	return network.CreateResponse{ID: n.ID}, nil
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Service) announce(ctx context.Context, n *Network, action string, extra map[string]string) {
	if s.ctrs == nil {
		return
	}
	attrs := map[string]string{"name": n.Name, "type": n.Driver}
	for k, v := range extra {
		attrs[k] = v
	}
	s.ctrs.Announce(ctx, containers.Event{Owner: n.Owner, Type: "network", Action: action, ActorID: n.ID, Attributes: attrs})
}

// find resolves ref (name, full ID or unique ID prefix) among p's networks; built-ins come back as nil with their
// name.
func (s *Service) find(ctx context.Context, p identity.Principal, ref string) (*Network, string, error) {
	if ref == "" {
		return nil, "", errkind.New(errdefs.ErrInvalidArgument, "network name or ID cannot be empty")
	}
	for _, b := range builtins {
		if ref == b || ref == builtinID(b) {
			return nil, b, nil
		}
	}
	if len(ref) == 64 {
		if n, err := s.store.GetNetwork(ctx, ref); err == nil && (n.Owner == p.Email || p.Admin) {
			return n, n.Name, nil
		}
	}
	if id, err := s.store.NetworkIDByName(ctx, p.Email, ref); err == nil {
		n, err := s.store.GetNetwork(ctx, id)
		if err != nil {
			return nil, "", err
		}
		return n, n.Name, nil
	} else if !errdefs.IsNotFound(err) {
		return nil, "", err
	}
	mine, err := s.store.ListNetworks(ctx, p.Email)
	if err != nil {
		return nil, "", err
	}
	var found *Network
	matches := 0
	for _, b := range builtins {
		if strings.HasPrefix(builtinID(b), ref) {
			matches++
			bn := &Network{ID: builtinID(b), Name: b}
			found = bn
		}
	}
	for _, n := range mine {
		if strings.HasPrefix(n.ID, ref) {
			matches++
			found = n
		}
	}
	if matches > 1 {
		return nil, "", errkind.New(errdefs.ErrInvalidArgument, "network %s is ambiguous (%d matches found based on ID prefix)", ref, matches)
	}
	if found != nil && isBuiltin(found.Name) && found.Owner == "" {
		return nil, found.Name, nil
	}
	if found == nil {
		return nil, "", notFound(ref)
	}
	return found, found.Name, nil
}

// Inspect is GET /networks/{id}: the network with its members (p's containers on it).
func (s *Service) Inspect(ctx context.Context, p identity.Principal, ref string) (network.Inspect, error) {
	n, name, err := s.find(ctx, p, ref)
	if err != nil {
		return network.Inspect{}, err
	}
	all, err := s.records.ListContainers(ctx, p.Email)
	if err != nil {
		return network.Inspect{}, err
	}
	return s.render(n, name, all, true), nil
}

// render is a network as Docker shows it; members are the running containers with an endpoint on it (Docker lists
// active endpoints only).
func (s *Service) render(n *Network, name string, all []*containers.Container, members bool) network.Inspect {
	var out network.Inspect
	if n == nil {
		out = builtinInspect(name)
	} else {
		out = network.Inspect{Network: network.Network{Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver,
			EnableIPv4: true, Internal: n.Internal, Attachable: n.Attachable, Options: orEmpty(n.Options), Labels: orEmpty(n.Labels),
			IPAM: network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{{
				Subnet: netip.MustParsePrefix(n.Subnet), Gateway: netip.MustParseAddr(n.Gateway)}}}},
			Containers: map[string]network.EndpointResource{}}
	}
	if !members {
		return out
	}
	for _, c := range all {
		ep := c.Networks[name]
		if ep == nil || !c.Running() || (n != nil && ep.NetworkID != n.ID) {
			continue
		}
		r := network.EndpointResource{Name: c.Name, EndpointID: ep.EndpointID}
		if mac, err := parseMAC(ep.MacAddress); err == nil {
			r.MacAddress = mac
		}
		if a, err := netip.ParseAddr(ep.IPAddress); err == nil {
			r.IPv4Address = netip.PrefixFrom(a, ep.PrefixLen)
		}
		out.Containers[c.ID] = r
	}
	return out
}

// List is GET /networks: the built-ins and p's networks, filtered as Docker filters (name, id, label, driver,
// type, scope, dangling).
func (s *Service) List(ctx context.Context, p identity.Principal, filters map[string][]string) ([]network.Summary, error) {
	for k := range filters {
		switch k {
		case "name", "id", "label", "driver", "type", "scope", "dangling":
		default:
			return nil, errkind.New(errdefs.ErrInvalidArgument, "invalid filter '%s'", k)
		}
	}
	mine, err := s.store.ListNetworks(ctx, p.Email)
	if err != nil {
		return nil, err
	}
	var used map[string]bool
	if len(filters["dangling"]) > 0 {
		if used, err = s.inUse(ctx, p.Email); err != nil {
			return nil, err
		}
	}
	out := []network.Summary{}
	add := func(n *Network, name string) {
		in := s.render(n, name, nil, false)
		builtin := n == nil
		if !match(filters, in.Network, builtin, used) {
			return
		}
		out = append(out, network.Summary{Network: in.Network})
	}
	for _, b := range builtins {
		add(nil, b)
	}
	for _, n := range mine {
		add(n, n.Name)
	}
	return out, nil
}

func match(f map[string][]string, n network.Network, builtin bool, used map[string]bool) bool {
	any := func(key string, ok func(v string) bool) bool {
		vs := f[key]
		if len(vs) == 0 {
			return true
		}
		for _, v := range vs {
			if ok(v) {
				return true
			}
		}
		return false
	}
	return any("name", func(v string) bool { return strings.Contains(n.Name, v) }) &&
		any("id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		any("driver", func(v string) bool { return n.Driver == v }) &&
		any("scope", func(v string) bool { return n.Scope == v }) &&
		any("type", func(v string) bool { return (v == "builtin") == builtin && (v == "builtin" || v == "custom") }) &&
		any("dangling", func(v string) bool {
			dangling := !builtin && !used[n.ID]
			return (v == "true" || v == "1") == dangling
		}) &&
		all(f["label"], func(v string) bool {
			k, want, hasValue := strings.Cut(v, "=")
			got, ok := n.Labels[k]
			return ok && (!hasValue || got == want)
		})
}

func all(vs []string, ok func(string) bool) bool {
	for _, v := range vs {
		if !ok(v) {
			return false
		}
	}
	return true
}

// inUse returns the IDs of owner's networks that have a container (running or not) on them.
func (s *Service) inUse(ctx context.Context, owner string) (map[string]bool, error) {
	list, err := s.records.ListContainers(ctx, owner)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, c := range list {
		for _, ep := range c.Networks {
			out[ep.NetworkID] = true
		}
	}
	return out, nil
}

// Remove is DELETE /networks/{id}: built-ins are refused (403), and a network with containers on it (running or
// not — see docs/networks.md) is in use (403, Docker's wording).
func (s *Service) Remove(ctx context.Context, p identity.Principal, ref string) error {
	n, name, err := s.find(ctx, p, ref)
	if err != nil {
		return err
	}
	if n == nil {
		return errkind.New(errdefs.ErrPermissionDenied, "%s is a pre-defined network and cannot be removed", name)
	}
	if n.Owner != p.Email && !p.Admin {
		return notFound(ref)
	}
	return s.remove(ctx, n)
}

func (s *Service) remove(ctx context.Context, n *Network) error {
	list, err := s.records.ListContainers(ctx, n.Owner)
	if err != nil {
		return err
	}
	var users []string
	for _, c := range list {
		if ep := c.Networks[n.Name]; ep != nil && ep.NetworkID == n.ID {
			users = append(users, fmt.Sprintf("name:%q id:%q", c.Name, c.ID[:12]))
		}
	}
	if len(users) > 0 {
		sort.Strings(users)
		return errkind.New(errdefs.ErrPermissionDenied, "error while removing network: network %s has active endpoints (%s)", n.Name, strings.Join(users, ", "))
	}
	if err := s.store.DeleteNetwork(ctx, n); err != nil {
		if errdefs.IsNotFound(err) {
			return notFound(n.Name)
		}
		return err
	}
	s.announce(ctx, n, "destroy", nil)
	return nil
}

// Prune is POST /networks/prune: p's networks no container is on, filtered by label and until.
func (s *Service) Prune(ctx context.Context, p identity.Principal, filters map[string][]string) ([]string, error) {
	for k := range filters {
		if k != "label" && k != "label!" && k != "until" {
			return nil, errkind.New(errdefs.ErrInvalidArgument, "invalid filter '%s'", k)
		}
	}
	var until time.Time
	if vs := filters["until"]; len(vs) > 0 {
		t, err := containers.ParseTimestamp(vs[0], s.now())
		if err != nil {
			return nil, errkind.New(errdefs.ErrInvalidArgument, "invalid filter 'until=%s': %v", vs[0], err)
		}
		until = t
	}
	mine, err := s.store.ListNetworks(ctx, p.Email)
	if err != nil {
		return nil, err
	}
	used, err := s.inUse(ctx, p.Email)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, n := range mine {
		if used[n.ID] || (!until.IsZero() && !n.Created.Before(until)) {
			continue
		}
		if !all(filters["label"], func(v string) bool {
			k, want, hasValue := strings.Cut(v, "=")
			got, ok := n.Labels[k]
			return ok && (!hasValue || got == want)
		}) || !all(filters["label!"], func(v string) bool {
			k, want, hasValue := strings.Cut(v, "=")
			got, ok := n.Labels[k]
			return !ok || (hasValue && got != want)
		}) {
			continue
		}
		if err := s.remove(ctx, n); err != nil {
			if errdefs.IsPermissionDenied(err) || errdefs.IsNotFound(err) {
				continue // a container joined it meanwhile, or someone else removed it
			}
			return out, err
		}
		out = append(out, n.Name)
	}
	return out, nil
}
