package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/executiondoc"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var _ containers.LaunchRecorder = (*Store)(nil)

// RecordLaunch merges the launch fields (executiondoc.Launch) into the execution's document: one write, never
// touching the systemOutcome the execution-events function may already have written.
func (s *Store) RecordLaunch(ctx context.Context, execution, containerID, owner string, at time.Time) error {
	id := executiondoc.DocID(execution)
	s.writes.Add(1)
	_, err := s.fs.Collection(executiondoc.Collection).Doc(id).Set(ctx, executiondoc.Launch(containerID, owner, at), firestore.MergeAll)
	return classify(err, "record launch of "+id)
}

// NameReservation is one names/ document.
type NameReservation struct {
	Key, ID, Owner, Name string
}

// OrphanNames returns the name reservations whose container does not exist: one query over names and one batched
// read of the containers they point at.
func (s *Store) OrphanNames(ctx context.Context) ([]NameReservation, error) {
	s.queries.Add(1)
	it := s.fs.Collection(colNames).Documents(ctx)
	defer it.Stop()
	var all []NameReservation
	var refs []*firestore.DocumentRef
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, classify(err, "list names")
		}
		s.reads.Add(1)
		var n nameDoc
		if err := snap.DataTo(&n); err != nil || n.ID == "" {
			all = append(all, NameReservation{Key: snap.Ref.ID, Owner: n.Owner, Name: n.Name})
			refs = append(refs, nil)
			continue
		}
		all = append(all, NameReservation{Key: snap.Ref.ID, ID: n.ID, Owner: n.Owner, Name: n.Name})
		refs = append(refs, s.fs.Collection(colContainers).Doc(n.ID))
	}
	var orphans []NameReservation
	for start := 0; start < len(refs); start += 300 {
		end := min(start+300, len(refs))
		var batch []*firestore.DocumentRef
		for _, r := range refs[start:end] {
			if r != nil {
				batch = append(batch, r)
			}
		}
		exists := map[string]bool{}
		if len(batch) > 0 {
			snaps, err := s.fs.GetAll(ctx, batch)
			if err != nil {
				return nil, classify(err, "read containers of names")
			}
			s.reads.Add(int64(len(snaps)))
			for _, sn := range snaps {
				exists[sn.Ref.ID] = sn.Exists()
			}
		}
		for _, n := range all[start:end] {
			if !exists[n.ID] {
				orphans = append(orphans, n)
			}
		}
	}
	return orphans, nil
}

// ReleaseName deletes the reservation n if, inside one transaction, it still points at a missing container. It
// reports whether it deleted it.
func (s *Store) ReleaseName(ctx context.Context, n NameReservation) (bool, error) {
	var released bool
	nref := s.fs.Collection(colNames).Doc(n.Key)
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		released = false
		snap, err := tx.Get(nref)
		if status.Code(err) == codes.NotFound {
			return nil
		}
		if err != nil {
			return err
		}
		var cur nameDoc
		_ = snap.DataTo(&cur)
		if cur.ID != "" {
			csnap, err := tx.Get(s.fs.Collection(colContainers).Doc(cur.ID))
			if err == nil && csnap.Exists() {
				return nil
			}
			if err != nil && status.Code(err) != codes.NotFound {
				return err
			}
		}
		released = true
		return tx.Delete(nref)
	})
	if err != nil {
		return false, classify(err, fmt.Sprintf("release name %q", n.Name))
	}
	if released {
		s.writes.Add(1)
	}
	return released, nil
}
