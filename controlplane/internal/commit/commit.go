package commit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containerfs"
	"github.com/runsock/runsock/controlplane/internal/errkind"
)

// Options are docker commit's request (POST /commit).
type Options struct {
	// Repo and Tag name the new image ("" Repo: none, the image is dangling, as Docker's); a Repo without a Tag
	// gets "latest".
	Repo, Tag       string
	Comment, Author string
	// Changes are the --change Dockerfile instructions.
	Changes []string
	// Config is the request's body, merged over the container's config; nil: the container's config.
	Config *container.Config
}

// Target is the container committed.
type Target struct {
	ID string
	// Config is the container's config (its image's merged in at create, as Docker keeps it).
	Config container.Config
	// View is its filesystem: image, staged archives, changes since its start.
	View *containerfs.View
}

// Recorder records a committed image for its owner, under repoTag ("name:tag", "" for none); reference is the
// registry's digest reference of the pushed image. It returns the image ID. images.Service implements it.
type Recorder interface {
	RecordCommit(ctx context.Context, owner, repoTag string, img v1.Image, reference string) (string, error)
}

// Committer pushes committed images to one repository of the team's registry, each tagged with its image ID.
type Committer struct {
	repo   name.Repository
	remote []remote.Option
	rec    Recorder
	now    func() time.Time
}

// New returns a Committer pushing to repo ("HOST/PROJECT/REPOSITORY/commits") with opts and recording with rec;
// insecure allows plain HTTP (the local registry).
func New(repo string, insecure bool, rec Recorder, opts ...remote.Option) (*Committer, error) {
	var nopt []name.Option
	if insecure {
		nopt = append(nopt, name.Insecure)
	}
	r, err := name.NewRepository(repo, nopt...)
	if err != nil {
		return nil, fmt.Errorf("commit repository %q: %w", repo, err)
	}
	return &Committer{repo: r, remote: opts, rec: rec, now: time.Now}, nil
}

// RepoTag checks docker commit's repo and tag as Docker's daemon does and returns the name the image gets
// ("myimage:latest", as docker images shows it), "" for none.
func RepoTag(repo, tag string) (string, error) {
	if repo == "" {
		if tag != "" {
			return "", errkind.New(errdefs.ErrInvalidArgument, "invalid reference format: a tag needs a repository")
		}
		return "", nil
	}
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return "", errkind.New(errdefs.ErrInvalidArgument, "%v", err)
	}
	if _, ok := named.(reference.Digested); ok {
		return "", errkind.New(errdefs.ErrInvalidArgument, "cannot create digest reference")
	}
	if tag != "" {
		if named, err = reference.WithTag(named, tag); err != nil {
			return "", errkind.New(errdefs.ErrInvalidArgument, "%v", err)
		}
	}
	return reference.FamiliarString(reference.TagNameOnly(named)), nil
}

// Config is the new image's config as Docker makes it: the request's config (or the container's) with the
// changes applied, then what it leaves unset from the container's.
func Config(ctr container.Config, o Options) (container.Config, error) {
	cfg := ctr
	if o.Config != nil {
		cfg = *o.Config
	}
	if err := ApplyChanges(&cfg, o.Changes); err != nil {
		return container.Config{}, err
	}
	merge(&cfg, ctr)
	return cfg, nil
}

// Commit pushes t's filesystem as a new image with the config Config makes and records it for owner. It returns
// the image ID ("sha256:…").
func (c *Committer) Commit(ctx context.Context, owner string, t Target, o Options) (string, error) {
	repoTag, err := RepoTag(o.Repo, o.Tag)
	if err != nil {
		return "", err
	}
	cfg, err := Config(t.Config, o)
	if err != nil {
		return "", err
	}
	base, err := t.View.Base(ctx)
	if err != nil {
		return "", err
	}
	layers, staged, err := t.View.Layers(ctx)
	if err != nil {
		return "", err
	}
	img, err := c.build(base, layers, staged, cfg, t.Config, o)
	if err != nil {
		return "", err
	}
	id, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	tag := c.repo.Tag(id.Hex)
	if err := remote.Write(tag, img, append([]remote.Option{remote.WithContext(ctx)}, c.remote...)...); err != nil {
		return "", errkind.New(errdefs.ErrUnavailable, "push the image committed from %s: %v", t.ID, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return c.rec.RecordCommit(ctx, owner, repoTag, img, c.repo.Digest(d.String()).String())
}

// build is base with layers appended and the new config: one history entry per layer (the staged archives', then
// the container's changes, which carries the author and comment as Docker's commit entry does), or one empty
// entry when the container changed nothing.
func (c *Committer) build(base v1.Image, layers []v1.Layer, staged int, cfg, ctr container.Config, o Options) (v1.Image, error) {
	now := c.now().UTC()
	createdBy := strings.Join(ctr.Cmd, " ")
	var adds []mutate.Addendum
	for i, l := range layers {
		h := v1.History{Created: v1.Time{Time: now}, CreatedBy: "docker cp (into the container before its start)"}
		if i >= staged {
			h = v1.History{Created: v1.Time{Time: now}, CreatedBy: createdBy, Author: o.Author, Comment: o.Comment}
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: h})
	}
	img := base
	var err error
	if len(adds) > 0 {
		if img, err = mutate.Append(base, adds...); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	if len(layers) == staged { // the container changed nothing since its start: Docker's empty layer
		cf.History = append(cf.History, v1.History{Created: v1.Time{Time: now}, CreatedBy: createdBy,
			Author: o.Author, Comment: o.Comment, EmptyLayer: true})
	}
	cf.Config = imageConfig(cfg)
	cf.Author = o.Author
	cf.Created = v1.Time{Time: now}
	cf.Container = ""
	return mutate.ConfigFile(img, cf)
}
