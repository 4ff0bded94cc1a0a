package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runsock/runsock/controlplane/internal/networks"
)

// Networks: `networks/{id}` holds the record; `networkNames/{hash(owner,name)}` and
// `networkSubnets/{hash(owner,index)}` reserve a user's name and address range, created and deleted with it in one
// transaction.
const (
	colNetworks       = "networks"
	colNetworkNames   = "networkNames"
	colNetworkSubnets = "networkSubnets"
)

var _ networks.Store = (*Store)(nil)

type networkDoc struct {
	Owner   string    `firestore:"owner"`
	Name    string    `firestore:"name"`
	Created time.Time `firestore:"created"`
	Record  string    `firestore:"record"`
}

func toNetworkDoc(n *networks.Network) (networkDoc, error) {
	b, err := json.Marshal(n)
	if err != nil {
		return networkDoc{}, fmt.Errorf("encode network %s: %w", n.ID, err)
	}
	if len(b) > maxRecord {
		return networkDoc{}, fmt.Errorf("network %s: its record takes %d bytes, more than %d: %w", n.ID, len(b), maxRecord, errdefs.ErrInvalidArgument)
	}
	return networkDoc{Owner: n.Owner, Name: n.Name, Created: n.Created, Record: string(b)}, nil
}

func networkFromSnap(snap *firestore.DocumentSnapshot) (*networks.Network, error) {
	var d networkDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("decode network %s: %w", snap.Ref.ID, err)
	}
	var n networks.Network
	if err := json.Unmarshal([]byte(d.Record), &n); err != nil {
		return nil, fmt.Errorf("decode network %s: %w", snap.Ref.ID, err)
	}
	return &n, nil
}

func (s *Store) networkNameRef(owner, name string) *firestore.DocumentRef {
	return s.fs.Collection(colNetworkNames).Doc(nameKey(owner, name))
}

func (s *Store) networkSubnetRef(owner string, idx int) *firestore.DocumentRef {
	return s.fs.Collection(colNetworkSubnets).Doc(nameKey(owner, strconv.Itoa(idx)))
}

// CreateNetwork writes the network and its two reservations in one write-only transaction.
func (s *Store) CreateNetwork(ctx context.Context, n *networks.Network) error {
	n.Version = 1
	d, err := toNetworkDoc(n)
	if err != nil {
		return err
	}
	err = s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		if err := tx.Create(s.networkNameRef(n.Owner, n.Name), nameDoc{ID: n.ID, Owner: n.Owner, Name: n.Name}); err != nil {
			return err
		}
		if err := tx.Create(s.networkSubnetRef(n.Owner, n.SubnetIndex), nameDoc{ID: n.ID, Owner: n.Owner, Name: n.Subnet}); err != nil {
			return err
		}
		return tx.Create(s.fs.Collection(colNetworks).Doc(n.ID), d)
	})
	if status.Code(err) == codes.AlreadyExists {
		return fmt.Errorf("network %q or its subnet in use: %w", n.Name, errdefs.ErrConflict)
	}
	if err != nil {
		return classify(err, "create network")
	}
	s.writes.Add(3)
	return nil
}

// GetNetwork is one read.
func (s *Store) GetNetwork(ctx context.Context, id string) (*networks.Network, error) {
	s.reads.Add(1)
	snap, err := s.fs.Collection(colNetworks).Doc(id).Get(ctx)
	if err != nil {
		return nil, classify(err, "network "+id)
	}
	return networkFromSnap(snap)
}

// NetworkIDByName is one read.
func (s *Store) NetworkIDByName(ctx context.Context, owner, name string) (string, error) {
	s.reads.Add(1)
	snap, err := s.networkNameRef(owner, name).Get(ctx)
	if err != nil {
		return "", classify(err, "network "+name)
	}
	var d nameDoc
	if err := snap.DataTo(&d); err != nil {
		return "", fmt.Errorf("decode network name %s: %w", name, err)
	}
	return d.ID, nil
}

// ListNetworks is one query by owner, sorted oldest first in memory.
func (s *Store) ListNetworks(ctx context.Context, owner string) ([]*networks.Network, error) {
	q := s.fs.Collection(colNetworks).Query
	if owner != "" {
		q = q.Where("owner", "==", owner)
	}
	s.queries.Add(1)
	snaps, err := q.Documents(ctx).GetAll()
	if err != nil {
		return nil, classify(err, "list networks")
	}
	s.reads.Add(int64(len(snaps)))
	out := make([]*networks.Network, 0, len(snaps))
	for _, snap := range snaps {
		n, err := networkFromSnap(snap)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// UpdateNetwork is a read-modify-write transaction.
func (s *Store) UpdateNetwork(ctx context.Context, id string, fn func(*networks.Network) error) (*networks.Network, error) {
	var out *networks.Network
	var fnErr error
	ref := s.fs.Collection(colNetworks).Doc(id)
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		s.reads.Add(1)
		snap, err := tx.Get(ref)
		if err != nil {
			return err
		}
		n, err := networkFromSnap(snap)
		if err != nil {
			return err
		}
		if fnErr = fn(n); fnErr != nil {
			return fnErr
		}
		n.Version++
		d, err := toNetworkDoc(n)
		if err != nil {
			return err
		}
		out = n
		return tx.Set(ref, d)
	}, firestore.MaxAttempts(20))
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, classify(err, "network "+id)
	}
	s.writes.Add(1)
	return out, nil
}

// DeleteNetwork removes the record and its reservations in one transaction.
func (s *Store) DeleteNetwork(ctx context.Context, n *networks.Network) error {
	ref := s.fs.Collection(colNetworks).Doc(n.ID)
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		s.reads.Add(1)
		if _, err := tx.Get(ref); err != nil {
			return err
		}
		if err := tx.Delete(s.networkNameRef(n.Owner, n.Name)); err != nil {
			return err
		}
		if err := tx.Delete(s.networkSubnetRef(n.Owner, n.SubnetIndex)); err != nil {
			return err
		}
		return tx.Delete(ref)
	}, firestore.MaxAttempts(20))
	if err != nil {
		return classify(err, "network "+n.Name)
	}
	s.writes.Add(3)
	return nil
}
