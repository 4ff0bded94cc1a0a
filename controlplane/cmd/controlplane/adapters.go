package main

import (
	"context"
	"io"
	"iter"
	"log/slog"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/runsock/runsock/controlplane/internal/config"
	"github.com/runsock/runsock/controlplane/internal/containerfs"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/dockerapi"
	"github.com/runsock/runsock/controlplane/internal/images"
	"github.com/runsock/runsock/controlplane/internal/logs"
	"github.com/runsock/runsock/controlplane/internal/registryauth"
	"github.com/runsock/runsock/controlplane/internal/store"
	"github.com/runsock/runsock/controlplane/internal/volumes"
)

// logSource adapts the Cloud Logging reader to containers.LogSource.
type logSource struct{ r *logs.Reader }

func (l logSource) Logs(ctx context.Context, t containers.LogTarget, o containers.LogOptions) iter.Seq2[containers.LogLine, error] {
	return func(yield func(containers.LogLine, error) bool) {
		if len(t.Executions) == 0 {
			return // never started: no output
		}
		q := logs.Query{Executions: t.Executions, Stdout: o.Stdout, Stderr: o.Stderr, Since: o.Since, Until: o.Until,
			Tail: o.Tail, Follow: o.Follow, Ended: !t.Running, Done: o.Done}
		for line, err := range l.r.Read(ctx, q) {
			if !yield(containers.LogLine{Stream: line.Stream, Time: line.Time, Data: line.Data}, err) || err != nil {
				return
			}
		}
	}
}

// imageBackend adapts images.Service to dockerapi.ImageBackend.
type imageBackend struct{ s *images.Service }

var (
	_ dockerapi.ImageBackend    = imageBackend{}
	_ dockerapi.RegistryBackend = (*images.Service)(nil)
)

func (b imageBackend) Pull(ctx context.Context, owner string, req dockerapi.PullRequest, progress func(jsonstream.Message) error) error {
	return b.s.Pull(ctx, owner, images.PullRequest{Ref: req.Ref, Platform: req.Platform, RegistryAuth: req.RegistryAuth}, progress)
}

func (b imageBackend) List(ctx context.Context, owner string, o dockerapi.ImageListOptions) ([]image.Summary, error) {
	return b.s.List(ctx, owner, images.ListOptions{All: o.All, Filters: o.Filters, AllOwners: o.AllOwners})
}

func (b imageBackend) Inspect(ctx context.Context, owner, ref string) (image.InspectResponse, error) {
	return b.s.Inspect(ctx, owner, ref)
}

func (b imageBackend) History(ctx context.Context, owner, ref string) ([]image.HistoryResponseItem, error) {
	return b.s.History(ctx, owner, ref)
}

func (b imageBackend) Tag(ctx context.Context, owner, source, repo, tag string) error {
	return b.s.Tag(ctx, owner, source, repo, tag)
}

func (b imageBackend) Delete(ctx context.Context, owner, ref string, o dockerapi.ImageDeleteOptions) ([]image.DeleteResponse, error) {
	return b.s.Delete(ctx, owner, ref, images.DeleteOptions{Force: o.Force, NoPrune: o.NoPrune})
}

func (b imageBackend) Prune(ctx context.Context, owner string, filters map[string][]string) (image.PruneReport, error) {
	return b.s.Prune(ctx, owner, filters)
}

func imagesConfig(cfg config.Config, reg []remote.Option, log *slog.Logger) images.Config {
	return images.Config{DockerHubRemote: cfg.RegistryHost + "/" + cfg.Project + "/" + cfg.DockerHubRepo,
		PrivateRegistries: cfg.PrivateRegistries, RemoteOptions: reg, Logger: log}
}

// registryOptions are the go-containerregistry options of every registry call: Google credentials bound to the
// configured registry host (the metadata server on Cloud Run; locally gcpsim's, through GCE_METADATA_HOST).
func registryOptions(cfg config.Config) []remote.Option {
	return []remote.Option{remote.WithAuthFromKeychain(registryauth.New(cfg.RegistryHost))}
}

// volumeParts are the volumes service and, with a volumes bucket, the volumes' files (nil without one).
type volumeParts struct {
	svc   *volumes.Service
	files *volumes.Files
}

// newVolumes builds the volumes service; without a volumes bucket it answers that volumes are off.
func newVolumes(ctx context.Context, cfg config.Config, st *store.Store, log *slog.Logger) (volumeParts, error) {
	vcfg := volumes.Config{Bucket: cfg.VolumesBucket, Logger: log}
	var files *volumes.Files
	if cfg.VolumesBucket != "" {
		b, err := volumes.NewBucket(ctx, cfg.VolumesBucket, cfg.StorageEndpoint)
		if err != nil {
			return volumeParts{}, err
		}
		vcfg.Objects, files = b, volumes.NewFiles(b)
	}
	return volumeParts{svc: volumes.New(st.Client(), vcfg), files: files}, nil
}

// imageTrees reads an image's directory from its layers in the registry (containerfs) for the volumes' copy-up.
type imageTrees struct{ r *containerfs.Reader }

func (t imageTrees) Tree(ctx context.Context, image, dir string) (io.ReadCloser, error) {
	st, rc, err := t.r.View(image, nil).Get(ctx, dir+"/.")
	if errdefs.IsNotFound(err) {
		return nil, nil // the image has nothing there
	}
	if err != nil {
		return nil, err
	}
	if !st.Mode.IsDir() {
		rc.Close()
		return nil, nil // a file: Docker copies a directory's contents only
	}
	return rc, nil
}
