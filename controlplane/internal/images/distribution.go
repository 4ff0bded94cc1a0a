package images

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/registry"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Distribution answers GET /distribution/{name}/json as Docker's distribution router does: the descriptor of the
// manifest (or index) the registry holds for ref, and the platforms it offers — each manifest's platform for an
// index, the config's for a single image. Nothing is recorded: the caller need not have pulled ref. Registries are
// reached as for a pull (the same egress rules and keychain; Docker Hub names through the remote repository).
func (s *Service) Distribution(ctx context.Context, refStr string) (registry.DistributionInspect, error) {
	var out registry.DistributionInspect
	parsed, err := reference.ParseAnyReference(refStr)
	if err != nil {
		return out, withKind(errdefs.ErrInvalidArgument, "%v", err)
	}
	if _, ok := parsed.(reference.Named); !ok {
		// A bare image ID: Docker says so, as a plain (500) error.
		return out, fmt.Errorf("no manifest found for full image ID")
	}
	r, err := parseRef(refStr, s.cfg.DockerHubRemote, true)
	if err != nil {
		return out, err
	}
	nref, err := name.ParseReference(r.remoteRef())
	if err != nil {
		return out, withKind(errdefs.ErrInvalidArgument, "invalid reference format")
	}
	opts := append([]remote.Option{remote.WithContext(ctx)}, s.cfg.RemoteOptions...)
	opts = append(opts, remote.WithTransport(s.transport))
	desc, err := remote.Get(nref, opts...)
	if err != nil {
		return out, registryError(r, err)
	}
	out.Descriptor = ocispec.Descriptor{MediaType: string(desc.MediaType), Digest: digest.Digest(desc.Digest.String()), Size: desc.Size}
	if desc.MediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return out, fmt.Errorf("distribution %s: index: %w", r, err)
		}
		for _, m := range idx.Manifests {
			if m.Platform != nil {
				out.Platforms = append(out.Platforms, ocispec.Platform{Architecture: m.Platform.Architecture, OS: m.Platform.OS,
					OSVersion: m.Platform.OSVersion, OSFeatures: m.Platform.OSFeatures, Variant: m.Platform.Variant})
			}
		}
		return out, nil
	}
	img, err := desc.Image()
	if err != nil {
		return out, registryError(r, err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return out, registryError(r, err)
	}
	// As Docker: the config's platform when it names one, and no platform (rather than an error) when it cannot be read.
	var pl ocispec.Platform
	if json.Unmarshal(raw, &pl) == nil && (pl.OS != "" || pl.Architecture != "") {
		out.Platforms = append(out.Platforms, pl)
	}
	return out, nil
}
