package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/moby/api/types/jsonstream"
)

// Config configures a Service.
type Config struct {
	// DockerHubRemote is the registry repository standing in for Docker Hub (an Artifact Registry remote
	// repository), e.g. "127.0.0.1:18091/runsock-dev/dockerhub". Required.
	DockerHubRemote string
	// RemoteOptions are extra go-containerregistry options (the auth keychain). A transport among them is replaced:
	// the Service's own refuses private addresses (egress.go).
	RemoteOptions []remote.Option
	// PrivateRegistries are registry hosts ("host" for any port, or "host:port") that may be pulled from though they
	// are at, or resolve to, a private address (loopback, RFC 1918, link-local, unique-local...). The host of
	// DockerHubRemote, the operator's own registry, is always allowed. Empty: no other.
	PrivateRegistries []string
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
}

// UsageChecker tells whether containers use an image; containers.ImageUsage implements it.
type UsageChecker interface {
	// ImageUsedBy returns the ID of a container of owner that uses imageID, or "" if none does.
	ImageUsedBy(ctx context.Context, owner, imageID string) (containerID string, err error)
}

// Service keeps owners' image records. It is safe for concurrent use.
type Service struct {
	fs        *firestore.Client
	cfg       Config
	usage     UsageChecker
	log       *slog.Logger
	now       func() time.Time
	transport http.RoundTripper
}

// New returns a Service storing records in fs. usage may be nil (then no image counts as used).
func New(fs *firestore.Client, cfg Config, usage UsageChecker) *Service {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	own, _, _ := strings.Cut(cfg.DockerHubRemote, "/")
	allowed := newHostAllowList(append([]string{own}, cfg.PrivateRegistries...)...)
	return &Service{fs: fs, cfg: cfg, usage: usage, log: log, now: time.Now, transport: registryTransport(allowed, nil)}
}

// PullRequest mirrors dockerapi.PullRequest (same fields, so the adapter converts it directly).
type PullRequest struct {
	Ref          string
	Platform     string
	RegistryAuth string
}

// Pull resolves req.Ref in the registry and records it for owner, reporting Docker's progress messages. Nothing is
// reported before the reference has resolved, so resolution errors can still become HTTP errors.
func (s *Service) Pull(ctx context.Context, owner string, req PullRequest, progress func(jsonstream.Message) error) error {
	r, err := parseRef(req.Ref, s.cfg.DockerHubRemote, true)
	if err != nil {
		return err
	}
	platform, err := parsePlatform(req.Platform)
	if err != nil {
		return err
	}
	rec, layers, err := s.resolve(ctx, r, platform)
	if err != nil {
		return err
	}
	updated, err := s.record(ctx, owner, r, rec)
	if err != nil {
		return err
	}
	return reportPull(r, rec, layers, updated, progress)
}

func parsePlatform(p string) (v1.Platform, error) {
	if p == "" {
		return v1.Platform{OS: "linux", Architecture: "amd64"}, nil
	}
	pl, err := v1.ParsePlatform(p)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("invalid platform %q: %w", p, errdefs.ErrInvalidArgument)
	}
	return *pl, nil
}

// resolve fetches the manifest and config of r for platform from the registry.
func (s *Service) resolve(ctx context.Context, r ref, platform v1.Platform) (*record, []v1.Descriptor, error) {
	nref, err := name.ParseReference(r.remoteRef())
	if err != nil {
		return nil, nil, fmt.Errorf("invalid reference format: %w", errdefs.ErrInvalidArgument)
	}
	opts := append([]remote.Option{remote.WithContext(ctx), remote.WithPlatform(platform)}, s.cfg.RemoteOptions...)
	opts = append(opts, remote.WithTransport(s.transport))
	desc, err := remote.Get(nref, opts...)
	if err != nil {
		return nil, nil, registryError(r, err)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, nil, registryError(r, err)
	}
	rec, layers, err := describe(img)
	if err != nil {
		return nil, nil, registryError(r, err)
	}
	rec.RepoDigests = []string{r.familiar + "@" + desc.Digest.String()}
	rec.Reference = r.remote + "@" + rec.Reference
	return rec, layers, nil
}

// describe reads what Docker shows about img.
func describe(img v1.Image) (*record, []v1.Descriptor, error) {
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, nil, err
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, nil, err
	}
	var size int64
	for _, l := range m.Layers {
		size += l.Size
	}
	return &record{
		ID: cfgName.String(), Config: raw, Size: size, Created: cf.Created.UTC(), Labels: cf.Config.Labels,
		Reference: digest.String(), // completed with the repository by the caller's ref
	}, m.Layers, nil
}

// registryError turns a registry failure into a Docker-style message and an errdefs kind. The registry's own words
// are kept: a refusal names the permission and the repository Artifact Registry checked, never a guessed cause.
func registryError(r ref, err error) error {
	var perr *PrivateAddressError
	if errors.As(err, &perr) {
		return withKind(errdefs.ErrPermissionDenied, "pull access denied for %s: %v: this control plane pulls only from "+
			"public registries and its own; ask its operator to allow this registry", r.familiar, perr)
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.DeniedErrorCode:
				// Artifact Registry: 403 DENIED, "Permission … denied on resource … (or it may not exist)".
				return withKind(errdefs.ErrPermissionDenied, "pull access denied for %s: denied: %s", r.familiar, d.Message)
			case transport.UnauthorizedErrorCode:
				// The registry did not accept the control plane's credentials: the operator's to fix, not the user's.
				return withKind(errdefs.ErrUnavailable, "pull of %s: the registry refused runsock's credentials: unauthorized: %s", r.familiar, d.Message)
			case transport.NameUnknownErrorCode, transport.ManifestUnknownErrorCode:
				return withKind(errdefs.ErrNotFound, "manifest for %s not found: manifest unknown: %s", r, d.Message)
			}
		}
		switch terr.StatusCode {
		case http.StatusNotFound:
			return withKind(errdefs.ErrNotFound, "manifest for %s not found: manifest unknown: manifest unknown", r)
		case http.StatusForbidden:
			return withKind(errdefs.ErrPermissionDenied, "pull access denied for %s: denied: %s", r.familiar, terr.Error())
		case http.StatusUnauthorized:
			return withKind(errdefs.ErrUnavailable, "pull of %s: the registry refused runsock's credentials: %s", r.familiar, terr.Error())
		}
		if terr.StatusCode >= 500 {
			return withKind(errdefs.ErrUnavailable, "registry unavailable: %s", terr.Error())
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var nerr interface{ Timeout() bool }
	if errors.As(err, &nerr) || isConnRefused(err) {
		return withKind(errdefs.ErrUnavailable, "registry unavailable: %v", err)
	}
	if errdefs.IsUnavailable(err) { // no credentials for the registry (registryauth)
		return withKind(errdefs.ErrUnavailable, "pulling %s: %v", r, err)
	}
	if errors.Is(err, remote.ErrSchema1) {
		return withKind(errdefs.ErrInvalidArgument, "%s: unsupported schema 1 manifest", r)
	}
	return fmt.Errorf("pulling %s: %w", r, err)
}

// reportPull writes Docker's pull messages.
func reportPull(r ref, rec *record, layers []v1.Descriptor, updated bool, progress func(jsonstream.Message) error) error {
	id := r.tag
	if r.digest != "" {
		id = r.digest
	}
	msgs := []jsonstream.Message{{Status: "Pulling from " + pathOf(r), ID: id}}
	for _, l := range layers {
		// Layers stay in the registry; the job's runtime fetches them. "Already exists" is the truthful word.
		msgs = append(msgs, jsonstream.Message{Status: "Already exists", Progress: &jsonstream.Progress{}, ID: shortHex(l.Digest.Hex)})
	}
	msgs = append(msgs, jsonstream.Message{Status: "Digest: " + digestOf(rec)})
	if updated {
		msgs = append(msgs, jsonstream.Message{Status: "Status: Downloaded newer image for " + r.String()})
	} else {
		msgs = append(msgs, jsonstream.Message{Status: "Status: Image is up to date for " + r.String()})
	}
	for _, m := range msgs {
		if err := progress(m); err != nil {
			return err
		}
	}
	return nil
}

// pathOf is the repository path Docker prints in "Pulling from" ("library/alpine").
func pathOf(r ref) string { return reference.Path(r.named) }

func digestOf(rec *record) string {
	d := rec.RepoDigests[len(rec.RepoDigests)-1]
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] == '@' {
			return d[i+1:]
		}
	}
	return d
}

func shortHex(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
