package agentsessions

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/agentlink"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/controlplane/internal/livelogs"
)

// Containers is the part of the containers Service (*containers.Service) the sessions call.
type Containers interface {
	// Resolve finds ref for p (another user's container is "No such container").
	Resolve(ctx context.Context, p identity.Principal, ref string) (*containers.Container, error)
	// CheckAgent says why c cannot have sessions through the agent.
	CheckAgent(c *containers.Container) error
	// Audit records an admin's action on another user's container (nothing for the owner's own).
	Audit(ctx context.Context, p identity.Principal, c *containers.Container, action string)
	// Emit records and publishes an event of c's.
	Emit(ctx context.Context, c *containers.Container, action string, extra map[string]string)
	// WhenEnds is closed when id's current execution dies or id is removed.
	WhenEnds(ctx context.Context, id string) <-chan struct{}
	// AgentExited records an exit the agent of execution reported first-hand, if execution is still id's run.
	AgentExited(id, execution string, code int, oomKilled bool, at time.Time)
}

var _ Containers = (*containers.Service)(nil)

// Sessions are the container sessions that go through the agent: exec, attach with input, archive, top, stats,
// resize and port tunnels. Each resolves the container for the caller first, then calls the agent link. Sessions
// also hands the exits agents report to the containers Service. Create it with NewSessions; Close it at the end.
type Sessions struct {
	c     Containers
	link  Link
	files Files // nil: archives only reach running containers
	// volumes serves paths in volumes of containers that are not running (nil: as any other path).
	volumes VolumeFiles
	// commits is nil when files are not kept: docker commit answers that it cannot.
	commits Committer
	log     *slog.Logger
	execs   *execRegistry

	mu      sync.Mutex                                  // guards resizes, and orders every wg.Add before Close's cancel or after it
	resizes map[string]map[chan agentlink.Size]struct{} // container → live attach sessions' resize channels

	ctx       context.Context // ends at Close; parent of detached execs and exit recordings
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewSessions returns the sessions of c's containers through link, and starts recording the exits that arrive on
// exits (the channel the Hub was built with; nil = none). files serves the archives of containers that are not
// running (nil: those answer that the container is not running); commits pushes committed containers (nil: docker
// commit is refused). log may be nil.
func NewSessions(c Containers, link Link, exits <-chan agentlink.ExitReport, files Files, commits Committer, log *slog.Logger) *Sessions {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sessions{c: c, link: link, files: files, commits: commits, log: log, execs: newExecRegistry(),
		resizes: map[string]map[chan agentlink.Size]struct{}{}, ctx: ctx, cancel: cancel}
	if exits != nil {
		s.wg.Add(1)
		go s.recordExits(exits)
	}
	return s
}

// Close ends detached execs and the exit loop and waits for them.
func (s *Sessions) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.cancel()
		s.mu.Unlock()
		s.wg.Wait()
	})
	return nil
}

// recordExits hands each exit report to the containers Service, and tells the Hub once it is recorded (the Hub
// acknowledges the exit to the agent only then).
func (s *Sessions) recordExits(exits <-chan agentlink.ExitReport) {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case r := <-exits:
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_, capture := s.captureLimit()
				if capture {
					s.captureBegins(r.ContainerID) // before the exit is visible: a cp after wait waits for it
				}
				s.c.AgentExited(r.ContainerID, r.Execution, r.Code, r.OOMKilled, r.At)
				r.Recorded()
				if capture {
					s.captureAfterExit(r.ContainerID)
				}
			}()
		}
	}
}

// captureLimit says whether exited containers' changes are kept, and up to what size.
func (s *Sessions) captureLimit() (int64, bool) {
	if s.files == nil {
		return 0, false
	}
	return s.files.CaptureLimit()
}

// AgentContainer resolves ref for p and reports whether it has (or, not started yet, will have) the agent, so the
// HTTP layer can pick the agent's attach over the Cloud Logging one.
func (s *Sessions) AgentContainer(ctx context.Context, p identity.Principal, ref string) (*containers.Container, bool, error) {
	c, err := s.c.Resolve(ctx, p, ref)
	if err != nil {
		return nil, false, err
	}
	if c.Running() && c.State.Paused {
		return nil, false, errkind.New(errdefs.ErrConflict, "container %s is paused, unpause the container before attach.", ref)
	}
	return c, s.c.CheckAgent(c) == nil, nil
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
	// DetachKeys end the attach when typed into a TTY container's stdin, leaving it running (detachkeys.Parse).
	DetachKeys []byte
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
func (s *Sessions) AttachAgent(ctx context.Context, c *containers.Container, opts AttachOptions, aio AttachIO) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ends := s.c.WhenEnds(ctx, c.ID)
	go func() {
		select {
		case <-ends:
		case <-ctx.Done():
			return
		}
		select { // the agent's exit report and the last output arrive before (or with) the die; this is a backstop
		case <-time.After(livelogs.EndGrace):
			cancel()
		case <-ctx.Done():
		}
	}()
	var streams agentlink.Streams
	var detached chan struct{}
	if c.Config.OpenStdin {
		streams.Stdin = aio.Stdin
		if c.Config.Tty && aio.Stdin != nil {
			// As Docker: the detach sequence ends a TTY attach; the container runs on, its stdin left open.
			det := newDetacher()
			streams.Stdin, detached = det.reader(aio.Stdin, opts.DetachKeys), det.done
			go func() {
				select {
				case <-det.done:
					cancel()
				case <-ctx.Done():
				}
			}()
		}
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
	err := s.link.Attach(ctx, c.ID, agentlink.AttachOptions{Logs: opts.Logs, Stream: opts.Stream, NextRun: !c.Running(),
		Resume: opts.Resume, Started: opts.Started, Resumable: opts.Resumable, Detached: detached}, streams)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Sessions) trackResize(id string, ch chan agentlink.Size, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.resizes[id]
	if on {
		if set == nil {
			set = map[chan agentlink.Size]struct{}{}
			s.resizes[id] = set
		}
		set[ch] = struct{}{}
		return
	}
	delete(set, ch)
	if len(set) == 0 {
		delete(s.resizes, id)
	}
}

// Resize resizes the terminal of ref's main process (through the attach sessions that carry input to it).
func (s *Sessions) Resize(ctx context.Context, p identity.Principal, ref string, height, width uint) error {
	c, err := s.c.Resolve(ctx, p, ref)
	if err != nil {
		return err
	}
	if !c.Running() {
		return errkind.New(errdefs.ErrConflict, "Container %s is not running", c.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.resizes[c.ID] {
		sendSize(ch, agentlink.Size{Height: clampSize(height), Width: clampSize(width)})
	}
	return nil
}

// running resolves ref and checks it is running with an agent.
func (s *Sessions) running(ctx context.Context, p identity.Principal, ref string) (*containers.Container, error) {
	c, err := s.c.Resolve(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	if !c.Running() {
		return nil, errkind.New(errdefs.ErrConflict, "container %s is not running", c.ID)
	}
	if err := s.c.CheckAgent(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Top lists ref's processes.
func (s *Sessions) Top(ctx context.Context, p identity.Principal, ref, psArgs string) (container.TopResponse, error) {
	c, err := s.running(ctx, p, ref)
	if err != nil {
		return container.TopResponse{}, err
	}
	return s.link.Top(ctx, c.ID, psArgs)
}

// Stats samples ref's figures; prev (or nil) fills the pre-CPU fields.
func (s *Sessions) Stats(ctx context.Context, p identity.Principal, ref string, prev *container.StatsResponse) (container.StatsResponse, error) {
	c, err := s.running(ctx, p, ref)
	if err != nil {
		return container.StatsResponse{}, err
	}
	st, err := s.link.Stats(ctx, c.ID, prev)
	st.Name = "/" + c.Name
	return st, err
}

// TunnelCheck resolves ref for a published-port tunnel (errors before the HTTP layer answers 200).
func (s *Sessions) TunnelCheck(ctx context.Context, p identity.Principal, ref string) (*containers.Container, error) {
	c, err := s.running(ctx, p, ref)
	if err == nil {
		s.c.Audit(ctx, p, c, "tunnel")
	}
	return c, err
}

// Tunnel carries conn to 127.0.0.1:port inside c.
func (s *Sessions) Tunnel(ctx context.Context, c *containers.Container, port int, conn io.ReadWriter) error {
	return s.link.Tunnel(ctx, c.ID, port, conn)
}
