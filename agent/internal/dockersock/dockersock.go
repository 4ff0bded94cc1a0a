package dockersock

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/runsock/runsock/linkproto"
)

// Link is what the socket needs of the agent's link (*link.Client).
type Link interface {
	// DialDockerAPI opens a stream for one Docker API connection, waiting at most wait for a link to be up.
	DialDockerAPI(ctx context.Context, wait time.Duration) (linkproto.FrameStream, func(), error)
}

// Options configure a Server.
type Options struct {
	Paths []string // where to serve the socket (EnvDockerSocket)
	Link  Link
	Log   *slog.Logger
	// LinkWait bounds how long a connection waits for the agent's link (0 = 60 s): a process may connect before
	// the first link is up.
	LinkWait time.Duration
}

// Server serves the Docker socket at each path. Create with Listen, end with Close.
type Server struct {
	o    Options
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu    sync.Mutex
	lns   []net.Listener
	conns map[net.Conn]struct{}
}

// Listen creates the sockets now and serves them until Close. A path where the socket cannot be made (the image's
// user may not write there, or something that is not a socket is in the way) is logged and skipped: the process
// then finds no socket there, as it would find none without the mount.
func Listen(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.LinkWait == 0 {
		o.LinkWait = 60 * time.Second
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{o: o, log: o.Log, ctx: ctx, stop: stop, conns: map[net.Conn]struct{}{}}
	for _, p := range o.Paths {
		ln, err := listen(p)
		if err != nil {
			s.log.Warn("docker socket not served", "path", p, "err", err)
			continue
		}
		s.lns = append(s.lns, ln)
		s.wg.Add(1)
		go s.accept(ln)
	}
	return s
}

// listen makes the socket at path: its parent directories if missing, a stale socket replaced, mode 0666 so that
// every process of the container may use it (on Docker the socket is root's and the docker group's; here the grant
// is the container's as a whole).
func listen(path string) (net.Listener, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("socket path %q is not absolute", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("docker socket accept", "err", err)
			}
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c.(*net.UnixConn))
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// serve carries one connection to the control plane, or answers the refusal itself.
func (s *Server) serve(c *net.UnixConn) {
	defer c.Close()
	st, end, err := s.o.Link.DialDockerAPI(s.ctx, s.o.LinkWait)
	if err != nil {
		s.log.Info("docker socket connection refused", "err", err)
		refuse(c, err)
		return
	}
	defer end()
	relay(c, st)
}

// refuse answers the client's first request with a Docker-style error, so the docker CLI says why: 403 when the
// control plane refused the container (no grant), 503 when no link was up.
func refuse(c *net.UnixConn, cause error) {
	status, msg := http.StatusServiceUnavailable, "runsock: the Docker API is not reachable through this socket: "+cause.Error()
	var le *linkproto.Error
	if errors.As(cause, &le) && le.Kind == linkproto.ErrKindPermission {
		status = http.StatusForbidden
		msg = "runsock: this container has no Docker API: " + le.Message
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
		req.Body.Close()
	}
	body, _ := json.Marshal(map[string]string{"message": msg})
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}

// relay copies the client's bytes to the stream and the stream's to the client, half-closes both ways, and ends
// when the control plane ends the connection (Result) or either side breaks.
func relay(c *net.UnixConn, st linkproto.FrameStream) {
	go func() {
		buf := make([]byte, linkproto.MaxChunk)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if st.Send(&linkproto.Frame{Type: linkproto.FrameData, Data: buf[:n]}) != nil {
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					_ = st.Send(&linkproto.Frame{Type: linkproto.FrameClose})
				}
				return
			}
		}
	}()
	var f linkproto.Frame
	for {
		if err := st.Recv(&f); err != nil {
			return
		}
		switch f.Type {
		case linkproto.FrameData:
			if _, err := c.Write(f.Data); err != nil {
				return
			}
		case linkproto.FrameClose:
			_ = c.CloseWrite()
		case linkproto.FrameResult, linkproto.FrameError:
			return
		}
	}
}

// Close stops serving: the sockets are removed and every connection ends.
func (s *Server) Close() {
	s.stop()
	s.mu.Lock()
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
