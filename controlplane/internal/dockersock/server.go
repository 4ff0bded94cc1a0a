package dockersock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// Records reads a container's record (the store).
type Records interface {
	GetContainer(ctx context.Context, id string) (*containers.Container, error)
}

// Options configure a Server.
type Options struct {
	Records Records // required
	// Handler is the Docker API as the control plane serves it, without the identity middleware: every request
	// carries the owner's Principal in its context.
	Handler http.Handler
	// Authorize turns the owner's email into a Principal as the identity middleware would (nil: every owner is
	// allowed, as with identity mode none). Whatever it says, the Principal is never an admin's.
	Authorize func(email string) (identity.Principal, error)
	Log       *slog.Logger // nil: discard
}

// Server admits and serves containers' Docker socket connections. Create with New, end with Close.
type Server struct {
	o   Options
	log *slog.Logger
	srv *http.Server
	ln  *connListener
	wg  sync.WaitGroup
}

// New starts the Server's HTTP server.
func New(o Options) *Server {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, log: log, ln: newConnListener()}
	s.srv = &http.Server{Handler: o.Handler, ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if oc, ok := c.(*ownedConn); ok {
				return identity.WithPrincipal(ctx, oc.p)
			}
			return ctx
		}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(s.ln) // ends with Close
	}()
	return s
}

// Admit decides whether container id's owner granted it their Docker API: its record must mount the Docker socket
// (containers.Container.DockerSockets) and its owner must still be allowed. It returns what serves one connection
// as the owner. A container without the mount is refused with errdefs.ErrPermissionDenied.
func (s *Server) Admit(ctx context.Context, id string) (func(net.Conn), error) {
	c, err := s.o.Records.GetContainer(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("docker socket of container %s: %w", id, err)
	}
	if len(c.DockerSockets()) == 0 {
		return nil, fmt.Errorf("%w: container %s was not created with the Docker socket mounted: it has no Docker API", errdefs.ErrPermissionDenied, id)
	}
	p := identity.Principal{Email: c.Owner}
	if s.o.Authorize != nil {
		if p, err = s.o.Authorize(c.Owner); err != nil {
			return nil, fmt.Errorf("docker socket of container %s: its owner: %w", id, err)
		}
	}
	p.Admin = false // the grant is the owner's own objects, never an admin's reach into others'
	return func(conn net.Conn) { s.ln.push(&ownedConn{Conn: conn, p: p}) }, nil
}

// Close ends the HTTP server and every connection it serves (hijacked ones end with their streams).
func (s *Server) Close() error {
	err := s.srv.Close()
	s.ln.Close()
	s.wg.Wait()
	return err
}

// ownedConn is a socket connection with the Principal its requests act as.
type ownedConn struct {
	net.Conn
	p identity.Principal
}

// CloseWrite half-closes the connection (a hijacked attach's end of output) when the carried one can.
func (c *ownedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// connListener hands admitted connections to the HTTP server.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the server, or closes it once the listener is closed.
func (l *connListener) push(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return addr{} }

type addr struct{}

func (addr) Network() string { return "unix" }
func (addr) String() string  { return "runsock-docker-socket" }
