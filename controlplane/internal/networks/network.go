package networks

import (
	"context"
	"time"
)

// Network is one user-defined network's durable record.
type Network struct {
	ID      string
	Owner   string
	Name    string
	Created time.Time
	Driver  string
	Labels  map[string]string
	Options map[string]string
	// Internal and Attachable are recorded as asked; a runsock network never reaches beyond its members anyway.
	Internal, Attachable bool
	// Subnet is 127.N.0.0/16 and Gateway 127.N.0.1: addresses local to every member (the agent listens there).
	Subnet, Gateway string
	// SubnetIndex is N, reserved per owner while the network exists.
	SubnetIndex int
	// Addrs maps each allocated address to the container holding it.
	Addrs map[string]string
	// Version increases with every stored change.
	Version int64
}

// Store keeps networks. Every method is one transaction; errors wrap errdefs kinds (ErrNotFound, ErrConflict).
type Store interface {
	// CreateNetwork stores n, reserving (Owner, Name) and (Owner, SubnetIndex): a taken name or index is
	// ErrConflict and nothing is written.
	CreateNetwork(ctx context.Context, n *Network) error
	GetNetwork(ctx context.Context, id string) (*Network, error)
	// NetworkIDByName returns the ID holding owner's network name, or ErrNotFound.
	NetworkIDByName(ctx context.Context, owner, name string) (string, error)
	// ListNetworks returns owner's networks ("" = everyone's), oldest first.
	ListNetworks(ctx context.Context, owner string) ([]*Network, error)
	// UpdateNetwork reads, applies fn and writes back; fn may run more than once; an error from fn aborts.
	UpdateNetwork(ctx context.Context, id string, fn func(*Network) error) (*Network, error)
	// DeleteNetwork removes the network with its name and subnet reservations.
	DeleteNetwork(ctx context.Context, n *Network) error
}
