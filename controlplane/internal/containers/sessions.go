package containers

import (
	"context"
	"io"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/agentlink"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// This file holds the container sessions that go through the agent: attach with input, archive, top, stats,
// resize and port tunnels. Each resolves the container for the caller first (another user's is "No such
// container"), then calls the agent link.

// AgentContainer resolves ref for p and reports whether it has (or, not started yet, will have) the agent, so the
// HTTP layer can pick the agent's attach over the Cloud Logging one.
func (s *Service) AgentContainer(ctx context.Context, p identity.Principal, ref string) (*Container, bool, error) {
	c, err := s.Resolve(ctx, p, ref)
	if err != nil {
		return nil, false, err
	}
	return c, s.withAgent(c) == nil, nil
}

// AttachOptions are docker attach's choices for an agent attach.
type AttachOptions struct {
	Logs, Stream   bool
	Stdout, Stderr bool
	// Resume continues an attach cut by the request timeout; Started reports the cursor of a new one (see
	// agentlink.AttachOptions).
	Resume  *AttachCursor
	Started func(AttachCursor)
	// Resumable: a cut leaves the process's stdin open for the resumed attach (agentlink.AttachOptions).
	Resumable bool
}

// AttachCursor is where an attach's output stands (agentlink.AttachCursor).
type AttachCursor = agentlink.AttachCursor

// AttachIO are the attach's client streams; Stdin nil = no input. Resize (may be nil) delivers terminal sizes.
type AttachIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// AttachAgent streams c's output from the live logs and feeds input to its main process through the agent. When
// c is not running it waits for the next start (docker run attaches before it starts). It returns when the run's
// output is complete — or shortly after the run dies without the agent reporting it (a cancelled execution).
func (s *Service) AttachAgent(ctx context.Context, c *Container, opts AttachOptions, aio AttachIO) error {
	sub, unsubscribe := s.bus.subscribe()
	defer unsubscribe()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.doneWhenDies(ctx, sub, func() {}, c.ID):
		case <-ctx.Done():
			return
		}
		select { // the agent's exit report and the last output arrive before (or with) the die; this is a backstop
		case <-time.After(liveLogsGrace):
			cancel()
		case <-ctx.Done():
		}
	}()
	var streams agentlink.Streams
	if c.Config.OpenStdin {
		streams.Stdin = aio.Stdin
	}
	if c.Config.Tty {
		resize := make(chan agentlink.Size, 4)
		s.trackResize(c.ID, resize, true)
		defer s.trackResize(c.ID, resize, false)
		streams.Resize = resize
	}
	if opts.Stdout {
		streams.Stdout = aio.Stdout
	}
	if opts.Stderr {
		streams.Stderr = aio.Stderr
	}
	err := s.agent.Link.Attach(ctx, c.ID, agentlink.AttachOptions{Logs: opts.Logs, Stream: opts.Stream, NextRun: !c.Running(),
		Resume: opts.Resume, Started: opts.Started, Resumable: opts.Resumable}, streams)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Service) trackResize(id string, ch chan agentlink.Size, on bool) {
	s.agentMem.mu.Lock()
	defer s.agentMem.mu.Unlock()
	set := s.agentMem.resizes[id]
	if on {
		if set == nil {
			set = map[chan agentlink.Size]struct{}{}
			s.agentMem.resizes[id] = set
		}
		set[ch] = struct{}{}
		return
	}
	delete(set, ch)
	if len(set) == 0 {
		delete(s.agentMem.resizes, id)
	}
}

// Resize resizes the terminal of ref's main process (through the attach sessions that carry input to it).
func (s *Service) Resize(ctx context.Context, p identity.Principal, ref string, height, width uint) error {
	c, err := s.Resolve(ctx, p, ref)
	if err != nil {
		return err
	}
	if !c.Running() {
		return errorf(errdefs.ErrConflict, "Container %s is not running", c.ID)
	}
	s.agentMem.mu.Lock()
	defer s.agentMem.mu.Unlock()
	for ch := range s.agentMem.resizes[c.ID] {
		sendSize(ch, agentlink.Size{Height: uint16(height), Width: uint16(width)})
	}
	return nil
}

// running resolves ref and checks it is running with an agent.
func (s *Service) running(ctx context.Context, p identity.Principal, ref string) (*Container, error) {
	c, err := s.Resolve(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	if !c.Running() {
		return nil, errorf(errdefs.ErrConflict, "container %s is not running", c.ID)
	}
	if err := s.withAgent(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Top lists ref's processes.
func (s *Service) Top(ctx context.Context, p identity.Principal, ref, psArgs string) (container.TopResponse, error) {
	c, err := s.running(ctx, p, ref)
	if err != nil {
		return container.TopResponse{}, err
	}
	return s.agent.Link.Top(ctx, c.ID, psArgs)
}

// Stats samples ref's figures; prev (or nil) fills the pre-CPU fields.
func (s *Service) Stats(ctx context.Context, p identity.Principal, ref string, prev *container.StatsResponse) (container.StatsResponse, error) {
	c, err := s.running(ctx, p, ref)
	if err != nil {
		return container.StatsResponse{}, err
	}
	st, err := s.agent.Link.Stats(ctx, c.ID, prev)
	st.Name = "/" + c.Name
	return st, err
}

// ArchiveStat describes path in ref (HEAD archive).
func (s *Service) ArchiveStat(ctx context.Context, p identity.Principal, ref, path string) (container.PathStat, error) {
	c, err := s.running(ctx, p, ref)
	if err != nil {
		return container.PathStat{}, err
	}
	st, err := s.agent.Link.ArchiveStat(ctx, c.ID, path)
	return st, fileNotFound(err, path, ref)
}

// fileNotFound words a missing path as Docker's daemon does.
func fileNotFound(err error, path, ref string) error {
	if errdefs.IsNotFound(err) {
		return errorf(errdefs.ErrNotFound, "Could not find the file %s in container %s", path, ref)
	}
	return err
}

// ArchiveGet streams path out of ref as a tar (GET archive); close the reader.
func (s *Service) ArchiveGet(ctx context.Context, p identity.Principal, ref, path string) (container.PathStat, io.ReadCloser, error) {
	c, err := s.running(ctx, p, ref)
	if err != nil {
		return container.PathStat{}, nil, err
	}
	st, rc, err := s.agent.Link.ArchiveGet(ctx, c.ID, path)
	return st, rc, fileNotFound(err, path, ref)
}

// ArchivePut extracts the tar r into the directory path of ref (PUT archive).
func (s *Service) ArchivePut(ctx context.Context, p identity.Principal, ref, path string, r io.Reader, noOverwriteDirNonDir, copyUIDGID bool) error {
	c, err := s.running(ctx, p, ref)
	if err != nil {
		return err
	}
	err = s.agent.Link.ArchivePut(ctx, c.ID, path, r, agentlink.PutOptions{NoOverwriteDirNonDir: noOverwriteDirNonDir, CopyUIDGID: copyUIDGID})
	return fileNotFound(err, path, ref)
}

// TunnelCheck resolves ref for a published-port tunnel (errors before the HTTP layer answers 200).
func (s *Service) TunnelCheck(ctx context.Context, p identity.Principal, ref string) (*Container, error) {
	return s.running(ctx, p, ref)
}

// Tunnel carries conn to 127.0.0.1:port inside c.
func (s *Service) Tunnel(ctx context.Context, c *Container, port int, conn io.ReadWriter) error {
	return s.agent.Link.Tunnel(ctx, c.ID, port, conn)
}
