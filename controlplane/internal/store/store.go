package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/containerd/errdefs"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	colContainers = "containers"
	colNames      = "names"
)

// Store is the Firestore-backed state. Safe for concurrent use.
type Store struct {
	fs                     *firestore.Client
	reads, writes, queries atomic.Int64
	docs                   *docWrites
}

var _ containers.Store = (*Store)(nil)

// Open connects to project's database ("" = "(default)"). emulatorHost is FIRESTORE_EMULATOR_HOST as the config read
// it: the Firestore library talks to the emulator when that variable is set, and Open then dials it itself so the
// per-document write counter sees every commit ("" with the variable set: the emulator, not counted per document).
func Open(ctx context.Context, project, database, emulatorHost string, opts ...option.ClientOption) (*Store, error) {
	if database == "" {
		database = firestore.DefaultDatabaseID
	}
	docs := newDocWrites(nil)
	if emulatorHost != "" {
		conn, err := dialEmulator(emulatorHost, docs)
		if err != nil {
			return nil, fmt.Errorf("firestore emulator %s: %w", emulatorHost, err)
		}
		opts = append(opts, option.WithGRPCConn(conn))
	} else {
		opts = append(opts, option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(docs.interceptor)))
	}
	c, err := firestore.NewClientWithDatabase(ctx, project, database, opts...)
	if err != nil {
		return nil, fmt.Errorf("firestore %s/%s: %w", project, database, err)
	}
	return &Store{fs: c, docs: docs}, nil
}

// DocumentWrites reports the writes per document of every part using the Store's client, busiest first: those
// whose path starts with prefix, at most limit (0 = all).
func (s *Store) DocumentWrites(prefix string, limit int) []DocWrites {
	return s.docs.top(prefix, limit)
}

// Close releases the client.
func (s *Store) Close() error { return s.fs.Close() }

// Ops are Firestore operation counts since the Store was opened: document reads (including those in transactions),
// document writes, and queries.
type Ops struct{ Reads, Writes, Queries int64 }

// Ops returns the operation counts so far.
func (s *Store) Ops() Ops {
	return Ops{Reads: s.reads.Load(), Writes: s.writes.Load(), Queries: s.queries.Load()}
}

type containerDoc struct {
	Owner   string    `firestore:"owner"`
	Name    string    `firestore:"name"`
	Status  string    `firestore:"status"`
	Created time.Time `firestore:"created"`
	Record  string    `firestore:"record"`
}

type nameDoc struct {
	ID    string `firestore:"id"`
	Owner string `firestore:"owner"`
	Name  string `firestore:"name"`
}

func nameKey(owner, name string) string {
	h := sha256.Sum256([]byte(owner + "\x00" + name))
	return hex.EncodeToString(h[:16])
}

// maxRecord bounds a container's record: Firestore refuses a document over 1 MiB, and the record shares its
// document with the queryable fields. A larger record is refused here as the caller's (400), not as Firestore's
// opaque failure.
const maxRecord = 1_000_000

func toDoc(c *containers.Container) (containerDoc, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return containerDoc{}, fmt.Errorf("encode container %s: %w", c.ID, err)
	}
	if len(b) > maxRecord {
		return containerDoc{}, fmt.Errorf("container %s: its configuration takes %d bytes, more than the %d runsock can store: %w",
			c.ID, len(b), maxRecord, errdefs.ErrInvalidArgument)
	}
	return containerDoc{Owner: c.Owner, Name: c.Name, Status: string(c.State.Status), Created: c.Created, Record: string(b)}, nil
}

func fromSnap(snap *firestore.DocumentSnapshot) (*containers.Container, error) {
	var d containerDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("decode %s: %w", snap.Ref.ID, err)
	}
	var c containers.Container
	if err := json.Unmarshal([]byte(d.Record), &c); err != nil {
		return nil, fmt.Errorf("decode %s: %w", snap.Ref.ID, err)
	}
	return &c, nil
}

// classify turns Firestore's gRPC codes into errdefs kinds.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("%s: %w", what, errdefs.ErrNotFound)
	case codes.AlreadyExists:
		return fmt.Errorf("%s: %w", what, errdefs.ErrConflict)
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return fmt.Errorf("%s: state store unavailable: %w", what, errdefs.ErrUnavailable)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// CreateContainer writes the container and its name reservation in one write-only transaction: if the name
// exists the commit fails with AlreadyExists and nothing is written.
func (s *Store) CreateContainer(ctx context.Context, c *containers.Container) error {
	c.Version = 1
	d, err := toDoc(c)
	if err != nil {
		return err
	}
	err = s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		if err := tx.Create(s.fs.Collection(colNames).Doc(nameKey(c.Owner, c.Name)), nameDoc{ID: c.ID, Owner: c.Owner, Name: c.Name}); err != nil {
			return err
		}
		return tx.Create(s.fs.Collection(colContainers).Doc(c.ID), d)
	})
	if status.Code(err) == codes.AlreadyExists {
		return fmt.Errorf("name %q in use: %w", c.Name, errdefs.ErrConflict)
	}
	if err != nil {
		return classify(err, "create container")
	}
	s.writes.Add(2)
	return nil
}

// GetContainer is one read.
func (s *Store) GetContainer(ctx context.Context, id string) (*containers.Container, error) {
	s.reads.Add(1)
	snap, err := s.fs.Collection(colContainers).Doc(id).Get(ctx)
	if err != nil {
		return nil, classify(err, "container "+id)
	}
	return fromSnap(snap)
}

// ContainerIDByName is one read.
func (s *Store) ContainerIDByName(ctx context.Context, owner, name string) (string, error) {
	s.reads.Add(1)
	snap, err := s.fs.Collection(colNames).Doc(nameKey(owner, name)).Get(ctx)
	if err != nil {
		return "", classify(err, "name "+name)
	}
	var n nameDoc
	if err := snap.DataTo(&n); err != nil {
		return "", fmt.Errorf("decode name %s: %w", name, err)
	}
	return n.ID, nil
}

// ListContainers is one query by owner (or over everything for ""), sorted newest first in memory so no composite
// index is needed.
func (s *Store) ListContainers(ctx context.Context, owner string) ([]*containers.Container, error) {
	q := s.fs.Collection(colContainers).Query
	if owner != "" {
		q = q.Where("owner", "==", owner)
	}
	return s.query(ctx, q)
}

// ListRunning is one query on status: running or restarting.
func (s *Store) ListRunning(ctx context.Context) ([]*containers.Container, error) {
	return s.query(ctx, s.fs.Collection(colContainers).Where("status", "in", []string{"running", "restarting"}))
}

func (s *Store) query(ctx context.Context, q firestore.Query) ([]*containers.Container, error) {
	s.queries.Add(1)
	snaps, err := q.Documents(ctx).GetAll()
	if err != nil {
		return nil, classify(err, "list containers")
	}
	s.reads.Add(int64(len(snaps)))
	out := make([]*containers.Container, 0, len(snaps))
	for _, snap := range snaps {
		c, err := fromSnap(snap)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// readInTx reads and decodes a container inside a transaction, counting the read.
func (s *Store) readInTx(tx *firestore.Transaction, ref *firestore.DocumentRef) (*containers.Container, error) {
	s.reads.Add(1)
	snap, err := tx.Get(ref)
	if err != nil {
		return nil, err
	}
	return fromSnap(snap)
}

// UpdateContainer is a read-modify-write transaction (1 read, 1 write per attempt).
func (s *Store) UpdateContainer(ctx context.Context, id string, fn func(*containers.Container) error) (*containers.Container, error) {
	var out *containers.Container
	var fnErr error
	ref := s.fs.Collection(colContainers).Doc(id)
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		c, err := s.readInTx(tx, ref)
		if err != nil {
			return err
		}
		if fnErr = fn(c); fnErr != nil {
			return fnErr
		}
		c.Version++
		d, err := toDoc(c)
		if err != nil {
			return err
		}
		out = c
		return tx.Set(ref, d)
	}, firestore.MaxAttempts(20))
	if fnErr != nil {
		return nil, fnErr // the caller's own, already classified
	}
	if err != nil {
		return nil, classify(err, "container "+id)
	}
	s.writes.Add(1)
	return out, nil
}

// RenameContainer reserves newName, releases the old one and updates the record in one transaction.
func (s *Store) RenameContainer(ctx context.Context, id, newName string) error {
	ref := s.fs.Collection(colContainers).Doc(id)
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		c, err := s.readInTx(tx, ref)
		if err != nil {
			return err
		}
		old := c.Name
		c.Name = newName
		c.Version++
		d, err := toDoc(c)
		if err != nil {
			return err
		}
		if err := tx.Create(s.fs.Collection(colNames).Doc(nameKey(c.Owner, newName)), nameDoc{ID: id, Owner: c.Owner, Name: newName}); err != nil {
			return err
		}
		if err := tx.Delete(s.fs.Collection(colNames).Doc(nameKey(c.Owner, old))); err != nil {
			return err
		}
		return tx.Set(ref, d)
	}, firestore.MaxAttempts(20))
	if status.Code(err) == codes.AlreadyExists {
		return fmt.Errorf("name %q in use: %w", newName, errdefs.ErrConflict)
	}
	if err != nil {
		return classify(err, "rename container "+id)
	}
	s.writes.Add(3)
	return nil
}

// DeleteContainer removes the record and its name in one transaction.
func (s *Store) DeleteContainer(ctx context.Context, id string) error {
	ref := s.fs.Collection(colContainers).Doc(id)
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		s.reads.Add(1)
		snap, err := tx.Get(ref)
		if err != nil {
			return err
		}
		var d containerDoc
		if err := snap.DataTo(&d); err != nil {
			return err
		}
		nref := s.fs.Collection(colNames).Doc(nameKey(d.Owner, d.Name))
		if err := tx.Delete(nref); err != nil {
			return err
		}
		return tx.Delete(ref)
	}, firestore.MaxAttempts(20))
	if err != nil {
		return classify(err, "container "+id)
	}
	s.writes.Add(2)
	return nil
}

// Client is the Firestore client, for parts that keep their own collections (images).
func (s *Store) Client() *firestore.Client { return s.fs }

// OpCounts is Ops as a map, for the admin counter endpoint.
func (s *Store) OpCounts() map[string]int64 {
	o := s.Ops()
	return map[string]int64{"reads": o.Reads, "writes": o.Writes, "queries": o.Queries}
}
