package images

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"cloud.google.com/go/firestore"
	"github.com/containerd/errdefs"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// record stores rec for owner, moving r's tag to it from any other image of owner. It reports whether anything
// changed for the user (a new image or a tag that moved), which decides "Downloaded newer image" vs "up to date".
func (s *Service) record(ctx context.Context, owner string, r ref, rec *record) (bool, error) {
	tag := r.repoTag()
	doc := s.fs.Collection(collection).Doc(docID(owner, rec.ID))
	var updated bool
	err := s.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		updated = false
		var existing record
		snap, err := tx.Get(doc)
		found := err == nil
		if err != nil && status.Code(err) != codes.NotFound {
			return err
		}
		if found {
			if err := snap.DataTo(&existing); err != nil {
				return err
			}
		}
		var others []*firestore.DocumentSnapshot
		if tag != "" {
			others, err = tx.Documents(s.ownerImages(owner).Where("repoTags", "array-contains", tag)).GetAll()
			if err != nil {
				return err
			}
		}
		for _, o := range others {
			if o.Ref.ID == doc.ID {
				continue
			}
			var orec record
			if err := o.DataTo(&orec); err != nil {
				return err
			}
			if err := tx.Update(o.Ref, []firestore.Update{{Path: "repoTags", Value: without(orec.RepoTags, tag)}}); err != nil {
				return err
			}
		}
		next := *rec
		next.Owner, next.PulledAt = owner, s.now().UTC()
		next.RepoTags, next.RepoDigests = existing.RepoTags, existing.RepoDigests
		if next.RepoTags == nil {
			next.RepoTags = []string{}
		}
		if tag != "" {
			next.RepoTags = with(next.RepoTags, tag)
		}
		for _, d := range rec.RepoDigests {
			next.RepoDigests = with(next.RepoDigests, d)
		}
		updated = !found || (tag != "" && !existing.hasTag(tag))
		return tx.Set(doc, &next)
	})
	if err != nil {
		return false, storeError("record image", err)
	}
	return updated, nil
}

func (s *Service) ownerImages(owner string) firestore.Query {
	return s.fs.Collection(collection).Where("owner", "==", owner)
}

var hexPrefix = regexp.MustCompile(`^(sha256:)?[0-9a-f]{1,64}$`)

// lookup finds owner's image by full or short ID, name[:tag] or name@digest, as Docker resolves them.
func (s *Service) lookup(ctx context.Context, owner, refStr string) (*record, *firestore.DocumentRef, error) {
	if refStr == "" {
		return nil, nil, notFound(refStr)
	}
	full := strings.TrimPrefix(refStr, "sha256:")
	if len(full) == 64 && hexPrefix.MatchString(full) {
		doc := s.fs.Collection(collection).Doc(docID(owner, full))
		snap, err := doc.Get(ctx)
		if status.Code(err) == codes.NotFound {
			return nil, nil, notFound(refStr)
		}
		if err != nil {
			return nil, nil, storeError("get image", err)
		}
		var rec record
		if err := snap.DataTo(&rec); err != nil {
			return nil, nil, storeError("decode image", err)
		}
		return &rec, doc, nil
	}
	if r, err := parseRef(refStr, s.cfg.DockerHubRemote, true); err == nil {
		field, value := "repoTags", r.repoTag()
		if r.digest != "" {
			field, value = "repoDigests", r.String()
		}
		recs, docs, err := s.query(ctx, s.ownerImages(owner).Where(field, "array-contains", value))
		if err != nil {
			return nil, nil, err
		}
		if len(recs) > 0 {
			return recs[0], docs[0], nil
		}
	}
	if !hexPrefix.MatchString(refStr) {
		return nil, nil, notFound(refStr)
	}
	recs, docs, err := s.query(ctx, s.ownerImages(owner))
	if err != nil {
		return nil, nil, err
	}
	var match int = -1
	for i, rec := range recs {
		if strings.HasPrefix(strings.TrimPrefix(rec.ID, "sha256:"), full) {
			if match >= 0 {
				return nil, nil, withKind(errdefs.ErrInvalidArgument, "ambiguous image ID prefix %s", refStr)
			}
			match = i
		}
	}
	if match < 0 {
		return nil, nil, notFound(refStr)
	}
	return recs[match], docs[match], nil
}

func (s *Service) query(ctx context.Context, q firestore.Query) ([]*record, []*firestore.DocumentRef, error) {
	it := q.Documents(ctx)
	defer it.Stop()
	var recs []*record
	var docs []*firestore.DocumentRef
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return recs, docs, nil
		}
		if err != nil {
			return nil, nil, storeError("list images", err)
		}
		var rec record
		if err := snap.DataTo(&rec); err != nil {
			return nil, nil, storeError("decode image", err)
		}
		recs, docs = append(recs, &rec), append(docs, snap.Ref)
	}
}

func notFound(ref string) error { return withKind(errdefs.ErrNotFound, "No such image: %s", ref) }

// storeError classifies a Firestore failure: an unreachable store is unavailable, anything else is ours.
func storeError(what string, err error) error {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("%s: Firestore is unavailable: %w", what, errdefs.ErrUnavailable)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}
