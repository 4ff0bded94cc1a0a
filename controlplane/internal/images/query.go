package images

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

var _ containers.ImageResolver = (*Service)(nil)

// ListOptions mirrors dockerapi.ImageListOptions.
type ListOptions struct {
	All       bool
	Filters   map[string][]string
	AllOwners bool
}

// List returns owner's images (every owner's with AllOwners), newest first, filtered as Docker filters.
func (s *Service) List(ctx context.Context, owner string, opts ListOptions) ([]image.Summary, error) {
	q := s.ownerImages(owner)
	if opts.AllOwners {
		q = s.fs.Collection(collection).Query
	}
	recs, _, err := s.query(ctx, q)
	if err != nil {
		return nil, err
	}
	keep, err := s.filter(ctx, owner, recs, opts.Filters)
	if err != nil {
		return nil, err
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].Created.After(keep[j].Created) })
	out := make([]image.Summary, 0, len(keep))
	for _, r := range keep {
		out = append(out, image.Summary{
			ID: r.ID, RepoTags: nonNil(r.RepoTags), RepoDigests: nonNil(r.RepoDigests), Created: r.Created.Unix(),
			Size: r.Size, Labels: r.Labels, Containers: -1, SharedSize: -1,
		})
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// filter applies Docker's image filters: dangling, label, reference, before, since.
func (s *Service) filter(ctx context.Context, owner string, recs []*record, f map[string][]string) ([]*record, error) {
	for k := range f {
		switch k {
		case "dangling", "label", "reference", "before", "since", "until":
		default:
			return nil, withKind(errdefs.ErrInvalidArgument, "invalid filter '%s'", k)
		}
	}
	var before, since time.Time
	for key, dst := range map[string]*time.Time{"before": &before, "since": &since} {
		for _, v := range f[key] {
			rec, _, err := s.lookup(ctx, owner, v)
			if err != nil {
				return nil, err
			}
			*dst = rec.Created
		}
	}
	var out []*record
	for _, r := range recs {
		ok, err := matches(r, f, before, since)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func matches(r *record, f map[string][]string, before, since time.Time) (bool, error) {
	for _, v := range f["dangling"] {
		switch v {
		case "true", "1":
			if len(r.RepoTags) > 0 {
				return false, nil
			}
		case "false", "0":
			if len(r.RepoTags) == 0 {
				return false, nil
			}
		default:
			return false, withKind(errdefs.ErrInvalidArgument, "invalid filter 'dangling=%s'", v)
		}
	}
	for _, l := range f["label"] {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := r.Labels[k]
		if !ok || (hasV && got != v) {
			return false, nil
		}
	}
	if refs := f["reference"]; len(refs) > 0 && !matchesReference(r, refs) {
		return false, nil
	}
	if !before.IsZero() && !r.Created.Before(before) {
		return false, nil
	}
	if !since.IsZero() && !r.Created.After(since) {
		return false, nil
	}
	return true, nil
}

// matchesReference reports whether a tag of r matches one of the patterns ("alpine", "alpine:3*", "*/app").
func matchesReference(r *record, patterns []string) bool {
	for _, p := range patterns {
		for _, t := range append(append([]string{}, r.RepoTags...), r.RepoDigests...) {
			repo := t
			if i := strings.LastIndexAny(t, ":@"); i > strings.LastIndex(t, "/") {
				repo = t[:i]
			}
			if ok, _ := path.Match(p, t); ok {
				return true
			}
			if ok, _ := path.Match(p, repo); ok {
				return true
			}
		}
	}
	return false
}

// Inspect returns Docker's inspect view of owner's image ref.
func (s *Service) Inspect(ctx context.Context, owner, ref string) (image.InspectResponse, error) {
	rec, _, err := s.lookup(ctx, owner, ref)
	if err != nil {
		return image.InspectResponse{}, err
	}
	return inspect(rec)
}

func inspect(rec *record) (image.InspectResponse, error) {
	var cf struct {
		Architecture string                          `json:"architecture"`
		OS           string                          `json:"os"`
		Variant      string                          `json:"variant"`
		Author       string                          `json:"author"`
		Config       dockerspec.DockerOCIImageConfig `json:"config"`
		RootFS       struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(rec.Config, &cf); err != nil {
		return image.InspectResponse{}, fmt.Errorf("image %s: decoding config: %w", rec.ID, err)
	}
	return image.InspectResponse{
		ID: rec.ID, RepoTags: nonNil(rec.RepoTags), RepoDigests: nonNil(rec.RepoDigests),
		Created: rec.Created.Format(time.RFC3339Nano), Author: cf.Author, Config: &cf.Config,
		Architecture: cf.Architecture, Variant: cf.Variant, Os: cf.OS, Size: rec.Size,
		RootFS:   image.RootFS{Type: cf.RootFS.Type, Layers: cf.RootFS.DiffIDs},
		Metadata: image.Metadata{LastTagTime: rec.PulledAt},
	}, nil
}

// Resolve finds owner's image ref for container create; an unknown image is errdefs.ErrNotFound
// ("No such image: REF"), which makes the docker CLI pull.
func (s *Service) Resolve(ctx context.Context, owner, ref string) (containers.ResolvedImage, error) {
	rec, _, err := s.lookup(ctx, owner, ref)
	if err != nil {
		return containers.ResolvedImage{}, err
	}
	cf, err := rec.configFile()
	if err != nil {
		return containers.ResolvedImage{}, fmt.Errorf("image %s: decoding config: %w", rec.ID, err)
	}
	c := cf.Config
	var ports []string
	for p := range c.ExposedPorts {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	var vols []string
	for v := range c.Volumes {
		vols = append(vols, v)
	}
	sort.Strings(vols)
	return containers.ResolvedImage{
		ID: rec.ID, Reference: rec.Reference,
		Config: containers.ImageConfig{
			Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir, User: c.User,
			Labels: c.Labels, ExposedPorts: ports, StopSignal: c.StopSignal, Volumes: vols,
			Healthcheck: healthcheckOf(rec.Config), Shell: c.Shell,
		},
	}, nil
}

// healthcheckOf is the HEALTHCHECK of the raw image config (nil without one, or when it cannot be read), in the
// container config's type; decoded with Docker's image spec, which knows StartInterval.
func healthcheckOf(raw []byte) *container.HealthConfig {
	var cf struct {
		Config struct {
			Healthcheck *dockerspec.HealthcheckConfig `json:"Healthcheck"`
		} `json:"config"`
	}
	if json.Unmarshal(raw, &cf) != nil || cf.Config.Healthcheck == nil {
		return nil
	}
	h := cf.Config.Healthcheck
	return &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod,
		StartInterval: h.StartInterval, Retries: h.Retries}
}
