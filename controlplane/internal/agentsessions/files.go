package agentsessions

import (
	"context"
	"fmt"
	"io"
	"os"
	pathpkg "path"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/runsock/runsock/controlplane/internal/agentlink"
	"github.com/runsock/runsock/controlplane/internal/commit"
	"github.com/runsock/runsock/controlplane/internal/containerfs"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// Files keeps the archives copied into containers that are not running and reads those containers' filesystems
// (*containerfs.Files).
type Files interface {
	Stage(ctx context.Context, id string, a containerfs.Staged) error
	List(ctx context.Context, id string) ([]containerfs.Staged, error)
	View(image string, staged []containerfs.Staged) *containerfs.View
	ExitedView(ctx context.Context, id, image string) (*containerfs.View, error)
	RunningView(ctx context.Context, id, image string, live v1.Layer) (*containerfs.View, error)
	CaptureLimit() (int64, bool)
	StoreCapture(ctx context.Context, id string, r io.Reader, rec containerfs.Capture) (containerfs.Capture, error)
	RecordCapture(ctx context.Context, id string, rec containerfs.Capture) error
	CaptureBegins(id string)
	CaptureDone(id string)
	WaitCapture(ctx context.Context, id string)
}

var _ Files = (*containerfs.Files)(nil)

// Committer pushes a container's filesystem as a new image and records it (*commit.Committer).
type Committer interface {
	Commit(ctx context.Context, owner string, t commit.Target, o commit.Options) (string, error)
}

var _ Committer = (*commit.Committer)(nil)

// VolumeFiles reads and writes volumes' files in Cloud Storage while no container runs with them mounted
// (*volumes.Files). Paths are relative to the volume's root.
type VolumeFiles interface {
	Stat(ctx context.Context, prefix, rel string) (container.PathStat, error)
	Get(ctx context.Context, prefix, rel, base string) (container.PathStat, io.ReadCloser, error)
	Put(ctx context.Context, prefix, rel string, r io.Reader) error
}

// SetVolumeFiles wires the volumes' files: docker cp at or below a volume's mount point of a created or exited
// container then reads and writes the volume in Cloud Storage, as Docker reaches the volume's directory, rather
// than the container's own files (nil: such paths are served as any other).
func (s *Sessions) SetVolumeFiles(v VolumeFiles) { s.volumes = v }

// inVolume finds the volume that holds p in c (the volume mount with the longest destination at or above it) and
// p's path relative to the volume's root.
func (s *Sessions) inVolume(c *containers.Container, p string) (prefix, rel string, ok bool) {
	m, rel := s.volumeMount(c, p)
	if m == nil {
		return "", "", false
	}
	return m.Prefix, rel, true
}

func (s *Sessions) volumeMount(c *containers.Container, p string) (*containers.Mount, string) {
	if s.volumes == nil {
		return nil, ""
	}
	clean := pathpkg.Clean("/" + p)
	var best *containers.Mount
	rel := ""
	for i, m := range c.Mounts {
		if m.Type != mount.TypeVolume || m.Prefix == "" || (best != nil && len(m.Destination) <= len(best.Destination)) {
			continue
		}
		if clean == m.Destination || strings.HasPrefix(clean, m.Destination+"/") {
			best = &c.Mounts[i]
			rel = strings.TrimPrefix(strings.TrimPrefix(clean, m.Destination), "/")
		}
	}
	return best, rel
}

// archiveBase is the name Docker gives p's entries in an archive: its base name, "." for a path ending in "/.".
func archiveBase(p string) string {
	if strings.HasSuffix(p, "/.") {
		return "."
	}
	return pathpkg.Base(pathpkg.Clean("/" + p))
}

// archiveTarget resolves ref for an archive call: a running container with the agent is served by the agent
// (agent true); a created or exited one, when files are wired, from its image and staged archives.
func (s *Sessions) archiveTarget(ctx context.Context, p identity.Principal, ref string) (c *containers.Container, agent bool, err error) {
	c, err = s.c.Resolve(ctx, p, ref)
	if err != nil {
		return nil, false, err
	}
	switch st := c.State.Status; {
	case c.Running():
		if err := s.c.CheckAgent(c); err != nil {
			return nil, false, err
		}
		return c, true, nil
	case s.files != nil && (st == container.StateCreated || st == container.StateExited):
		return c, false, nil
	}
	return nil, false, errkind.New(errdefs.ErrConflict, "container %s is not running", c.ID)
}

func (s *Sessions) view(ctx context.Context, c *containers.Container) (*containerfs.View, error) {
	if c.State.Status == container.StateExited {
		s.waitCapture(ctx, c.ID)
		return s.files.ExitedView(ctx, c.ID, c.ImageRef)
	}
	staged, err := s.files.List(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return s.files.View(c.ImageRef, staged), nil
}

// ArchiveStat describes path in ref (HEAD archive): through the agent while it runs, otherwise from its image's
// layers and the archives staged for its start.
func (s *Sessions) ArchiveStat(ctx context.Context, p identity.Principal, ref, path string) (container.PathStat, error) {
	c, agent, err := s.archiveTarget(ctx, p, ref)
	if err != nil {
		return container.PathStat{}, err
	}
	if agent {
		st, err := s.link.ArchiveStat(ctx, c.ID, path)
		return st, fileNotFound(err, path, ref)
	}
	if prefix, rel, ok := s.inVolume(c, path); ok {
		st, err := s.volumes.Stat(ctx, prefix, rel)
		return st, fileNotFound(err, path, ref)
	}
	v, err := s.view(ctx, c)
	if err != nil {
		return container.PathStat{}, err
	}
	st, err := v.Stat(ctx, path)
	if errdefs.IsNotFound(err) && isMountPoint(c, path) {
		// The mount point is a directory once the container runs (the docker CLI stats it before a cp in).
		return container.PathStat{Name: pathpkg.Base(pathpkg.Clean("/" + path)), Mode: os.ModeDir | 0o755}, nil
	}
	return st, fileNotFound(err, path, ref)
}

// fileNotFound words a missing path as Docker's daemon does.
func fileNotFound(err error, path, ref string) error {
	if errdefs.IsNotFound(err) {
		return errkind.New(errdefs.ErrNotFound, "Could not find the file %s in container %s", path, ref)
	}
	return err
}

// ArchiveGet streams path out of ref as a tar (GET archive); close the reader. A created container's files come
// from its image and staged archives; an exited one's also from the layer captured when its process ended.
func (s *Sessions) ArchiveGet(ctx context.Context, p identity.Principal, ref, path string) (container.PathStat, io.ReadCloser, error) {
	c, agent, err := s.archiveTarget(ctx, p, ref)
	if err != nil {
		return container.PathStat{}, nil, err
	}
	s.c.Audit(ctx, p, c, "archive get")
	if agent {
		st, rc, err := s.link.ArchiveGet(ctx, c.ID, path)
		return st, rc, fileNotFound(err, path, ref)
	}
	if prefix, rel, ok := s.inVolume(c, path); ok {
		st, rc, err := s.volumes.Get(ctx, prefix, rel, archiveBase(path))
		return st, rc, fileNotFound(err, path, ref)
	}
	v, err := s.view(ctx, c)
	if err != nil {
		return container.PathStat{}, nil, err
	}
	st, rc, err := v.Get(ctx, path)
	return st, rc, fileNotFound(err, path, ref)
}

// ArchivePut extracts the tar r into the directory path of ref (PUT archive). A container that is not running
// keeps the archive (up to containerfs.MaxStagedArchive) for its starts: the agent extracts it before the process
// starts.
func (s *Sessions) ArchivePut(ctx context.Context, p identity.Principal, ref, path string, r io.Reader, noOverwriteDirNonDir, copyUIDGID bool) error {
	c, agent, err := s.archiveTarget(ctx, p, ref)
	if err != nil {
		return err
	}
	s.c.Audit(ctx, p, c, "archive put")
	if agent {
		err = s.link.ArchivePut(ctx, c.ID, path, r, agentlink.PutOptions{NoOverwriteDirNonDir: noOverwriteDirNonDir, CopyUIDGID: copyUIDGID})
		return fileNotFound(err, path, ref)
	}
	if m, rel := s.volumeMount(c, path); m != nil {
		if m.ReadOnly { // Docker's checkIfPathIsInAVolume
			return errkind.New(errdefs.ErrInvalidArgument, "mounted volume is marked read-only")
		}
		return fileNotFound(s.volumes.Put(ctx, m.Prefix, rel, r), path, ref)
	}
	staged, err := s.files.List(ctx, c.ID)
	if err != nil {
		return err
	}
	// Checked against the image and what is staged: what the next start applies the archive to.
	dir, err := s.files.View(c.ImageRef, staged).Dir(ctx, path)
	if errdefs.IsNotFound(err) && isMountPoint(c, path) {
		// A volume's or tmpfs's mount point is a directory once the container runs, whether the image has it or
		// not (docker cp into a created container's volume, as testcontainers does): the agent extracts there
		// after Cloud Run has mounted it.
		dir, err = pathpkg.Clean(path), nil
	}
	if err != nil {
		return fileNotFound(err, path, ref)
	}
	data, err := io.ReadAll(io.LimitReader(r, containerfs.MaxStagedArchive+1))
	if err != nil {
		return err
	}
	if len(data) > containerfs.MaxStagedArchive {
		return containerfs.TooLarge(c.ID)
	}
	return s.files.Stage(ctx, c.ID, containerfs.Staged{Path: dir, Data: data,
		PutOptions: containerfs.PutOptions{NoOverwriteDirNonDir: noOverwriteDirNonDir, CopyUIDGID: copyUIDGID}})
}

// isMountPoint reports whether p is where one of c's mounts is.
func isMountPoint(c *containers.Container, p string) bool {
	p = pathpkg.Clean("/" + p)
	for _, m := range c.Mounts {
		if m.Destination == p {
			return true
		}
	}
	return false
}

// captureAfterExit takes id's changes from its agent once its exit is recorded, and stores them. Errors are
// recorded for the user's later requests, not returned.
func (s *Sessions) captureAfterExit(id string) {
	defer s.captureDone(id)
	ctx, cancel := context.WithTimeout(s.ctx, captureTimeout)
	defer cancel()
	began := time.Now()
	info, rc, err := s.link.Capture(ctx, id)
	rec := containerfs.Capture{At: time.Now()}
	switch {
	case errdefs.IsResourceExhausted(err):
		rec.OverLimit, rec.Error = true, err.Error()
	case err != nil:
		// This start captures nothing (--rm: the container may be gone already, so nothing is recorded), or the
		// agent went away: the exited container then answers that its files were not kept.
		switch {
		case errdefs.IsConflict(err): // the agent is gone: a --rm container's, already removed, most often
			s.log.Info("container changes not kept", "container", id, "err", err)
		case !errdefs.IsInvalidArgument(err):
			s.log.Warn("container changes not kept", "container", id, "err", err)
		}
		return
	default:
		rec.Changes, rec.Bytes = info.Changes, info.Bytes
		stored, err := s.files.StoreCapture(ctx, id, rc, rec)
		rc.Close()
		if err == nil {
			stored.Took = time.Since(began)
			s.log.Info("container changes kept", "container", id, "changes", stored.Changes, "bytes", stored.Bytes,
				"took", stored.Took)
			return
		}
		rec.Error = fmt.Sprintf("the capture failed: %v", err)
	}
	s.log.Warn("container changes not kept", "container", id, "why", rec.Error)
	if err := s.files.RecordCapture(ctx, id, rec); err != nil {
		s.log.Warn("record capture", "container", id, "err", err)
	}
}

// captureTimeout bounds one capture: the agent's walk, the transfer and the push.
const captureTimeout = 10 * time.Minute

func (s *Sessions) captureBegins(id string) { s.files.CaptureBegins(id) }

func (s *Sessions) captureDone(id string) { s.files.CaptureDone(id) }

// waitCapture waits for id's capture in progress, if any: docker cp right after docker wait sees the files.
func (s *Sessions) waitCapture(ctx context.Context, id string) { s.files.WaitCapture(ctx, id) }

// wholeView resolves ref for a whole-filesystem call (diff, export, commit): a created or exited container's
// filesystem is its image, staged archives and captured layer; a running one's takes its agent's capture now (a
// walk of its filesystem, sent as a layer). Call done once the view is no longer read.
func (s *Sessions) wholeView(ctx context.Context, p identity.Principal, ref string) (c *containers.Container, v *containerfs.View, done func(), err error) {
	c, agent, err := s.archiveTarget(ctx, p, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	if !agent {
		v, err := s.view(ctx, c)
		return c, v, func() {}, err
	}
	if s.files == nil {
		return nil, nil, nil, errkind.New(errdefs.ErrNotImplemented, "this control plane keeps no containers' files")
	}
	_, rc, err := s.link.CaptureNow(ctx, c.ID)
	switch {
	case errdefs.IsResourceExhausted(err):
		return nil, nil, nil, errkind.New(errdefs.ErrConflict, "container %s is running and its files cannot be read whole: %v", c.ID, err)
	case errdefs.IsInvalidArgument(err): // its start took no snapshot: --rm, or capture off
		return nil, nil, nil, errkind.New(errdefs.ErrConflict, "container %s is running without its changes being "+
			"tracked (it was started with --rm, or the control plane keeps no files): stop it first", c.ID)
	case err != nil:
		return nil, nil, nil, err
	}
	l, cleanup, err := containerfs.SpoolLayer(rc)
	if err != nil {
		return nil, nil, nil, errkind.New(errdefs.ErrUnavailable, "read the changes of container %s: %v", c.ID, err)
	}
	v, err = s.files.RunningView(ctx, c.ID, c.ImageRef, l)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return c, v, cleanup, nil
}

// Changes lists ref's filesystem changes against its image (docker diff).
func (s *Sessions) Changes(ctx context.Context, p identity.Principal, ref string) ([]container.FilesystemChange, error) {
	_, v, done, err := s.wholeView(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	defer done()
	return v.Changes(ctx)
}

// Export streams ref's whole filesystem as a tar (docker export); close the reader.
func (s *Sessions) Export(ctx context.Context, p identity.Principal, ref string) (io.ReadCloser, error) {
	c, v, done, err := s.wholeView(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	rc, err := v.Export(ctx)
	if err != nil {
		done()
		return nil, err
	}
	s.c.Emit(ctx, c, "export", nil)
	return &doneCloser{ReadCloser: rc, done: done}, nil
}

type doneCloser struct {
	io.ReadCloser
	done func()
}

func (d *doneCloser) Close() error {
	err := d.ReadCloser.Close()
	d.done()
	return err
}

// Commit pushes ref's filesystem as a new image for the caller (docker commit): the container's image, the
// archives staged into it and its changes (captured at its exit, or taken now from a running container, which is
// not paused: Cloud Run cannot pause a task). It returns the image ID.
func (s *Sessions) Commit(ctx context.Context, p identity.Principal, ref string, o commit.Options) (string, error) {
	if s.commits == nil {
		c, err := s.c.Resolve(ctx, p, ref)
		if err != nil {
			return "", err
		}
		return "", errkind.New(errdefs.ErrNotImplemented, "cannot commit container %s: this control plane keeps no containers' files", c.ID)
	}
	// Bad names and changes are refused before anything is read.
	repoTag, err := commit.RepoTag(o.Repo, o.Tag)
	if err != nil {
		return "", err
	}
	c, err := s.c.Resolve(ctx, p, ref)
	if err != nil {
		return "", err
	}
	if _, err := commit.Config(c.Config, o); err != nil {
		return "", err
	}
	c, v, done, err := s.wholeView(ctx, p, c.ID)
	if err != nil {
		return "", err
	}
	defer done()
	s.c.Audit(ctx, p, c, "commit")
	id, err := s.commits.Commit(ctx, p.Email, commit.Target{ID: c.ID, Config: c.Config, View: v}, o)
	if err != nil {
		return "", err
	}
	s.c.Emit(ctx, c, "commit", map[string]string{"comment": o.Comment, "imageID": id, "imageRef": repoTag})
	return id, nil
}
