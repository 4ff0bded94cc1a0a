package agentlink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc"

	"github.com/runsock/runsock/controlplane/internal/livelogs"
	"github.com/runsock/runsock/linkproto"
)

// AgentCredentials are a container's current run as the control plane recorded it: which execution it is, and what
// its agent proves itself with. Only hashes are kept.
type AgentCredentials struct {
	// Execution is the run's Cloud Run execution ("" while no start has committed: no agent is accepted).
	Execution string
	Run       string // the run's live-output numbering (RUNSOCK_RUN)
	// BootstrapHash is SecretHash of the run's one-time bootstrap (RUNSOCK_AGENT_BOOTSTRAP), until it is claimed.
	BootstrapHash []byte
	// KeyHash is SecretHash of the key the run's agent bound with the bootstrap (nil until then).
	KeyHash        []byte
	ServiceAccount string // the job's service account email; checked against the identity token when verifying
	// Ended: the run in Execution was the container's last and has ended. Its key still proves it, so that its agent
	// can deliver what is left and have its exit acknowledged (a link cut between the record and the ack), but it
	// gets no sessions, and its bootstrap binds nothing.
	Ended bool
}

// CredentialStore keeps the containers' agent credentials (agentsessions.Credentials implements it). An unknown
// container returns an error (any error refuses the agent).
type CredentialStore interface {
	// AgentCredentials returns the container's current run; fresh reads the durable record, otherwise a cache may
	// answer.
	AgentCredentials(ctx context.Context, containerID string, fresh bool) (AgentCredentials, error)
	// ClaimBootstrap binds keyHash to the container's run in execution, in one transaction, if that run is still
	// current, its bootstrap hash is bootstrapHash and no key is bound yet; the bootstrap is spent. Otherwise it
	// fails and changes nothing.
	ClaimBootstrap(ctx context.Context, containerID, execution string, bootstrapHash, keyHash []byte) error
}

// TokenVerifier verifies an identity token for the control plane's audience and returns its email.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (email string, err error)
}

// Options configure a Hub.
type Options struct {
	Credentials CredentialStore // required
	Tokens      TokenVerifier   // nil: identity tokens are not required
	Logs        *livelogs.Store // required
	Log         *slog.Logger    // nil: discard
	// Exits receives every exit an agent reports, after the output before it is durable (nil: exits are not
	// reported). The Hub acknowledges an exit to its agent only once the receiver calls ExitReport.Recorded.
	Exits chan<- ExitReport
	// Overlay is told of agents' links and listening ports, and authorises relayed connections (nil: agents'
	// ports are ignored and no connection is relayed).
	Overlay Overlay
	// Health receives the healthcheck reports of agents (nil: they are dropped).
	Health HealthRecorder
	// ConnectWait is how long a session waits for an agent that is not (yet, or not again) connected. 0 = 5 s.
	ConnectWait time.Duration
	// FirstLinkWait is how long a session waits, at most, for the agent of a run that has started but not linked
	// yet (its bootstrap unclaimed): on Google an execution takes seconds to minutes to start, and an exec right
	// after `docker start` waits for it as Docker's would succeed. 0 = 3 min.
	FirstLinkWait time.Duration
	// BatchDelay is how long output waits for more chunks before it is written (at most 64 KiB per write). 0 = 15 ms.
	BatchDelay time.Duration
}

// ExitReport is an exit an agent reported first-hand: its exact code and time.
type ExitReport struct {
	ContainerID string
	// Execution is the run the report is about (the authenticated stream's): it ends that run and no other.
	Execution string
	Code      int
	// OOMKilled: the agent saw the kernel's OOM killer kill a process of the container (Docker's State.OOMKilled).
	OOMKilled bool
	At        time.Time
	recorded  chan struct{}
}

// Recorded tells the Hub the exit is recorded, so it may acknowledge it to the agent. Call it once.
func (r ExitReport) Recorded() { close(r.recorded) }

// Hub is the agent link server. Create with New, serve with Register.
type Hub struct {
	opts Options
	log  *slog.Logger

	nextSession atomic.Uint64

	mu      sync.Mutex
	agents  map[string]*agentConn
	ended   map[string]*agentConn    // a run's link once its exit is recorded (EndRun): only its capture reaches it
	why     map[string]string        // why an agent is not connected (last link loss)
	waiters map[string]chan struct{} // closed when the container's agent connects
	pending map[uint64]*pendingSession
	closed  bool
}

type agentConn struct {
	id        string
	execution string // the run this link was authenticated for
	hello     linkproto.Hello
	sendMu    sync.Mutex
	ctrl      linkproto.FrameStream
	done      chan struct{}
}

func (a *agentConn) send(f *linkproto.Frame) error {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	return a.ctrl.Send(f)
}

// New returns a Hub.
func New(opts Options) *Hub {
	if opts.ConnectWait == 0 {
		opts.ConnectWait = 5 * time.Second
	}
	if opts.FirstLinkWait == 0 {
		opts.FirstLinkWait = 3 * time.Minute
	}
	if opts.BatchDelay == 0 {
		opts.BatchDelay = 15 * time.Millisecond
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{opts: opts, log: log, agents: map[string]*agentConn{}, ended: map[string]*agentConn{}, why: map[string]string{},
		waiters: map[string]chan struct{}{}, pending: map[uint64]*pendingSession{}}
}

// Register adds the link service to s (the control plane routes application/grpc requests on its listener to s).
func (h *Hub) Register(s *grpc.Server) { s.RegisterService(&linkproto.ServiceDesc, (*server)(h)) }

// IssueSecret makes a new one-time bootstrap secret: pass secret to the agent (RUNSOCK_AGENT_BOOTSTRAP), store only
// hash.
func IssueSecret() (secret string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("agent secret: %w", err)
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, SecretHash(secret), nil
}

// SecretHash is the stored form of a secret. Secrets are 256 random bits, so a plain SHA-256 is enough.
func SecretHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Connected reports whether the container's agent is linked now.
func (h *Hub) Connected(containerID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.agents[containerID]
	return ok
}

// WaitConnected waits until the container's agent is linked or ctx ends.
func (h *Hub) WaitConnected(ctx context.Context, containerID string) error {
	_, err := h.conn(ctx, containerID)
	return err
}

// conn returns the container's link, waiting for it until ctx ends.
func (h *Hub) conn(ctx context.Context, id string) (*agentConn, error) {
	for {
		h.mu.Lock()
		if a, ok := h.agents[id]; ok {
			h.mu.Unlock()
			return a, nil
		}
		w, ok := h.waiters[id]
		if !ok {
			w = make(chan struct{})
			h.waiters[id] = w
		}
		why := h.why[id]
		h.mu.Unlock()
		if why == "" {
			why = "it has not connected"
		}
		select {
		case <-ctx.Done():
			return nil, notConnected(id, why)
		case <-w:
		}
	}
}

// connWithin is conn bounded by ConnectWait: sessions ride out a redial but do not hang on a missing agent. A run
// whose agent has not linked yet is waited for longer, up to FirstLinkWait, as long as its record says it is still
// coming (it has not ended, its bootstrap is unclaimed).
func (h *Hub) connWithin(ctx context.Context, id string) (*agentConn, error) {
	deadline := time.Now().Add(h.opts.FirstLinkWait)
	for {
		wctx, cancel := context.WithTimeout(ctx, h.opts.ConnectWait)
		a, err := h.conn(wctx, id)
		cancel()
		if err == nil {
			return a, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !time.Now().Before(deadline) || !h.firstLinkPending(ctx, id) {
			return nil, err
		}
	}
}

// firstLinkPending reports whether id's current run has started and its agent has not linked yet.
func (h *Hub) firstLinkPending(ctx context.Context, id string) bool {
	cr, err := h.opts.Credentials.AgentCredentials(ctx, id, true)
	return err == nil && cr.Execution != "" && !cr.Ended && len(cr.KeyHash) == 0 && len(cr.BootstrapHash) > 0
}

// SetNotConnectedReason records why a container's agent cannot connect (say, its image could not be wrapped), for
// the error its sessions get.
func (h *Hub) SetNotConnectedReason(containerID, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.why[containerID] = why
}

func (h *Hub) attach(a *agentConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.agents[a.id] = a
	delete(h.ended, a.id)
	delete(h.why, a.id)
	if w, ok := h.waiters[a.id]; ok {
		close(w)
		delete(h.waiters, a.id)
	}
}

func (h *Hub) detach(a *agentConn, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended[a.id] == a {
		delete(h.ended, a.id)
	}
	if h.agents[a.id] == a {
		delete(h.agents, a.id)
		h.why[a.id] = fmt.Sprintf("its link was lost at %s (%v)", time.Now().UTC().Format(time.RFC3339), err)
	}
}

// EndRun forgets the link of container's run in execution, if it is the one linked: the run has ended, so sessions
// must not reach it (nor wait for it to come back) — except the capture of its files, which follows the exit
// (Capture). Its streams stay open until the agent ends them; a late exit report or output of the run is dropped by
// the execution checks it meets.
func (h *Hub) EndRun(containerID, execution string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a, ok := h.agents[containerID]; ok && SameExecution(a.execution, execution) {
		delete(h.agents, containerID)
		h.ended[containerID] = a
		h.why[containerID] = "its execution has ended"
	}
}

// captureConn is the link a capture goes to: the ended run's (its exit is recorded before its files are captured),
// or else the current one.
func (h *Hub) captureConn(ctx context.Context, id string) (*agentConn, error) {
	h.mu.Lock()
	a := h.ended[id]
	h.mu.Unlock()
	if a != nil {
		return a, nil
	}
	return h.connWithin(ctx, id)
}

// superseded reports whether another run's agent holds the container's link: the given run's streams have nothing
// more to write.
func (h *Hub) superseded(r agentRun) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.agents[r.id]
	return ok && !SameExecution(a.execution, r.execution)
}

// Forget drops what the Hub remembers about a container (call on docker rm).
func (h *Hub) Forget(containerID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.ended, containerID)
	delete(h.why, containerID)
}

// Drain asks every connected agent to redial (the control plane is shutting down; a new instance takes over).
func (h *Hub) Drain() {
	h.mu.Lock()
	h.closed = true
	conns := make([]*agentConn, 0, len(h.agents))
	for _, a := range h.agents {
		conns = append(conns, a)
	}
	h.mu.Unlock()
	for _, a := range conns {
		_ = a.send(&linkproto.Frame{Type: linkproto.FrameGoAway})
	}
}

// agentError carries the agent's (Docker-worded) message and our error kind.
type agentError struct {
	msg  string
	kind error
}

func (e *agentError) Error() string { return e.msg }
func (e *agentError) Unwrap() error { return e.kind }

func notConnected(id, why string) error {
	return &agentError{msg: fmt.Sprintf("container %s has no runsock agent connected: %s", id, why), kind: errdefs.ErrConflict}
}

func fromLinkError(e *linkproto.Error) error {
	var kind error = errdefs.ErrInternal
	switch e.Kind {
	case linkproto.ErrKindNotFound:
		kind = errdefs.ErrNotFound
	case linkproto.ErrKindInvalid:
		kind = errdefs.ErrInvalidArgument
	case linkproto.ErrKindConflict:
		kind = errdefs.ErrConflict
	case linkproto.ErrKindPermission:
		kind = errdefs.ErrPermissionDenied
	case linkproto.ErrKindTooLarge:
		kind = errdefs.ErrResourceExhausted
	}
	return &agentError{msg: e.Message, kind: kind}
}
