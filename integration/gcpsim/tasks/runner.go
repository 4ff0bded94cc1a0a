package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Labels gcpsim puts on the containers and the network it creates, so that a
// restarted gcpsim can find and remove what an earlier run left behind.
const (
	LabelManaged     = "dev.runsock.gcpsim"         // "true"
	LabelNetwork     = "dev.runsock.gcpsim.network" // the Runner's network name
	labelExecution   = "dev.runsock.gcpsim.execution"
	labelTaskIndex   = "dev.runsock.gcpsim.task-index"
	labelTaskAttempt = "dev.runsock.gcpsim.task-attempt"
)

// The metadata server's address and name on Google Cloud (reference/cloud-run-behaviour.md §8).
const (
	DefaultMetadataIP = "169.254.169.254"
	MetadataHostname  = "metadata.google.internal"
)

// Config configures a Runner. Zero values take the documented defaults.
type Config struct {
	DockerHost string       // default unix:///var/run/docker.sock
	Network    string       // Docker network name; default runsock-gcpsim
	Subnet     netip.Prefix // default 172.31.213.0/24; the gateway is the first address
	// MetadataIP is the metadata server's address as tasks reach it: metadata.google.internal resolves to it in every
	// task (an /etc/hosts entry) and it is dialled on port 80, as on Cloud Run. The caller makes it reachable (gcpsim
	// listens on it). Default 169.254.169.254.
	MetadataIP   netip.Addr
	StartLatency time.Duration // added before each task attempt starts; default 0
	StopGrace    time.Duration // SIGTERM → SIGKILL grace on timeout and cancel; default 10s
	// DefaultServiceAccount is the identity of tasks whose template names none
	// (Cloud Run uses {projectNumber}-compute@developer.gserviceaccount.com).
	DefaultServiceAccount string
	// RegistryAuth returns the Engine's X-Registry-Auth for pulling image, as Cloud Run's service agent pulls with
	// its own credentials (gcpsim: an access token for the service agent). Nil: anonymous pulls.
	RegistryAuth func(ctx context.Context, image string) (string, error)
	Logs         LogWriter    // receives container output and system entries; nil drops them
	Logger       *slog.Logger // nil discards
}

// Runner runs task attempts as containers. Create it with New; Close it.
type Runner struct {
	cfg     Config
	docker  *client.Client
	log     *slog.Logger
	gateway netip.Addr

	pullMu sync.Mutex // one pull at a time: the registry is local, pulls are short

	mu        sync.Mutex
	byIP      map[netip.Addr]string // task IP → service account
	reserved  map[netip.Addr]bool
	leftovers map[attemptKey]leftover // containers an earlier Runner started, until claimed or removed
	claimed   map[attemptKey]leftover // claimed, until adopted
}

// New connects to the Docker Engine, creates (or reuses) the task network and
// finds the containers that an earlier Runner on the same network left
// behind: each is kept (its address reserved) for Claim and Adopt, until
// RemoveUnclaimed.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	cfg = withDefaults(cfg)
	if !cfg.Subnet.Addr().Is4() {
		return nil, fmt.Errorf("tasks: subnet %s: only IPv4 subnets are supported", cfg.Subnet)
	}
	docker, err := client.New(client.WithHost(cfg.DockerHost))
	if err != nil {
		return nil, fmt.Errorf("tasks: docker client for %s: %w", cfg.DockerHost, err)
	}
	r := &Runner{
		cfg:       cfg,
		docker:    docker,
		log:       cfg.Logger,
		gateway:   cfg.Subnet.Masked().Addr().Next(),
		byIP:      map[netip.Addr]string{},
		reserved:  map[netip.Addr]bool{},
		leftovers: map[attemptKey]leftover{},
		claimed:   map[attemptKey]leftover{},
	}
	if _, err := docker.Ping(ctx, client.PingOptions{}); err != nil {
		docker.Close()
		return nil, fmt.Errorf("tasks: docker engine at %s: %w", cfg.DockerHost, err)
	}
	if err := r.ensureNetwork(ctx); err != nil {
		docker.Close()
		return nil, err
	}
	if err := r.findLeftovers(ctx); err != nil {
		docker.Close()
		return nil, err
	}
	return r, nil
}

func withDefaults(cfg Config) Config {
	if cfg.DockerHost == "" {
		cfg.DockerHost = "unix:///var/run/docker.sock"
	}
	if cfg.Network == "" {
		cfg.Network = "runsock-gcpsim"
	}
	if !cfg.Subnet.IsValid() {
		cfg.Subnet = netip.MustParsePrefix("172.31.213.0/24")
	}
	if !cfg.MetadataIP.IsValid() {
		cfg.MetadataIP = netip.MustParseAddr(DefaultMetadataIP)
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return cfg
}

// Config is the Runner's configuration with defaults filled in (a second
// Runner on the same network, as after a gcpsim restart, starts from it).
func (r *Runner) Config() Config { return r.cfg }

// Gateway is the network's gateway address: the host as tasks see it.
func (r *Runner) Gateway() netip.Addr { return r.gateway }

// IdentityOf returns the service account of the task container that has the
// address ip, for the metadata server. The address is registered before the
// container starts and released after it is removed.
func (r *Runner) IdentityOf(ip netip.Addr) (email string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	email, ok = r.byIP[ip.Unmap()]
	return email, ok
}

// Close releases the Docker client. Callers stop their Run calls first.
func (r *Runner) Close() error { return r.docker.Close() }

// RemoveNetwork removes the task network and the containers still on it (a
// stopped Service leaves its tasks running); tests use it in cleanup.
func (r *Runner) RemoveNetwork(ctx context.Context) error {
	if err := r.findLeftovers(ctx); err != nil {
		return err
	}
	r.RemoveUnclaimed(ctx)
	_, err := r.docker.NetworkRemove(ctx, r.cfg.Network, client.NetworkRemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("tasks: remove network %s: %w", r.cfg.Network, err)
	}
	return nil
}

func (r *Runner) ensureNetwork(ctx context.Context) error {
	res, err := r.docker.NetworkInspect(ctx, r.cfg.Network, client.NetworkInspectOptions{})
	if err == nil {
		for _, c := range res.Network.IPAM.Config {
			if c.Subnet == r.cfg.Subnet.Masked() {
				return nil
			}
		}
		return fmt.Errorf("tasks: network %s exists without subnet %s; remove it or choose another --network", r.cfg.Network, r.cfg.Subnet)
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("tasks: inspect network %s: %w", r.cfg.Network, err)
	}
	_, err = r.docker.NetworkCreate(ctx, r.cfg.Network, client.NetworkCreateOptions{
		Driver: "bridge",
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{
			Subnet: r.cfg.Subnet.Masked(), Gateway: r.gateway,
		}}},
		Labels: map[string]string{LabelManaged: "true", LabelNetwork: r.cfg.Network},
	})
	if err != nil && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("tasks: create network %s (%s): %w", r.cfg.Network, r.cfg.Subnet, err)
	}
	return nil
}

var errNoAddress = errors.New("no free address in the task subnet")

// allocate reserves a free address (never the network address, the gateway
// or the broadcast address) and binds it to a service account.
func (r *Runner) allocate(serviceAccount string) (netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.cfg.Subnet.Masked()
	for a := r.gateway.Next(); p.Contains(a); a = a.Next() {
		if !p.Contains(a.Next()) { // broadcast
			break
		}
		if !r.reserved[a] {
			r.reserved[a] = true
			r.byIP[a] = serviceAccount
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("tasks: %s: %w", p, errNoAddress)
}

func (r *Runner) release(a netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.reserved, a)
	delete(r.byIP, a)
}
