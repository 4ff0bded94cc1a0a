package agentimage

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// AgentPath is where the agent lives in every wrapped image.
const AgentPath = "/.runsock/agent"

// Options configure a Layerer.
type Options struct {
	// Repository receives wrapped images: HOST/PROJECT/runsock-agent (Artifact Registry shaped).
	Repository string
	// AgentBinary is the path of the static agent binary to layer in.
	AgentBinary string
	// AgentVersion is part of the cache key: a new agent gives new images.
	AgentVersion string
	// Insecure allows plain-HTTP registries (the local stack's).
	Insecure bool
	// Remote are extra registry options (authentication, transport).
	Remote []remote.Option
}

// Layerer wraps images.
type Layerer struct {
	opts Options
	repo name.Repository
	nopt []name.Option
}

// New validates opts.
func New(opts Options) (*Layerer, error) {
	var nopt []name.Option
	if opts.Insecure {
		nopt = append(nopt, name.Insecure)
	}
	repo, err := name.NewRepository(opts.Repository, nopt...)
	if err != nil {
		return nil, fmt.Errorf("agentimage: repository %q: %w", opts.Repository, err)
	}
	if _, err := os.Stat(opts.AgentBinary); err != nil {
		return nil, fmt.Errorf("agentimage: agent binary: %w", err)
	}
	if opts.AgentVersion == "" {
		return nil, fmt.Errorf("agentimage: no agent version")
	}
	return &Layerer{opts: opts, repo: repo, nopt: nopt}, nil
}

// Result is a wrapped image.
type Result struct {
	Image  string   // the wrapped image, by digest
	Args   []string // "--", then the user's entrypoint and cmd: the job's container args
	Reused bool     // it was already in the registry
}

func (l *Layerer) remote(ctx context.Context) []remote.Option {
	return append([]remote.Option{remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})}, l.opts.Remote...)
}

// Wrap returns the wrapped form of image (a reference by tag or digest), pushing it when it does not exist yet.
func (l *Layerer) Wrap(ctx context.Context, image string) (Result, error) {
	ref, err := name.ParseReference(image, l.nopt...)
	if err != nil {
		return Result{}, fmt.Errorf("agentimage: image %q: %w", image, err)
	}
	base, err := remote.Image(ref, l.remote(ctx)...)
	if err != nil {
		return Result{}, fmt.Errorf("agentimage: read %s: %w", image, refused(err))
	}
	digest, err := base.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("agentimage: digest of %s: %w", image, err)
	}
	cf, err := base.ConfigFile()
	if err != nil {
		return Result{}, fmt.Errorf("agentimage: config of %s: %w", image, err)
	}
	args := append(append([]string{"--"}, cf.Config.Entrypoint...), cf.Config.Cmd...)
	sum := sha256.Sum256([]byte(digest.String() + "\x00" + l.opts.AgentVersion + "\x00" + layout))
	target := l.repo.Registry.Repo(l.repo.RepositoryStr(), hex.EncodeToString(sum[:16])).Tag("agent")

	if d, err := remote.Head(target, l.remote(ctx)...); err == nil {
		return Result{Image: target.Context().Digest(d.Digest.String()).String(), Args: args, Reused: true}, nil
	} else if !isNotFound(err) {
		return Result{}, fmt.Errorf("agentimage: look up %s: %w", target, refused(err))
	}

	wrapped, err := l.layer(base, cf)
	if err != nil {
		return Result{}, err
	}
	if err := remote.Write(target, wrapped, l.remote(ctx)...); err != nil {
		return Result{}, fmt.Errorf("agentimage: push %s: %w", target, refused(err))
	}
	d, err := wrapped.Digest()
	if err != nil {
		return Result{}, err
	}
	return Result{Image: target.Context().Digest(d.String()).String(), Args: args}, nil
}

// refusal is the registry refusing the control plane (401/403): its IAM or credentials are the operator's to fix, so
// the kind is unavailable (the user sees the registry's message, e.g. the uploadArtifacts permission it lacks).
type refusal struct{ err error }

func (r refusal) Error() string   { return r.err.Error() }
func (r refusal) Unwrap() []error { return []error{r.err, errdefs.ErrUnavailable} }

func refused(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == 401 || te.StatusCode == 403) {
		return refusal{err}
	}
	return err
}

func isNotFound(err error) bool {
	if te, ok := err.(*transport.Error); ok {
		return te.StatusCode == 404
	}
	return false
}

// layout names the shape of a wrapped image; it is part of the cache key so that a change of shape gives new images
// even for the same agent binary. 2: the agent runs as root (User "0:0").
const layout = "2"

// layer appends the agent layer, points the entrypoint at the agent and makes it run as root; Env, WorkingDir and
// the rest of the config stay as they are.
//
// Root, whatever the image's USER: the agent must write /etc/hosts (which the runtime mounts writable for root only)
// and listen on peers' ports below 1024 for the container's names to resolve and its peers' ports to be reachable
// (docs/networks.md). The image's user is not lost: the container's record keeps it (the control plane reads it from
// the user's image, not this one) and the agent starts the main process and every exec as that user, with Docker's
// groups (mainproc.Credential), so `id` shows what Docker shows. It also keeps the agent's link token out of the
// user's reach: a process of another uid cannot read /proc/1/environ or ptrace the agent.
func (l *Layerer) layer(base v1.Image, cf *v1.ConfigFile) (v1.Image, error) {
	mt, err := base.MediaType()
	if err != nil {
		return nil, err
	}
	layerType := types.OCILayer
	if mt == types.DockerManifestSchema2 {
		layerType = types.DockerLayer
	}
	layer, err := tarball.LayerFromOpener(l.agentTar, tarball.WithMediaType(layerType))
	if err != nil {
		return nil, fmt.Errorf("agentimage: agent layer: %w", err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: layerType,
		History:   v1.History{CreatedBy: "runsock agent " + l.opts.AgentVersion, Created: v1.Time{Time: time.Unix(0, 0)}},
	})
	if err != nil {
		return nil, fmt.Errorf("agentimage: append layer: %w", err)
	}
	cfg := cf.Config.DeepCopy()
	cfg.Entrypoint = []string{AgentPath}
	cfg.Cmd = append(append([]string{"--"}, cf.Config.Entrypoint...), cf.Config.Cmd...)
	cfg.User = "0:0"
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels["dev.runsock.agent.version"] = l.opts.AgentVersion
	img, err = mutate.Config(img, *cfg)
	if err != nil {
		return nil, fmt.Errorf("agentimage: config: %w", err)
	}
	return img, nil
}

// agentTar streams a tar holding /.runsock/ and the agent (0755, root-owned, fixed time for a stable digest).
func (l *Layerer) agentTar() (io.ReadCloser, error) {
	f, err := os.Open(l.opts.AgentBinary)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer f.Close()
		tw := tar.NewWriter(pw)
		epoch := time.Unix(0, 0)
		err := tw.WriteHeader(&tar.Header{Name: ".runsock/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch})
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Name: ".runsock/agent", Typeflag: tar.TypeReg, Mode: 0o755, Size: fi.Size(), ModTime: epoch})
		}
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}
