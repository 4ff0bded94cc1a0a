package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/agentimage"
	"github.com/runsock/runsock/controlplane/internal/agentlink"
	"github.com/runsock/runsock/linkproto"
)

// AgentLink is the part of the agent link server (*agentlink.Hub) the Service calls.
type AgentLink interface {
	Exec(ctx context.Context, id string, spec agentlink.ExecSpec, s agentlink.Streams, started func(pid int)) (int, error)
	Attach(ctx context.Context, id string, opts agentlink.AttachOptions, s agentlink.Streams) error
	Signal(ctx context.Context, id string, sig syscall.Signal) error
	Top(ctx context.Context, id, psArgs string) (container.TopResponse, error)
	Stats(ctx context.Context, id string, prev *container.StatsResponse) (container.StatsResponse, error)
	ArchiveStat(ctx context.Context, id, path string) (container.PathStat, error)
	ArchiveGet(ctx context.Context, id, path string) (container.PathStat, io.ReadCloser, error)
	ArchivePut(ctx context.Context, id, path string, r io.Reader, opts agentlink.PutOptions) error
	Tunnel(ctx context.Context, id string, port int, conn io.ReadWriter) error
	Connected(id string) bool
	WaitConnected(ctx context.Context, id string) error
	SetNotConnectedReason(id, why string)
	Forget(id string)
}

// LiveLogDeleter removes a container's live output (*livelogs.Store).
type LiveLogDeleter interface {
	Delete(ctx context.Context, id string) error
}

// AgentOptions wire the runsock agent into container starts. A zero AgentOptions (Wrap nil) runs containers
// without the agent: logs from Cloud Logging, no exec/cp/attach input.
type AgentOptions struct {
	// Wrap returns the agent-wrapped form of a digest reference (agentimage.Layerer.Wrap's Image). Results are cached
	// here per reference, so a base image is wrapped (and looked up in the registry) once per process.
	Wrap func(ctx context.Context, image string) (string, error)
	Link AgentLink
	Logs LiveLogDeleter
	// URL is what agents dial; CAPEM the PEM of the CA that signed its certificate ("" = system roots); Audience
	// the identity-token audience ("" = URL).
	URL, CAPEM, Audience string
	// ServiceAccount is the email whose identity token agents must present ("" = tokens are not checked).
	ServiceAccount string
}

// AgentRecord is what a container's record keeps about its current start's agent. The secret itself is never
// stored: only its hash, for the link to check.
type AgentRecord struct {
	SecretHash     []byte `json:",omitempty"`
	ServiceAccount string `json:",omitempty"`
	// Run identifies the start (RUNSOCK_RUN).
	Run string `json:",omitempty"`
	// Unavailable says why this start runs without the agent ("" = it runs with it).
	Unavailable string `json:",omitempty"`
}

// agentState is the Service's in-memory side of the agent: wrapped-image and credential caches, live attaches.
type agentState struct {
	mu      sync.Mutex
	wrapped map[string]string // digest reference → wrapped digest reference
	creds   map[string]agentlink.AgentCredentials
	resizes map[string]map[chan agentlink.Size]struct{} // container → live attach sessions' resize channels
}

func newAgentState() *agentState {
	return &agentState{wrapped: map[string]string{}, creds: map[string]agentlink.AgentCredentials{},
		resizes: map[string]map[chan agentlink.Size]struct{}{}}
}

// agentEnabled reports whether containers start with the agent.
func (s *Service) agentEnabled() bool { return s.agent.Wrap != nil && s.agent.Link != nil }

// wrap returns the cached wrapped image for ref, wrapping it on first use.
func (s *Service) wrap(ctx context.Context, ref string) (string, error) {
	s.agentMem.mu.Lock()
	w, ok := s.agentMem.wrapped[ref]
	s.agentMem.mu.Unlock()
	if ok {
		return w, nil
	}
	w, err := s.agent.Wrap(ctx, ref)
	if err != nil {
		return "", err
	}
	s.agentMem.mu.Lock()
	s.agentMem.wrapped[ref] = w
	s.agentMem.mu.Unlock()
	return w, nil
}

// prepareAgent turns spec into an agent launch when it can: the wrapped image, the agent as entrypoint with the
// user's command as args, and the RUNSOCK_* environment. When the image cannot be wrapped the container still
// runs as it is, and the reason is recorded for the sessions' errors.
func (s *Service) prepareAgent(ctx context.Context, c *Container, spec *LaunchSpec) AgentRecord {
	if !s.agentEnabled() {
		return AgentRecord{Unavailable: "this control plane runs containers without the runsock agent"}
	}
	wrapped, err := s.wrap(ctx, c.ImageRef)
	if err != nil {
		s.log.Warn("agent image", "container", c.ID, "image", c.ImageRef, "err", err)
		why := fmt.Sprintf("its image could not be given the agent (%v)", err)
		s.agent.Link.SetNotConnectedReason(c.ID, why)
		return AgentRecord{Unavailable: why}
	}
	secret, hash, err := agentlink.IssueSecret()
	if err != nil {
		s.agent.Link.SetNotConnectedReason(c.ID, err.Error())
		return AgentRecord{Unavailable: err.Error()}
	}
	run := newRunID()
	rec := AgentRecord{SecretHash: hash, ServiceAccount: s.agent.ServiceAccount, Run: run}
	// Known before the launch, so the agent's first dial is accepted without waiting for the record's write.
	s.agentMem.mu.Lock()
	s.agentMem.creds[c.ID] = agentlink.AgentCredentials{SecretHash: hash, ServiceAccount: rec.ServiceAccount}
	s.agentMem.mu.Unlock()

	args := append(append([]string{"--"}, c.Config.Entrypoint...), c.Config.Cmd...)
	spec.Image, spec.Entrypoint, spec.Args = wrapped, []string{agentimage.AgentPath}, args
	env := append([]string(nil), spec.Env...)
	env = append(env,
		linkproto.EnvURL+"="+s.agent.URL,
		linkproto.EnvContainerID+"="+c.ID,
		linkproto.EnvSecret+"="+secret,
		linkproto.EnvRun+"="+run,
	)
	if s.agent.CAPEM != "" {
		env = append(env, linkproto.EnvCA+"="+s.agent.CAPEM)
	}
	if s.agent.Audience != "" {
		env = append(env, linkproto.EnvAudience+"="+s.agent.Audience)
	}
	if c.Config.OpenStdin {
		env = append(env, linkproto.EnvStdin+"=1")
	}
	if c.Config.StdinOnce {
		env = append(env, linkproto.EnvStdinOnce+"=1")
	}
	if c.Config.Tty {
		env = append(env, linkproto.EnvTTY+"=1")
	}
	if c.Config.User != "" {
		env = append(env, linkproto.EnvUser+"="+c.Config.User)
	}
	spec.Env = env
	return rec
}

func newRunID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// AgentCredentials implements agentlink.CredentialStore from the container records, with a cache (every agent
// stream authenticates, so this is on the path of every session).
func (s *Service) AgentCredentials(ctx context.Context, id string) (agentlink.AgentCredentials, error) {
	s.agentMem.mu.Lock()
	cr, ok := s.agentMem.creds[id]
	s.agentMem.mu.Unlock()
	if ok {
		return cr, nil
	}
	c, err := s.store.GetContainer(ctx, id)
	if err != nil {
		return agentlink.AgentCredentials{}, err
	}
	if len(c.Agent.SecretHash) == 0 {
		return agentlink.AgentCredentials{}, fmt.Errorf("container %s has no agent secret", id)
	}
	cr = agentlink.AgentCredentials{SecretHash: c.Agent.SecretHash, ServiceAccount: c.Agent.ServiceAccount}
	s.agentMem.mu.Lock()
	s.agentMem.creds[id] = cr
	s.agentMem.mu.Unlock()
	return cr, nil
}

var _ agentlink.CredentialStore = (*Service)(nil)

// AgentExited records an exit the agent reported first-hand (exact code and time): state, die event, waiters,
// auto-remove, as the watcher would.
func (s *Service) AgentExited(id string, code int, at time.Time) {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	c, err := s.store.GetContainer(ctx, id)
	if err != nil || !c.Running() {
		return
	}
	s.recordExit(ctx, id, c.State.Execution, Outcome{ExitCode: code, FinishedAt: at})
}

// forgetAgent drops what the Service and the link remember about a removed container; its live logs go later
// (an attach or logs -f may still be reading the end of them).
func (s *Service) forgetAgent(c *Container) {
	s.agentMem.mu.Lock()
	delete(s.agentMem.creds, c.ID)
	s.agentMem.mu.Unlock()
	if s.agent.Link != nil {
		s.agent.Link.Forget(c.ID)
	}
	if s.agent.Logs == nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-time.After(liveLogsGrace):
		case <-s.ctx.Done():
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 30*time.Second)
		defer cancel()
		if err := s.agent.Logs.Delete(ctx, c.ID); err != nil {
			s.log.Warn("delete live logs", "container", c.ID, "err", err)
		}
	}()
}

// liveLogsGrace is how long a removed container's live logs stay for readers finishing the last lines.
const liveLogsGrace = 5 * time.Second

// withAgent checks that c can have sessions through the agent, saying why not.
func (s *Service) withAgent(c *Container) error {
	if !s.agentEnabled() {
		return errorf(errNoAgentKind, "container %s has no runsock agent: this control plane runs without it", c.ID)
	}
	if c.Agent.Unavailable != "" {
		return errorf(errNoAgentKind, "container %s has no runsock agent: %s", c.ID, c.Agent.Unavailable)
	}
	return nil
}

// errNoAgentKind is the kind of "no agent" errors: Docker answers 409 for sessions a container cannot have.
var errNoAgentKind = errdefs.ErrConflict
var _ AgentLink = (*agentlink.Hub)(nil)
