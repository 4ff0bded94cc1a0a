package containers

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Container is one container's durable record. The Store persists it; the HTTP layer renders it with Docker's types.
type Container struct {
	ID    string
	Owner string
	// Name is the Docker name without the leading slash.
	Name    string
	Created time.Time
	// Image is the image as the user named it; ImageID is "sha256:…" of its config; ImageRef the digest reference run.
	Image, ImageID, ImageRef string
	Config                   container.Config
	HostConfig               container.HostConfig
	// CPU and MemoryBytes are the Cloud Run resources chosen at create.
	CPU         string
	MemoryBytes int64
	State       State
	// Executions are every execution this container has run, oldest first; the last one is the current one.
	Executions []string
	// RestartCount is how many times the restart policy has started the container again since the user last started
	// it (Docker's RestartCount: docker start and docker restart reset it).
	RestartCount int
	// RestartDelay is the restart policy's last backoff (Docker's restart manager: 100 ms, doubling up to a minute,
	// back to 100 ms after a run of 10 s or more); zero until the policy first restarts the container.
	RestartDelay time.Duration `json:",omitempty"`
	// ManuallyStopped is Docker's HasBeenManuallyStopped: a stop or kill since the user last started the container.
	// An unless-stopped policy does not restart such a container.
	ManuallyStopped bool `json:",omitempty"`
	// RestartCancelled is Docker's restart manager cancelled by a stop, or a kill with the container's stop signal (any
	// signal when it has none, and SIGKILL): no policy restarts the container until the user starts it again.
	RestartCancelled bool `json:",omitempty"`
	// Mounts are the volumes and tmpfs mounts, names and prefixes decided at create; nil without any.
	Mounts []Mount `json:",omitempty"`
	// Ports are the published ports with their host ports decided (-p, -P); nil without any.
	Ports network.PortMap `json:",omitempty"`
	// Networks are the container's endpoints by network name: the built-in network it was created on (bridge, host
	// or none) or the user-defined networks it joined (at create or with docker network connect).
	Networks map[string]*Endpoint `json:",omitempty"`
	// Agent is the current start's agent (credential hashes, run, or why there is none).
	Agent AgentRecord
	// Version increases with every stored change (optimistic checks, tests).
	Version int64
}

// Endpoint is a container's place on one network, as docker inspect shows it. Addresses of user-defined networks
// are loopback addresses (127.N.x.y): inside every member, the agent makes them reach the peer (see docs/networks.md).
type Endpoint struct {
	NetworkID  string
	EndpointID string
	// IPAddress, PrefixLen and Gateway are empty on host and none.
	IPAddress  string `json:",omitempty"`
	PrefixLen  int    `json:",omitempty"`
	Gateway    string `json:",omitempty"`
	MacAddress string `json:",omitempty"`
	// Aliases are the names the container has on this network besides its name, short ID and hostname
	// (--network-alias); Links are the legacy links (NAME:ALIAS) given at create.
	Aliases []string `json:",omitempty"`
	Links   []string `json:",omitempty"`
}

// State is Docker's container state as runsock records it.
type State struct {
	Status     container.ContainerState
	ExitCode   int
	OOMKilled  bool
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	// Execution is the current execution while running ("" otherwise).
	Execution string
	// StopRequested marks an exit the user asked for (stop/kill), so restart policies and events know.
	StopRequested bool
	// Paused: docker pause stopped every process of the running container (Status stays running, as Docker's
	// State.Running stays true; DockerStatus says "paused").
	Paused bool `json:",omitempty"`
	// RestartAt is when the restart policy starts the container again, while its status is restarting.
	RestartAt time.Time `json:",omitempty"`
	// Health is Docker's State.Health: nil until the first start of a container with a healthcheck, then starting at
	// every start, as the agent reports after each probe (health.go), unhealthy once the run ends or is paused.
	Health *Health `json:",omitempty"`
}

// Running reports whether the container has a live execution (paused or not).
func (c *Container) Running() bool { return c.State.Status == container.StateRunning }

// DockerStatus is the status Docker shows (inspect's State.Status, ps's State and its status filter): "paused" for
// a paused running container, else Status.
func (c *Container) DockerStatus() container.ContainerState {
	if c.Running() && c.State.Paused {
		return container.StatePaused
	}
	return c.State.Status
}

// Restarting reports whether the container's restart policy is about to start it again (it has no execution).
func (c *Container) Restarting() bool { return c.State.Status == container.StateRestarting }

// Active is Docker's State.Running: running, or restarting (which Docker counts as running for start, stop, kill,
// rm and wait).
func (c *Container) Active() bool { return c.Running() || c.Restarting() }

// Store is the durable state the containers package needs; controlplane/internal/store implements it on Firestore.
// Every method is one transaction. Errors wrap errdefs kinds: ErrNotFound for a missing container, ErrConflict
// for a name in use, ErrUnavailable when the database cannot be reached.
type Store interface {
	// CreateContainer stores c and reserves (c.Owner, c.Name) in one transaction.
	CreateContainer(ctx context.Context, c *Container) error
	GetContainer(ctx context.Context, id string) (*Container, error)
	// ContainerIDByName returns the ID holding owner's name, or ErrNotFound.
	ContainerIDByName(ctx context.Context, owner, name string) (string, error)
	// ListContainers returns owner's containers ("" = every owner's), newest first, in one query.
	ListContainers(ctx context.Context, owner string) ([]*Container, error)
	// ListRunning returns every owner's running and restarting containers (watchers and restart policies resume from
	// it at start).
	ListRunning(ctx context.Context) ([]*Container, error)
	// UpdateContainer reads the container, applies fn and writes it back in one transaction. fn may run more than
	// once; returning an error aborts without writing.
	UpdateContainer(ctx context.Context, id string, fn func(*Container) error) (*Container, error)
	// RenameContainer moves id to newName, releasing the old name, in one transaction.
	RenameContainer(ctx context.Context, id, newName string) error
	// DeleteContainer removes the container and its name; a missing container is ErrNotFound.
	DeleteContainer(ctx context.Context, id string) error
	// AddEvent records an event; ListEvents returns owner's events ("" = all) in [since, until], oldest first.
	AddEvent(ctx context.Context, e Event) error
	ListEvents(ctx context.Context, owner string, since, until time.Time) ([]Event, error)
}

// Event is one lifecycle event (Docker's events.Message plus its owner).
type Event struct {
	Owner      string
	Type       string // "container", "image", "network", "volume"
	Action     string
	ActorID    string
	Attributes map[string]string
	Time       time.Time
	// Exit is how the execution ended, on a die event (nil on others). Docker's exitCode attribute says the same
	// for /events; waits read this.
	Exit *Outcome
	// internal marks a notice between parts of this package (removal waiters): never recorded nor streamed.
	internal bool
}
