package images

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/image"
)

// History answers docker history for owner's image ref as Docker's image service builds it: the config's history,
// newest first, each step that made a layer with that layer's size, the image's ID and tags on the newest entry and
// "<missing>" on the older ones (runsock keeps no parent images). A config without history gets one entry per layer,
// as Docker shows such images. Layers never leave the registry, so their sizes are the registry's (compressed).
func (s *Service) History(ctx context.Context, owner, ref string) ([]image.HistoryResponseItem, error) {
	rec, _, err := s.lookup(ctx, owner, ref)
	if err != nil {
		return nil, err
	}
	cf, err := rec.configFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: decoding config: %w", rec.ID, err)
	}
	sizes, err := s.layerSizes(ctx, rec)
	if err != nil {
		return nil, err
	}
	var out []image.HistoryResponseItem // oldest first, reversed at the end
	layer := 0
	nextSize := func() int64 {
		var n int64
		if layer < len(sizes) {
			n = sizes[layer]
		}
		layer++
		return n
	}
	for _, h := range cf.History {
		item := image.HistoryResponseItem{ID: "<missing>", Created: h.Created.Unix(), CreatedBy: h.CreatedBy, Comment: h.Comment}
		if !h.EmptyLayer {
			item.Size = nextSize()
		}
		out = append(out, item)
	}
	if len(cf.History) == 0 {
		for range sizes {
			out = append(out, image.HistoryResponseItem{ID: "<missing>", Created: cf.Created.Unix(), Size: nextSize()})
		}
	}
	if len(out) == 0 {
		out = append(out, image.HistoryResponseItem{Created: cf.Created.Unix()})
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	out[0].ID, out[0].Tags = rec.ID, nonNil(rec.RepoTags)
	return out, nil
}

// layerSizes reads the sizes of rec's layers from its manifest in the registry, bottom layer first.
func (s *Service) layerSizes(ctx context.Context, rec *record) ([]int64, error) {
	nref, err := name.ParseReference(rec.Reference)
	if err != nil {
		return nil, fmt.Errorf("image %s: reference %q: %w", rec.ID, rec.Reference, err)
	}
	opts := append([]remote.Option{remote.WithContext(ctx)}, s.cfg.RemoteOptions...)
	opts = append(opts, remote.WithTransport(s.transport))
	img, err := remote.Image(nref, opts...)
	if err != nil {
		return nil, withKind(errdefs.ErrUnavailable, "image %s: reading its manifest from the registry: %v", rec.ID, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, withKind(errdefs.ErrUnavailable, "image %s: reading its manifest from the registry: %v", rec.ID, err)
	}
	sizes := make([]int64, len(m.Layers))
	for i, l := range m.Layers {
		sizes[i] = l.Size
	}
	return sizes, nil
}
