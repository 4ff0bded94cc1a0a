package agentsessions

import (
	"cmp"
	"context"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/agentlink"
	"github.com/runsock/runsock/controlplane/internal/detachkeys"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// Exec instances live in this control plane's memory, as in Docker's daemon: they are short-lived, and an exec
// whose control plane restarts loses its client connection anyway. Finished ones are dropped after execKeep.
const execKeep = 10 * time.Minute

// execUnstartedKeep bounds how long an exec instance that was created and never started is kept: a client that
// creates execs in a loop without starting them must not grow the control plane's memory without end.
const execUnstartedKeep = 5 * time.Minute

type execRecord struct {
	id, owner, containerID string
	req                    container.ExecCreateRequest
	// containerUser is the container's configured user: an exec without -u runs as it, as in Docker (the exec
	// process starts from the container's own process spec), while inspect still shows the User that was asked.
	containerUser string
	// groupAdd are the container's --group-add groups, which exec'd processes get too.
	groupAdd []string
	// detachKeys end a TTY exec's client stream, leaving the process running (DetachKeys, or Docker's default).
	detachKeys []byte
	resize     chan agentlink.Size
	startedCh  chan struct{} // closed when the exec starts (a resize waits for it, as Docker's does)

	mu       sync.Mutex
	created  time.Time
	started  bool
	running  bool
	pid      int
	exitCode *int
	ended    time.Time
}

type execRegistry struct {
	mu sync.Mutex
	m  map[string]*execRecord
}

func newExecRegistry() *execRegistry { return &execRegistry{m: map[string]*execRecord{}} }

// add records e (created now) and drops the records that have expired: finished ones after execKeep, never
// started ones after execUnstartedKeep.
func (r *execRegistry) add(e *execRecord, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, old := range r.m {
		if old.expired(now) {
			delete(r.m, id)
		}
	}
	e.created = now
	r.m[e.id] = e
}

func (e *execRecord) expired(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started {
		return now.Sub(e.created) > execUnstartedKeep
	}
	return !e.ended.IsZero() && now.Sub(e.ended) > execKeep
}

// ExecCreate records an exec instance in ref's running container.
func (s *Sessions) ExecCreate(ctx context.Context, p identity.Principal, ref string, req container.ExecCreateRequest) (string, error) {
	c, err := s.c.Resolve(ctx, p, ref)
	if err != nil {
		return "", err
	}
	if c.Restarting() {
		return "", errkind.New(errdefs.ErrConflict, "Container %s is restarting, wait until the container is running", c.ID)
	}
	if !c.Running() {
		return "", errkind.New(errdefs.ErrConflict, "container %s is not running", c.ID)
	}
	if c.State.Paused {
		return "", errkind.New(errdefs.ErrConflict, "Container %s is paused, unpause the container before exec", ref)
	}
	if len(req.Cmd) == 0 {
		return "", errkind.New(errdefs.ErrInvalidArgument, "No exec command specified")
	}
	if err := s.c.CheckAgent(c); err != nil {
		return "", err
	}
	keys, err := detachkeys.Parse(req.DetachKeys)
	if err != nil {
		// Docker's wording; Docker gives it no kind (a 500), runsock the 400 that attach gives the same mistake.
		return "", errkind.New(errdefs.ErrInvalidArgument, "Invalid escape keys (%s) provided", req.DetachKeys)
	}
	s.c.Audit(ctx, p, c, "exec")
	e := &execRecord{id: randomHex(32), owner: c.Owner, containerID: c.ID, req: req, containerUser: c.Config.User,
		groupAdd: c.HostConfig.GroupAdd, detachKeys: keys, resize: make(chan agentlink.Size, 4), startedCh: make(chan struct{})}
	s.execs.add(e, time.Now())
	s.c.Emit(ctx, c, "exec_create: "+strings.Join(req.Cmd, " "), map[string]string{"execID": e.id})
	return e.id, nil
}

func (s *Sessions) execFor(p identity.Principal, id string) (*execRecord, error) {
	s.execs.mu.Lock()
	e, ok := s.execs.m[id]
	s.execs.mu.Unlock()
	if !ok || (!p.Admin && e.owner != p.Email) {
		return nil, errkind.New(errdefs.ErrNotFound, "No such exec instance: %s", id)
	}
	return e, nil
}

// ExecInspect describes an exec instance (Running, Pid, ExitCode once it has exited).
func (s *Sessions) ExecInspect(ctx context.Context, p identity.Principal, id string) (container.ExecInspectResponse, error) {
	e, err := s.execFor(p, id)
	if err != nil {
		return container.ExecInspectResponse{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := container.ExecInspectResponse{ID: e.id, Running: e.running, Pid: e.pid, ContainerID: e.containerID,
		OpenStdin: e.req.AttachStdin, OpenStdout: e.req.AttachStdout, OpenStderr: e.req.AttachStderr,
		ProcessConfig: &container.ExecProcessConfig{Tty: e.req.Tty, Entrypoint: e.req.Cmd[0], Arguments: e.req.Cmd[1:], User: e.req.User}}
	if resp.ProcessConfig.Arguments == nil {
		resp.ProcessConfig.Arguments = []string{}
	}
	if e.exitCode != nil {
		code := *e.exitCode
		resp.ExitCode = &code
	}
	return resp, nil
}

// ExecIO are an exec's client-side streams (nil members are not attached).
type ExecIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// ExecCheck returns the exec's TTY flag, or an error (unknown, already started) before the caller hijacks.
func (s *Sessions) ExecCheck(ctx context.Context, p identity.Principal, id string) (tty bool, err error) {
	e, err := s.execFor(p, id)
	if err != nil {
		return false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return false, errkind.New(errdefs.ErrConflict, "Error: Exec command %s is already running", id)
	}
	return e.req.Tty, nil
}

// ExecStart runs the exec through the agent and returns once it has exited and its output is written. A detached
// exec runs in the background: ExecStart returns once it is started. A TTY exec whose client types the detach
// sequence returns then too, the process running on without a client (its output discarded), as in Docker.
func (s *Sessions) ExecStart(ctx context.Context, p identity.Principal, id string, req container.ExecStartRequest, io ExecIO) error {
	e, err := s.execFor(p, id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errkind.New(errdefs.ErrConflict, "Error: Exec command %s is already running", id)
	}
	e.started, e.running = true, true
	e.mu.Unlock()
	close(e.startedCh)
	spec := agentlink.ExecSpec{Cmd: e.req.Cmd, Env: e.req.Env, WorkingDir: e.req.WorkingDir, User: cmp.Or(e.req.User, e.containerUser),
		GroupAdd: e.groupAdd, Tty: e.req.Tty}
	// As Docker: the start's size when the start asks for a TTY, else the create's; either only for a TTY process.
	size := e.req.ConsoleSize
	if req.ConsoleSize != nil && req.Tty {
		size = req.ConsoleSize
	}
	if size != nil && e.req.Tty {
		spec.Height, spec.Width = clampSize(size[0]), clampSize(size[1])
	}
	streams := agentlink.Streams{Resize: e.resize}
	var det *detacher
	if !req.Detach {
		if e.req.AttachStdout {
			streams.Stdout = io.Stdout
		}
		if e.req.AttachStderr {
			streams.Stderr = io.Stderr
		}
		if e.req.AttachStdin {
			streams.Stdin = io.Stdin
			if e.req.Tty && io.Stdin != nil {
				det = newDetacher()
				streams.Stdin = det.reader(io.Stdin, e.detachKeys)
				streams.Stdout, streams.Stderr = det.writer(streams.Stdout), det.writer(streams.Stderr)
			}
		}
	}
	started := func(pid int) {
		e.mu.Lock()
		e.pid = pid
		e.mu.Unlock()
	}
	run := func(ctx context.Context) error {
		code, err := s.link.Exec(ctx, e.containerID, spec, streams, started)
		e.mu.Lock()
		defer e.mu.Unlock()
		e.running, e.ended = false, time.Now()
		if err != nil {
			code = 126
		}
		e.exitCode = &code
		return err
	}
	if !req.Detach && det == nil {
		return run(ctx)
	}
	// In the background: detached from the start, or possibly detached by the client later on.
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return errkind.New(errdefs.ErrUnavailable, "the control plane is shutting down")
	}
	s.wg.Add(1)
	s.mu.Unlock()
	bg, cancel := context.WithCancel(s.ctx)
	done := make(chan error, 1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		err := run(bg)
		if err != nil && det == nil {
			s.log.Warn("detached exec", "exec", id, "err", err)
		}
		done <- err
	}()
	if req.Detach {
		return nil
	}
	// Attached: the client's going away ends the exec's session as it would without a detach sequence.
	stop := context.AfterFunc(ctx, func() {
		if !det.detached() {
			cancel()
		}
	})
	defer stop()
	select {
	case err := <-done:
		return err
	case <-det.done:
		return nil
	}
}

// clampSize is a terminal dimension as the agent takes it: Docker accepts any uint32, a terminal holds 16 bits.
func clampSize(v uint) uint16 { return uint16(min(v, 1<<16-1)) }

// execResizeWait is how long a resize of an exec not started yet waits for its start: Docker's 10 s.
const execResizeWait = 10 * time.Second

// ExecResize resizes the exec's terminal. Before the exec starts it waits for the start (as Docker does, a client
// may resize right after asking for the start); an exec no longer running is a conflict.
func (s *Sessions) ExecResize(ctx context.Context, p identity.Principal, id string, height, width uint) error {
	e, err := s.execFor(p, id)
	if err != nil {
		return err
	}
	timer := time.NewTimer(execResizeWait)
	defer timer.Stop()
	select {
	case <-e.startedCh:
	case <-timer.C:
		return errkind.New(errdefs.ErrUnavailable, "timeout waiting for exec session ready")
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.Lock()
	running := e.running
	e.mu.Unlock()
	if !running {
		return errkind.New(errdefs.ErrConflict, "exec %s is not running: cannot resize it", id)
	}
	sendSize(e.resize, agentlink.Size{Height: clampSize(height), Width: clampSize(width)})
	return nil
}

// sendSize delivers the latest size without blocking: an older pending size is dropped for it.
func sendSize(ch chan agentlink.Size, sz agentlink.Size) {
	for {
		select {
		case ch <- sz:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}
