package images

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/image"
)

// RecordCommit records img, a container committed and pushed to the team's registry at reference (a digest
// reference), for owner under repoTag ("name:tag" as docker commit names it; "" leaves it untagged, as Docker does),
// moving that tag from any other image of owner's. It returns the image ID. A committed image has no repo digest
// until it is pushed under its name, as with Docker.
func (s *Service) RecordCommit(ctx context.Context, owner, repoTag string, img v1.Image, reference string) (string, error) {
	rec, _, err := describe(img)
	if err != nil {
		return "", fmt.Errorf("describe the committed image: %w", err)
	}
	rec.Reference, rec.RepoDigests = reference, nil
	var r ref
	if repoTag != "" {
		if r, err = parseRef(repoTag, s.cfg.DockerHubRemote, true); err != nil {
			return "", err
		}
	}
	if _, err := s.record(ctx, owner, r, rec); err != nil {
		return "", err
	}
	return rec.ID, nil
}

// History lists owner's image ref's history as docker history does, newest first: the top entry carries the image
// ID and its names, the others "<missing>" (their layers are not images of their own), each with the size of its
// layer as stored in the registry (compressed; Docker shows uncompressed sizes), 0 for an empty layer.
func (s *Service) History(ctx context.Context, owner, refStr string) ([]image.HistoryResponseItem, error) {
	rec, _, err := s.lookup(ctx, owner, refStr)
	if err != nil {
		return nil, err
	}
	cf, err := rec.configFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: decoding config: %w", rec.ID, err)
	}
	var sizes []int64
	if ref, err := name.ParseReference(rec.Reference); err == nil {
		opts := append([]remote.Option{remote.WithContext(ctx)}, s.cfg.RemoteOptions...)
		if img, err := remote.Image(ref, append(opts, remote.WithTransport(s.transport))...); err == nil {
			if m, err := img.Manifest(); err == nil {
				for _, l := range m.Layers {
					sizes = append(sizes, l.Size)
				}
			}
		}
	}
	out := make([]image.HistoryResponseItem, 0, len(cf.History))
	layer := 0
	for _, h := range cf.History {
		item := image.HistoryResponseItem{ID: "<missing>", Created: h.Created.Unix(), CreatedBy: h.CreatedBy,
			Comment: h.Comment, Tags: nil}
		if !h.EmptyLayer {
			if layer < len(sizes) {
				item.Size = sizes[layer]
			}
			layer++
		}
		out = append(out, item)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if len(out) > 0 {
		out[0].ID, out[0].Tags = rec.ID, rec.RepoTags
	}
	return out, nil
}
