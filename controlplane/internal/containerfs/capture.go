package containerfs

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runsock/runsock/controlplane/internal/errkind"
)

// Capture is what was kept of a container's last run: its changes against its image as one layer, stored in the
// registry as the only layer of the image Image (a digest reference), or why not.
type Capture struct {
	Image string `firestore:"image"`
	// Earlier are the layers of the container's earlier runs (digest references, oldest first), restored into the
	// run Image was captured from: its filesystem is the image, the staged archives, Earlier, then Image.
	Earlier   []string  `firestore:"earlier"`
	Changes   int       `firestore:"changes"`
	Bytes     int64     `firestore:"bytes"`
	OverLimit bool      `firestore:"overLimit"`
	Error     string    `firestore:"error"`
	At        time.Time `firestore:"at"`
	// Took is how long the capture took from the request to the agent to the layer stored.
	Took time.Duration `firestore:"took"`
}

type captureDoc struct {
	Capture *Capture `firestore:"capture"`
}

// Captures stores captured layers in the registry (repository Repo, tagged with the container ID) and records
// them in Firestore beside the staged archives (stagedfiles/{container}).
type Captures struct {
	fs     *firestore.Client
	repo   name.Repository
	remote []remote.Option
}

// NewCaptures returns Captures pushing to repo ("host/project/repository/files") with opts; insecure allows HTTP.
func NewCaptures(fs *firestore.Client, repo string, insecure bool, opts ...remote.Option) (*Captures, error) {
	var nopt []name.Option
	if insecure {
		nopt = append(nopt, name.Insecure)
	}
	r, err := name.NewRepository(repo, nopt...)
	if err != nil {
		return nil, fmt.Errorf("capture repository %q: %w", repo, err)
	}
	return &Captures{fs: fs, repo: r, remote: opts}, nil
}

func (c *Captures) doc(id string) *firestore.DocumentRef {
	return c.fs.Collection(rootCollection).Doc(id)
}

// Store pushes the layer tar read from r as id's capture and records it; r is closed (when it is an io.Closer) once
// read.
func (c *Captures) Store(ctx context.Context, id string, r io.Reader, rec Capture) (Capture, error) {
	prev, err := c.Get(ctx, id)
	if err != nil {
		return rec, err
	}
	rec.Earlier = Restored(prev) // this run started with them (Agent.Prepare restores them)
	layer, cleanup, err := SpoolLayer(r)
	if err != nil {
		return rec, fmt.Errorf("receive the capture of %s: %w", id, err)
	}
	defer cleanup()
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return rec, err
	}
	tag := c.repo.Tag(id[:min(len(id), 64)])
	if err := remote.Write(tag, img, append([]remote.Option{remote.WithContext(ctx)}, c.remote...)...); err != nil {
		return rec, fmt.Errorf("push the capture of %s: %w", id, err)
	}
	d, err := img.Digest()
	if err != nil {
		return rec, err
	}
	rec.Image = c.repo.Digest(d.String()).String()
	return rec, c.Record(ctx, id, rec)
}

// Restored are the layers a new run of a container whose last capture is prev starts with: prev's earlier layers
// and prev's own (none of a run whose changes were not kept).
func Restored(prev *Capture) []string {
	if prev == nil {
		return nil
	}
	out := append([]string(nil), prev.Earlier...)
	if prev.Image != "" {
		out = append(out, prev.Image)
	}
	return out
}

// Record records id's capture (a failed or refused one too). A capture with no layer keeps the earlier layers the
// run started with.
func (c *Captures) Record(ctx context.Context, id string, rec Capture) error {
	_, err := c.doc(id).Set(ctx, captureDoc{Capture: &rec})
	return err
}

// Get returns id's capture, or nil when none was recorded.
func (c *Captures) Get(ctx context.Context, id string) (*Capture, error) {
	snap, err := c.doc(id).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, errkind.New(errdefs.ErrUnavailable, "read the capture of %s: %v", id, err)
	}
	var d captureDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, err
	}
	return d.Capture, nil
}

// Delete forgets id's capture (the container is removed). The registry's image stays for its cleanup policy.
func (c *Captures) Delete(ctx context.Context, id string) error {
	_, err := c.doc(id).Delete(ctx)
	return err
}

// SpoolLayer reads the layer tar r into a temporary file (a layer's digest must be known before its upload) and
// returns it as a layer; r is closed (when it is an io.Closer) once read, so an agent may go on. Call cleanup when
// the layer is no longer read.
func SpoolLayer(r io.Reader) (l v1.Layer, cleanup func(), err error) {
	f, err := os.CreateTemp("", "capture-*.tar")
	if err != nil {
		return nil, nil, err
	}
	cleanup = func() { os.Remove(f.Name()) }
	_, err = io.Copy(f, r)
	if c, ok := r.(io.Closer); ok {
		c.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		l, err = tarball.LayerFromFile(f.Name())
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return l, cleanup, nil
}

// layers returns rec's layers: the earlier runs', then its own.
func (c *Captures) layers(ctx context.Context, rec *Capture, nopt []name.Option, opts []remote.Option) ([]v1.Layer, error) {
	var out []v1.Layer
	for _, img := range Restored(rec) {
		l, err := c.layer(ctx, img, nopt, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// layer returns the only layer of the capture image (a digest reference).
func (c *Captures) layer(ctx context.Context, image string, nopt []name.Option, opts []remote.Option) (v1.Layer, error) {
	ref, err := name.ParseReference(image, nopt...)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(ref, append([]remote.Option{remote.WithContext(ctx)}, opts...)...)
	if err != nil {
		return nil, errkind.New(errdefs.ErrUnavailable, "read the capture %s: %v", image, err)
	}
	ls, err := img.Layers()
	if err != nil || len(ls) != 1 {
		return nil, fmt.Errorf("capture %s: want one layer (%v)", image, err)
	}
	return ls[0], nil
}

// RestoredLayers are what a new start of id restores: its earlier runs' captured changes, as capture images (digest
// references) in order (Docker keeps a container's filesystem across restarts). None without captures. A capture
// in progress (a start right after the exit) is waited for.
func (f *Files) RestoredLayers(ctx context.Context, id string) ([]string, error) {
	if f.Captures == nil {
		return nil, nil
	}
	f.WaitCapture(ctx, id)
	rec, err := f.Captures.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return Restored(rec), nil
}

// OpenLayer streams the uncompressed layer tar of a capture image; close it.
func (f *Files) OpenLayer(ctx context.Context, image string) (io.ReadCloser, error) {
	l, err := f.Captures.layer(ctx, image, f.Reader.nopt, f.Reader.remote)
	if err != nil {
		return nil, err
	}
	return l.Uncompressed()
}

// CaptureLimit returns the capture limit, and false when exited containers' files are not kept.
func (f *Files) CaptureLimit() (int64, bool) {
	return f.Limit, f.Captures != nil
}

// StoreCapture pushes and records id's capture read from r (see Captures.Store).
func (f *Files) StoreCapture(ctx context.Context, id string, r io.Reader, rec Capture) (Capture, error) {
	return f.Captures.Store(ctx, id, r, rec)
}

// RecordCapture records a capture that has no layer (over the limit, or failed): the earlier runs' layers stay
// for the next start.
func (f *Files) RecordCapture(ctx context.Context, id string, rec Capture) error {
	prev, err := f.Captures.Get(ctx, id)
	if err != nil {
		return err
	}
	rec.Earlier = Restored(prev)
	return f.Captures.Record(ctx, id, rec)
}

// RunningView is the filesystem of running container id: its image, its staged archives, the earlier runs'
// changes it started with, and live, its changes so far (its agent's capture on demand).
func (f *Files) RunningView(ctx context.Context, id, image string, live v1.Layer) (*View, error) {
	staged, err := f.List(ctx, id)
	if err != nil {
		return nil, err
	}
	v := f.View(image, staged).WithLive(live)
	if f.Captures != nil {
		rec, err := f.Captures.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if rec != nil {
			v = v.WithCapture(f.Captures, rec)
		}
	}
	return v, nil
}

// ExitedView is the filesystem of exited container id: its image, its staged archives and its last run's changes.
// When those were not kept it says why, as the answer to the user's request for files.
func (f *Files) ExitedView(ctx context.Context, id, image string) (*View, error) {
	staged, err := f.List(ctx, id)
	if err != nil {
		return nil, err
	}
	var rec *Capture
	if f.Captures != nil {
		if rec, err = f.Captures.Get(ctx, id); err != nil {
			return nil, err
		}
	}
	switch {
	case rec == nil:
		return nil, errkind.New(errdefs.ErrConflict, "container %s has exited and its files were not kept "+
			"(it ran without capture, or its capture did not finish)", id)
	case rec.OverLimit:
		return nil, errkind.New(errdefs.ErrConflict, "container %s has exited and its files were not kept: %s", id, rec.Error)
	case rec.Image == "":
		return nil, errkind.New(errdefs.ErrConflict, "container %s has exited and its files were not kept: %s", id, rec.Error)
	}
	return f.View(image, staged).WithCapture(f.Captures, rec), nil
}
