package images

import (
	"context"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/image"
)

// DeleteOptions mirrors dockerapi.ImageDeleteOptions.
type DeleteOptions struct {
	Force, NoPrune bool
}

// Tag gives owner's image source the additional name repo:tag (moving it from any other image).
func (s *Service) Tag(ctx context.Context, owner, source, repo, tag string) error {
	rec, _, err := s.lookup(ctx, owner, source)
	if err != nil {
		return err
	}
	if tag == "" {
		tag = "latest"
	}
	r, err := parseRef(repo+":"+tag, s.cfg.DockerHubRemote, true)
	if err != nil || r.digest != "" {
		return withKind(errdefs.ErrInvalidArgument, "invalid reference format")
	}
	copy := *rec
	copy.RepoDigests = nil // the new name has no digest in any registry yet
	_, err = s.record(ctx, owner, r, &copy)
	return err
}

// Delete removes a name of owner's image, and the image when no name is left, as docker rmi does.
func (s *Service) Delete(ctx context.Context, owner, ref string, opts DeleteOptions) ([]image.DeleteResponse, error) {
	rec, doc, err := s.lookup(ctx, owner, ref)
	if err != nil {
		return nil, err
	}
	byID := strings.HasPrefix(strings.TrimPrefix(rec.ID, "sha256:"), strings.TrimPrefix(ref, "sha256:"))
	if !byID {
		r, _ := parseRef(ref, s.cfg.DockerHubRemote, true)
		name := r.repoTag()
		if r.digest != "" {
			name = r.String()
		}
		if len(rec.RepoTags) > 1 || (r.digest == "" && !rec.hasTag(name)) {
			// Untag only: the image keeps its other names.
			err := s.update(ctx, doc, []firestore.Update{{Path: "repoTags", Value: without(rec.RepoTags, name)}})
			return []image.DeleteResponse{{Untagged: name}}, err
		}
	} else if len(rec.RepoTags) > 1 && !opts.Force {
		return nil, withKind(errdefs.ErrConflict, "conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(rec.ID))
	}
	if !opts.Force {
		if cid, err := s.usedBy(ctx, owner, rec.ID); err != nil {
			return nil, err
		} else if cid != "" {
			if byID {
				return nil, withKind(errdefs.ErrConflict, "conflict: unable to delete %s (must be forced) - image is being used by stopped container %s", shortID(rec.ID), shortID(cid))
			}
			return nil, withKind(errdefs.ErrConflict, "conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", ref, shortID(cid), shortID(rec.ID))
		}
	}
	return s.remove(ctx, rec, doc)
}

func (s *Service) remove(ctx context.Context, rec *record, doc *firestore.DocumentRef) ([]image.DeleteResponse, error) {
	if _, err := doc.Delete(ctx); err != nil {
		return nil, storeError("delete image", err)
	}
	var out []image.DeleteResponse
	for _, t := range rec.RepoTags {
		out = append(out, image.DeleteResponse{Untagged: t})
	}
	for _, d := range rec.RepoDigests {
		out = append(out, image.DeleteResponse{Untagged: d})
	}
	return append(out, image.DeleteResponse{Deleted: rec.ID}), nil
}

func (s *Service) update(ctx context.Context, doc *firestore.DocumentRef, u []firestore.Update) error {
	if _, err := doc.Update(ctx, u); err != nil {
		return storeError("update image", err)
	}
	return nil
}

func (s *Service) usedBy(ctx context.Context, owner, id string) (string, error) {
	if s.usage == nil {
		return "", nil
	}
	return s.usage.ImageUsedBy(ctx, owner, id)
}

// Prune deletes owner's unused dangling images (every unused image with dangling=false), as docker image prune.
func (s *Service) Prune(ctx context.Context, owner string, filters map[string][]string) (image.PruneReport, error) {
	danglingOnly := true
	for _, v := range filters["dangling"] {
		danglingOnly = v == "true" || v == "1"
	}
	var until time.Time
	for _, v := range filters["until"] {
		d, err := time.ParseDuration(v)
		if err == nil {
			until = s.now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, v); err == nil {
			until = t
		} else {
			return image.PruneReport{}, withKind(errdefs.ErrInvalidArgument, "invalid filter 'until=%s'", v)
		}
	}
	recs, docs, err := s.query(ctx, s.ownerImages(owner))
	if err != nil {
		return image.PruneReport{}, err
	}
	var rep image.PruneReport
	for i, rec := range recs {
		ok, err := matches(rec, map[string][]string{"label": filters["label"]}, time.Time{}, time.Time{})
		if err != nil {
			return rep, err
		}
		if !ok || (danglingOnly && len(rec.RepoTags) > 0) || (!until.IsZero() && !rec.Created.Before(until)) {
			continue
		}
		if cid, err := s.usedBy(ctx, owner, rec.ID); err != nil || cid != "" {
			if err != nil {
				return rep, err
			}
			continue
		}
		deleted, err := s.remove(ctx, rec, docs[i])
		if err != nil {
			return rep, err
		}
		rep.ImagesDeleted = append(rep.ImagesDeleted, deleted...)
		rep.SpaceReclaimed += uint64(rec.Size)
	}
	return rep, nil
}

func shortID(id string) string { return shortHex(strings.TrimPrefix(id, "sha256:")) }
