package agentlink

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/linkproto"
)

// DockerAPI is what the Hub needs to serve a container's Docker socket (dockersock.Server, through main's adapter).
type DockerAPI interface {
	// Admit decides from the container's record whether its owner granted it their Docker API (it mounts the
	// Docker socket) and returns what serves one connection as that owner; an error refuses the connection. The
	// agent's say-so counts for nothing: it has only proved which container's run it is.
	Admit(ctx context.Context, containerID string) (serve func(net.Conn), err error)
}

// dockerAPI serves one Docker API connection an agent accepted on its container's Docker socket (linkproto.Dial with
// DockerAPI): admitted by Options.DockerAPI from the container's record, then carried as a net.Conn until either
// side closes it.
func (h *Hub) dockerAPI(st linkproto.FrameStream, r agentRun, first *linkproto.Frame) error {
	fail := func(kind, msg string) error {
		return st.Send(&linkproto.Frame{Type: linkproto.FrameError, Meta: linkproto.EncodeMeta(&linkproto.Error{Kind: kind, Message: msg})})
	}
	ctx := st.Context()
	if r.ended || h.opts.DockerAPI == nil {
		h.log.Warn("docker socket connection refused", "container", r.id, "reason", "ended run or no Docker API here")
		return fail(linkproto.ErrKindPermission, "this container has no Docker API")
	}
	serve, err := h.opts.DockerAPI.Admit(ctx, r.id)
	if err != nil {
		h.log.Warn("docker socket connection refused", "container", r.id, "err", err)
		kind := linkproto.ErrKindInternal
		if errdefs.IsPermissionDenied(err) || errdefs.IsNotFound(err) {
			kind = linkproto.ErrKindPermission
		}
		return fail(kind, err.Error())
	}
	flow := linkproto.NewFlow(st, first.Code, linkproto.Window)
	conn := newSocketConn(newQueued(flow), r.id)
	defer conn.Close()
	if err := flow.Send(&linkproto.Frame{Type: linkproto.FrameStarted, Code: linkproto.Window}); err != nil {
		return err
	}
	serve(conn)
	select {
	case <-conn.closed:
	case <-ctx.Done():
		return nil
	}
	return flow.Send(&linkproto.Frame{Type: linkproto.FrameResult})
}

// socketConn is a Docker API client's connection carried on a link stream, as an HTTP server takes it: Data frames
// are its bytes, a Close frame its half-close (EOF to the reader; CloseWrite sends one), and read deadlines work as
// net.Conn's do (the HTTP server interrupts its background read with one before it hands a connection to a hijacking
// handler). Write deadlines are not kept: a write waits for the agent's credit, and ends when the stream does.
type socketConn struct {
	in        *queued
	container string
	readMu    sync.Mutex // one reader at a time owns rest
	rest      []byte
	eof       bool

	mu        sync.Mutex
	deadline  time.Time
	dlChanged chan struct{} // closed and replaced when the read deadline changes

	closeOnce, cwOnce sync.Once
	closed            chan struct{}
}

func newSocketConn(in *queued, container string) *socketConn {
	return &socketConn{in: in, container: container, dlChanged: make(chan struct{}), closed: make(chan struct{})}
}

func (c *socketConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for len(c.rest) == 0 {
		if c.eof {
			return 0, io.EOF
		}
		var f linkproto.Frame
		if err := c.recv(&f); err != nil {
			return 0, err
		}
		switch f.Type {
		case linkproto.FrameData:
			c.rest = f.Data
		case linkproto.FrameClose:
			c.eof = true
		}
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	_ = c.in.flow.Consumed(n) // a failed grant means the stream broke: the next recv says so
	return n, nil
}

// recv waits for the next frame, the read deadline, or Close.
func (c *socketConn) recv(f *linkproto.Frame) error {
	for {
		select {
		case <-c.closed:
			return net.ErrClosed
		default:
		}
		ok, more, err := c.in.tryRecv(f)
		if ok || err != nil {
			return err
		}
		c.mu.Lock()
		dl, changed := c.deadline, c.dlChanged
		c.mu.Unlock()
		var expire <-chan time.Time
		var timer *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			expire = timer.C
		}
		select {
		case <-more:
		case <-changed:
		case <-expire:
		case <-c.closed:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

func (c *socketConn) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		select {
		case <-c.closed:
			return n, net.ErrClosed
		default:
		}
		k := min(len(p), linkproto.MaxChunk)
		if err := c.in.flow.Send(&linkproto.Frame{Type: linkproto.FrameData, Data: p[:k]}); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// CloseWrite half-closes: the client reads EOF, and may still write (a hijacked attach ending its output).
func (c *socketConn) CloseWrite() error {
	err := net.ErrClosed
	c.cwOnce.Do(func() { err = c.in.flow.Send(&linkproto.Frame{Type: linkproto.FrameClose}) })
	return err
}

// Close ends the connection: the Hub then ends the stream, and the agent closes the client's connection.
func (c *socketConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

func (c *socketConn) LocalAddr() net.Addr { return socketAddr("runsock") }

// RemoteAddr names the container whose socket the client used.
func (c *socketConn) RemoteAddr() net.Addr { return socketAddr("container:" + c.container) }

func (c *socketConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *socketConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	close(c.dlChanged)
	c.dlChanged = make(chan struct{})
	return nil
}

func (c *socketConn) SetWriteDeadline(time.Time) error { return nil }

type socketAddr string

func (a socketAddr) Network() string { return "unix" }
func (a socketAddr) String() string  { return string(a) }

// tryRecv returns the next queued frame (ok), the stream's end once the queue is empty, or, with neither, a channel
// closed when that changes.
func (q *queued) tryRecv(f *linkproto.Frame) (ok bool, more <-chan struct{}, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		if q.err == nil {
			return false, q.more, nil
		}
		if errors.Is(q.err, io.EOF) {
			return false, nil, io.ErrUnexpectedEOF
		}
		return false, nil, q.err
	}
	*f = q.queue[0]
	q.queue[0] = linkproto.Frame{}
	q.queue = q.queue[1:]
	return true, nil, nil
}
