package agentsessions

import (
	"context"
	"io"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/agentlink"
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
}

var _ Files = (*containerfs.Files)(nil)

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
	v, err := s.view(ctx, c)
	if err != nil {
		return container.PathStat{}, err
	}
	st, err := v.Stat(ctx, path)
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
// from its image and staged archives; an exited one's are not kept (yet).
func (s *Sessions) ArchiveGet(ctx context.Context, p identity.Principal, ref, path string) (container.PathStat, io.ReadCloser, error) {
	c, agent, err := s.archiveTarget(ctx, p, ref)
	if err != nil {
		return container.PathStat{}, nil, err
	}
	if agent {
		st, rc, err := s.link.ArchiveGet(ctx, c.ID, path)
		return st, rc, fileNotFound(err, path, ref)
	}
	if c.State.Status != container.StateCreated {
		return container.PathStat{}, nil, errkind.New(errdefs.ErrConflict,
			"container %s has exited: runsock does not keep an exited container's files", c.ID)
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
	if agent {
		err = s.link.ArchivePut(ctx, c.ID, path, r, agentlink.PutOptions{NoOverwriteDirNonDir: noOverwriteDirNonDir, CopyUIDGID: copyUIDGID})
		return fileNotFound(err, path, ref)
	}
	v, err := s.view(ctx, c)
	if err != nil {
		return err
	}
	dir, err := v.Dir(ctx, path)
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
