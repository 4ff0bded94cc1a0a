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
	resize        chan agentlink.Size

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
	if len(req.Cmd) == 0 {
		return "", errkind.New(errdefs.ErrInvalidArgument, "No exec command specified")
	}
	if err := s.c.CheckAgent(c); err != nil {
		return "", err
	}
	s.c.Audit(ctx, p, c, "exec")
	e := &execRecord{id: randomHex(32), owner: c.Owner, containerID: c.ID, req: req, containerUser: c.Config.User,
		resize: make(chan agentlink.Size, 4)}
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
// exec runs in the background: ExecStart returns once it is started.
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
	spec := agentlink.ExecSpec{Cmd: e.req.Cmd, Env: e.req.Env, WorkingDir: e.req.WorkingDir, User: cmp.Or(e.req.User, e.containerUser), Tty: e.req.Tty}
	if size := req.ConsoleSize; size != nil {
		spec.Height, spec.Width = uint16(size[0]), uint16(size[1])
	} else if size := e.req.ConsoleSize; size != nil {
		spec.Height, spec.Width = uint16(size[0]), uint16(size[1])
	}
	streams := agentlink.Streams{Resize: e.resize}
	if !req.Detach {
		if e.req.AttachStdin {
			streams.Stdin = io.Stdin
		}
		if e.req.AttachStdout {
			streams.Stdout = io.Stdout
		}
		if e.req.AttachStderr {
			streams.Stderr = io.Stderr
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
	if req.Detach {
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			return errkind.New(errdefs.ErrUnavailable, "the control plane is shutting down")
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			if err := run(s.ctx); err != nil {
				s.log.Warn("detached exec", "exec", id, "err", err)
			}
		}()
		return nil
	}
	return run(ctx)
}

// ExecResize resizes the exec's terminal.
func (s *Sessions) ExecResize(ctx context.Context, p identity.Principal, id string, height, width uint) error {
	e, err := s.execFor(p, id)
	if err != nil {
		return err
	}
	sendSize(e.resize, agentlink.Size{Height: uint16(height), Width: uint16(width)})
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
