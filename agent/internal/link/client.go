package link

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/runsock/runsock/agent/internal/output"
	"github.com/runsock/runsock/linkproto"
)

// Clock is the time the redial loop waits on; tests inject their own.
type Clock interface {
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SessionServer serves one session on its stream.
type SessionServer interface {
	Serve(ctx context.Context, spec linkproto.OpenSpec, st linkproto.FrameStream) error
}

// Config configures a Client.
type Config struct {
	URL         string // https:// (TLS) or http:// (h2c)
	CAPEM       string // optional CA for TLS; default the system roots
	Audience    string // identity token audience; default URL
	ContainerID string
	// Execution is the Cloud Run execution the agent runs in (CLOUD_RUN_EXECUTION).
	Execution string
	// Bootstrap is the start's one-time bootstrap secret: sent until the first link is accepted, never after.
	Bootstrap string
	Run       string
	Version   string
	// Token returns an identity token for the audience; nil when there is no metadata server. Tokens are cached
	// and refreshed RefreshMargin before they expire.
	Token func(ctx context.Context, audience string) (string, error)
	// Now is the clock of the token cache (nil = time.Now).
	Now      func() time.Time
	Buffer   *output.Buffer
	Sessions SessionServer
	Clock    Clock        // nil: real time
	Log      *slog.Logger // nil: discard
	// OnConnect is called after each successful hello (may be nil).
	OnConnect func()
	// OnPeers receives each Peers frame: the container's network peers, whole (may be nil).
	OnPeers func([]linkproto.Peer)
}

// Client is the agent's link. Create with New, run with Run.
type Client struct {
	cfg Config
	cc  *grpc.ClientConn
	log *slog.Logger
	// key is the agent's own credential, made here and held only in this process's memory: the control plane
	// binds it to the execution on the first link (with the bootstrap) and accepts only it from then on.
	key string
	// bound is set once a link was accepted: the bootstrap is spent, redials prove themselves with key alone.
	bound atomic.Bool

	exitOnce  sync.Once
	exitAcked chan struct{}
	sessions  sync.WaitGroup

	ctrlMu sync.Mutex
	ctrl   linkproto.ClientStream // the current link's control stream (nil between links)
	sctx   context.Context        // the current link's session context
}

// New prepares the connection; it does not dial yet.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("link: bad control plane URL %q", cfg.URL)
	}
	var creds credentials.TransportCredentials
	switch u.Scheme {
	case "http":
		creds = insecure.NewCredentials()
	case "https":
		tc := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		if cfg.CAPEM != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(cfg.CAPEM)) {
				return nil, errors.New("link: no certificate in the CA PEM")
			}
			tc.RootCAs = pool
		}
		creds = credentials.NewTLS(tc)
	default:
		return nil, fmt.Errorf("link: URL scheme %q: want http or https", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host += map[string]string{"http": ":80", "https": ":443"}[u.Scheme]
	}
	if cfg.Audience == "" {
		cfg.Audience = cfg.URL
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
	}
	if cfg.Token != nil {
		if cfg.Now == nil {
			cfg.Now = time.Now
		}
		opts = append(opts, grpc.WithPerRPCCredentials(serverlessAuth{&tokenCache{fetch: cfg.Token, audience: cfg.Audience, now: cfg.Now}}))
	}
	cc, err := grpc.NewClient("passthrough:///"+host, opts...)
	if err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key := make([]byte, 32)
	if _, err := crand.Read(key); err != nil {
		return nil, fmt.Errorf("link: agent key: %w", err)
	}
	return &Client{cfg: cfg, cc: cc, log: log, key: base64.RawURLEncoding.EncodeToString(key), exitAcked: make(chan struct{})}, nil
}

// ExitAcked is closed once the control plane has acknowledged the exit report (and so all output before it).
func (c *Client) ExitAcked() <-chan struct{} { return c.exitAcked }

// Backoff delays between redials: 100 ms doubling to 5 s, with ±20% jitter.
func Backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 6)
	d = min(d, 5*time.Second)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Run keeps a link up until ctx ends, then waits for sessions to end and closes the connection.
func (c *Client) Run(ctx context.Context) {
	defer func() {
		c.cc.Close()
		c.sessions.Wait()
	}()
	attempt := 0
	for ctx.Err() == nil {
		established, err := c.link(ctx)
		if ctx.Err() != nil {
			return
		}
		// The control plane accepted the link but says the container runs another execution now (this run has
		// been replaced): redialing at once would only ask again, so back off as if refused.
		if established && status.Code(err) != codes.FailedPrecondition {
			attempt = 0
		}
		delay := Backoff(attempt)
		if errors.Is(err, errGoAway) {
			delay = 0
		}
		attempt++
		c.log.Warn("agent link ended; redialing", "error", err, "delay", delay)
		select {
		case <-ctx.Done():
			return
		case <-c.cfg.Clock.After(delay):
		}
	}
}

var errGoAway = errors.New("control plane asked the agent to redial")

// authContext carries the container's credentials on every stream of this link: the container, the execution and
// the agent's key, plus the bootstrap until a link has been accepted. The identity token is added per stream by the
// connection's per-RPC credentials (serverlessAuth).
func (c *Client) authContext(ctx context.Context) context.Context {
	kv := []string{linkproto.MDContainerID, c.cfg.ContainerID, linkproto.MDExecution, c.cfg.Execution, linkproto.MDKey, c.key}
	if !c.bound.Load() && c.cfg.Bootstrap != "" {
		kv = append(kv, linkproto.MDBootstrap, c.cfg.Bootstrap)
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

// link runs one link until it breaks. established reports whether the control plane accepted the hello.
func (c *Client) link(ctx context.Context) (established bool, err error) {
	sctx := c.authContext(ctx) // sessions live on this; they are not cut with the link's streams
	lctx, cancel := context.WithCancel(sctx)
	defer cancel()
	ctrl, err := linkproto.Open(lctx, c.cc, linkproto.MethodControl)
	if err != nil {
		return false, err
	}
	hello := linkproto.Hello{AgentVersion: c.cfg.Version, PID: os.Getpid(), Run: c.cfg.Run, StartedAt: time.Now()}
	if err := ctrl.Send(&linkproto.Frame{Type: linkproto.FrameHello, Meta: linkproto.EncodeMeta(hello)}); err != nil {
		return false, fmt.Errorf("send hello: %w", err)
	}
	var f linkproto.Frame
	if err := ctrl.Recv(&f); err != nil {
		return false, fmt.Errorf("hello: %w", err)
	}
	c.bound.Store(true)
	c.ctrlMu.Lock()
	c.ctrl, c.sctx = ctrl, sctx
	c.ctrlMu.Unlock()
	defer func() {
		c.ctrlMu.Lock()
		c.ctrl = nil
		c.ctrlMu.Unlock()
	}()
	if c.cfg.OnConnect != nil {
		c.cfg.OnConnect()
	}
	out, err := linkproto.Open(lctx, c.cc, linkproto.MethodOutput)
	if err != nil {
		return true, err
	}
	errc := make(chan error, 3)
	go func() { errc <- c.control(sctx, ctrl) }()
	go func() { errc <- c.sendOutput(lctx, out) }()
	go func() { errc <- c.recvAcks(out) }()
	err = <-errc
	cancel()
	return true, err
}

// control reads Open and GoAway frames.
func (c *Client) control(sctx context.Context, ctrl linkproto.ClientStream) error {
	var f linkproto.Frame
	for {
		if err := ctrl.Recv(&f); err != nil {
			return fmt.Errorf("control stream: %w", err)
		}
		switch f.Type {
		case linkproto.FrameGoAway:
			return errGoAway
		case linkproto.FramePeers:
			var p linkproto.Peers
			if err := linkproto.DecodeMeta(f.Meta, &p); err != nil {
				c.log.Error("bad peers frame", "error", err)
				continue
			}
			if c.cfg.OnPeers != nil {
				c.cfg.OnPeers(p.Peers)
			}
		case linkproto.FrameOpen:
			var spec linkproto.OpenSpec
			if err := linkproto.DecodeMeta(f.Meta, &spec); err != nil {
				c.log.Error("bad open frame", "error", err)
				continue
			}
			c.sessions.Add(1)
			go func(id uint64) {
				defer c.sessions.Done()
				c.session(sctx, id, spec)
			}(f.Seq)
		}
	}
}

var errNoLink = errors.New("link: not linked")

// SendPorts reports the container's listening TCP ports on the current link.
func (c *Client) SendPorts(ports []int) error {
	c.ctrlMu.Lock()
	defer c.ctrlMu.Unlock()
	if c.ctrl == nil {
		return errNoLink
	}
	if ports == nil {
		ports = []int{}
	}
	return c.ctrl.Send(&linkproto.Frame{Type: linkproto.FramePorts, Meta: linkproto.EncodeMeta(linkproto.Ports{TCP: ports})})
}

// SendHealth reports the container's health (after a probe, and after every hello) on the current link. Without a
// link it is dropped: the next hello sends the health as it is then.
func (c *Client) SendHealth(h linkproto.Health) error {
	c.ctrlMu.Lock()
	defer c.ctrlMu.Unlock()
	if c.ctrl == nil {
		return errNoLink
	}
	return c.ctrl.Send(&linkproto.Frame{Type: linkproto.FrameHealth, Meta: linkproto.EncodeMeta(h)})
}

// Dial opens a relayed connection to port in the peer ref (linkproto.Dial): one new stream on the link, answered
// Started once the peer's agent has connected. end closes the stream; call it once done.
func (c *Client) Dial(ctx context.Context, ref string, port int) (st linkproto.FrameStream, end func(), err error) {
	c.ctrlMu.Lock()
	sctx := c.sctx
	linked := c.ctrl != nil
	c.ctrlMu.Unlock()
	if !linked {
		return nil, nil, errNoLink
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(sctx, cancel) // the link's credentials ride on sctx; it ends with the agent
	ctx = metadata.NewOutgoingContext(ctx, mdOf(sctx))
	cs, err := linkproto.Open(ctx, c.cc, linkproto.MethodSession)
	if err != nil {
		stop()
		cancel()
		return nil, nil, err
	}
	fail := func(err error) (linkproto.FrameStream, func(), error) {
		stop()
		cancel()
		return nil, nil, err
	}
	meta := linkproto.EncodeMeta(linkproto.Dial{Ref: ref, Port: port})
	if err := cs.Send(&linkproto.Frame{Type: linkproto.FrameSession, Seq: 0, Code: linkproto.Window, Meta: meta}); err != nil {
		return fail(err)
	}
	var f linkproto.Frame
	if err := cs.Recv(&f); err != nil {
		return fail(err)
	}
	switch f.Type {
	case linkproto.FrameStarted:
	case linkproto.FrameError:
		var e linkproto.Error
		_ = linkproto.DecodeMeta(f.Meta, &e)
		return fail(&e)
	default:
		return fail(fmt.Errorf("link: dial answered with frame %d", f.Type))
	}
	rs := newRecvStream(linkproto.NewFlow(cs, f.Code, linkproto.Window))
	return rs, func() {
		rs.close()
		_ = cs.CloseSend()
		select {
		case <-rs.done:
		case <-time.After(5 * time.Second):
		}
		stop()
		cancel()
	}, nil
}

func mdOf(ctx context.Context) metadata.MD {
	md, _ := metadata.FromOutgoingContext(ctx)
	return md
}

func (c *Client) session(ctx context.Context, id uint64, spec linkproto.OpenSpec) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := linkproto.Open(ctx, c.cc, linkproto.MethodSession)
	if err != nil {
		c.log.Warn("open session stream", "session", id, "error", err)
		return
	}
	// Code declares our receive window; the control plane declared its own in spec.Window.
	if err := st.Send(&linkproto.Frame{Type: linkproto.FrameSession, Seq: id, Code: linkproto.Window}); err != nil {
		return
	}
	rs := newRecvStream(linkproto.NewFlow(st, spec.Window, linkproto.Window))
	if err := c.cfg.Sessions.Serve(ctx, spec, rs); err != nil {
		c.log.Warn("session", "session", id, "kind", spec.Kind, "error", err)
	}
	rs.close()
	_ = st.CloseSend()
	// Let the control plane end the stream, so the last frames are not cut off by the cancel; bounded.
	select {
	case <-rs.done:
	case <-time.After(10 * time.Second):
	}
}

// recvStream is a session stream whose frames are read by one goroutine of its own, so a session may stop reading
// at any time while the stream is still drained to its end afterwards, and the control plane's credits arrive
// while the session is busy elsewhere (say, blocked writing to a process's stdin while its output waits for
// credit). With flow control the reader queues what arrives (the control plane's sends stay within our window);
// without it (an older control plane) it hands over one frame at a time, as the only back-pressure there is.
type recvStream struct {
	flow *linkproto.Flow
	done chan struct{} // the reader has ended

	mu      sync.Mutex
	more    chan struct{} // closed and replaced when the queue grows, shrinks or ends
	queue   []linkproto.Frame
	err     error // the stream's end, once the queue is drained
	stopped bool  // the session no longer reads: discard
}

func newRecvStream(flow *linkproto.Flow) *recvStream {
	r := &recvStream{flow: flow, done: make(chan struct{}), more: make(chan struct{})}
	go r.read(flow.Enabled())
	return r
}

func (r *recvStream) read(queue bool) {
	defer close(r.done)
	for {
		var f linkproto.Frame
		err := r.flow.Recv(&f)
		r.mu.Lock()
		if err != nil {
			r.err = err
			r.changed()
			r.mu.Unlock()
			return
		}
		if !r.stopped {
			f.Meta, f.Data = append([]byte(nil), f.Meta...), append([]byte(nil), f.Data...)
			r.queue = append(r.queue, f)
			r.changed()
		}
		for !queue && len(r.queue) > 0 && !r.stopped {
			more := r.more
			r.mu.Unlock()
			<-more
			r.mu.Lock()
		}
		r.mu.Unlock()
	}
}

// changed wakes whoever waits on the queue; r.mu is held.
func (r *recvStream) changed() {
	close(r.more)
	r.more = make(chan struct{})
}

// close stops the session's reading: the reader discards the rest.
func (r *recvStream) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	r.queue = nil
	r.changed()
}

func (r *recvStream) Context() context.Context { return r.flow.Stream().Context() }

func (r *recvStream) Send(f *linkproto.Frame) error { return r.flow.Send(f) }

// Recv returns the next queued frame; its Data is granted back to the control plane as it leaves the queue (the
// session holds one frame at a time).
func (r *recvStream) Recv(f *linkproto.Frame) error {
	r.mu.Lock()
	for len(r.queue) == 0 && r.err == nil {
		more := r.more
		r.mu.Unlock()
		<-more
		r.mu.Lock()
	}
	if len(r.queue) == 0 {
		err := r.err
		r.mu.Unlock()
		return err
	}
	*f = r.queue[0]
	r.queue[0] = linkproto.Frame{}
	r.queue = r.queue[1:]
	r.changed()
	r.mu.Unlock()
	_ = r.flow.Consumed(len(f.Data)) // a failed grant means the stream broke: the next Recv says so
	return nil
}

// sendOutput streams chunks after the last ack, then the exit report.
func (c *Client) sendOutput(ctx context.Context, out linkproto.ClientStream) error {
	hello := linkproto.OutputHello{Run: c.cfg.Run}
	if err := out.Send(&linkproto.Frame{Type: linkproto.FrameHello, Meta: linkproto.EncodeMeta(hello)}); err != nil {
		return err
	}
	sent := c.cfg.Buffer.Acked()
	for {
		chunks, exit, err := c.cfg.Buffer.Next(ctx, sent)
		if err != nil {
			return err
		}
		for _, ch := range chunks {
			f := &linkproto.Frame{Type: linkproto.FrameChunk, Stream: ch.Stream, Seq: ch.Seq, Time: ch.Time.UnixNano(), Data: ch.Data}
			if err := out.Send(f); err != nil {
				return fmt.Errorf("send output: %w", err)
			}
			sent = ch.Seq
		}
		if exit != nil {
			f := &linkproto.Frame{Type: linkproto.FrameExit, Code: int64(exit.Code), Time: exit.At.UnixNano(), Seq: sent}
			if exit.OOMKilled {
				f.Meta = linkproto.EncodeMeta(linkproto.ExitInfo{OOMKilled: true})
			}
			if err := out.Send(f); err != nil {
				return fmt.Errorf("send exit: %w", err)
			}
			<-ctx.Done()
			return ctx.Err()
		}
	}
}

func (c *Client) recvAcks(out linkproto.ClientStream) error {
	var f linkproto.Frame
	for {
		if err := out.Recv(&f); err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("output stream closed by the control plane")
			}
			return fmt.Errorf("output stream: %w", err)
		}
		if f.Type != linkproto.FrameAck {
			continue
		}
		c.cfg.Buffer.Ack(f.Seq)
		if f.Code == 1 {
			c.exitOnce.Do(func() { close(c.exitAcked) })
		}
	}
}
