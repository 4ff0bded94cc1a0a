package hijack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types"
	"github.com/runsock/runsock/localproxy/internal/resume"
	"github.com/runsock/runsock/proxyproto"
)

// maxStartBody caps the exec-start JSON read before hijacking.
const maxStartBody = 1 << 20

var (
	attachPath    = regexp.MustCompile(`^(/v[0-9.]+)?/containers/[^/]+/attach$`)
	execStartPath = regexp.MustCompile(`^(/v[0-9.]+)?/exec/[^/]+/start$`)
)

// Upstream sends a request (URL already pointing at the control plane) with the caller's identity.
type Upstream interface {
	RoundTrip(*http.Request) (*http.Response, error)
}

// Handler serves hijacked endpoints.
type Handler struct {
	up     Upstream
	target func(path, rawQuery string) string
	log    *slog.Logger

	ctx    context.Context // ends at Close: the parent of every stream's upstream request
	cancel context.CancelFunc
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewHandler returns a Handler sending to up; target maps a local path and query to the upstream URL.
func NewHandler(up Upstream, target func(path, rawQuery string) string, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Handler{up: up, target: target, log: log, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
}

// Match reports whether r is a hijacking request and returns its body, already read (for exec start, whose JSON
// decides; nil otherwise). When it is not a hijack, the caller must forward r with the returned body.
func Match(r *http.Request) (hijack bool, body []byte, err error) {
	if r.Method != http.MethodPost {
		return false, nil, nil
	}
	if attachPath.MatchString(r.URL.Path) {
		return true, nil, nil
	}
	if !execStartPath.MatchString(r.URL.Path) {
		return false, nil, nil
	}
	body, err = io.ReadAll(io.LimitReader(r.Body, maxStartBody))
	if err != nil {
		return false, nil, fmt.Errorf("reading exec start body: %w", err)
	}
	var start struct{ Detach bool }
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &start); err != nil {
			return false, body, nil // let the control plane say what is wrong
		}
	}
	return !start.Detach, body, nil
}

// Serve carries r (a hijacking request whose body prefix was already read) as one full-duplex upstream request.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, prefix []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeError(w, http.StatusInternalServerError, "localproxy: connection cannot be hijacked")
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		h.log.Error("hijack", "err", err)
		return
	}
	if !h.track(conn) {
		conn.Close()
		return
	}
	defer h.untrack(conn)
	defer conn.Close()
	h.stream(r, conn, brw.Reader, brw, prefix)
}

// stream carries one hijack: stdin from in, output to conn. brw is the hijacked HTTP/1.1 connection to answer on
// (nil for a WebSocket, already answered: then a multiplexed output is taken apart, as Docker's WebSocket attach
// never multiplexes).
func (h *Handler) stream(r *http.Request, conn net.Conn, input io.Reader, brw *bufio.ReadWriter, prefix []byte) {
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	// An attach can be resumed after the request timeout cuts it, stdin included: its stdin is kept until the
	// control plane acknowledges it, to be sent again from there.
	in := resume.NewStdinLog(&stdin{r: input}, attachPath.MatchString(r.URL.Path))
	defer in.Close()
	send := func(ctx context.Context, token, pos string) (*http.Response, error) {
		// The transport closes the body when the stream ends (and waits for its writer): the stdin reader must
		// hear it, or it would wait for the client's next keystroke.
		var at int64
		first := prefix
		if token != "" { // a resumed attach: no JSON prefix, stdin from the first byte not acknowledged
			at, first = in.Acked(), nil
		}
		rd := in.Reader(at)
		body := struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(first), rd), rd}
		req, err := http.NewRequestWithContext(ctx, r.Method, h.target(r.URL.Path, r.URL.RawQuery), body)
		if err != nil {
			return nil, err
		}
		resume.CopyHeaders(req.Header, r.Header)
		req.Header.Set(proxyproto.StdinOffsetHeader, strconv.Itoa(len(first)))
		if token != "" {
			req.Header.Set(proxyproto.StdinAtHeader, strconv.FormatInt(at, 10))
		}
		resume.SetResume(req.Header, token, pos)
		req.ContentLength = -1
		return h.up.RoundTrip(req)
	}
	resp, err := send(ctx, "", "")
	if err != nil {
		h.log.Warn("hijack: upstream", "path", r.URL.Path, "err", err)
		if brw != nil {
			writeRaw(brw, conn, http.StatusBadGateway, "localproxy: control plane: "+err.Error())
		}
		return
	}
	defer func() { resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSwitchingProtocols {
		if brw != nil {
			passError(brw, conn, resp)
		} else {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			h.log.Warn("websocket attach refused", "path", r.URL.Path, "status", resp.StatusCode, "body", string(b))
		}
		return
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = types.MediaTypeRawStream
	}
	var out io.Writer = conn
	if brw != nil {
		status := "HTTP/1.1 200 OK\r\n"
		if strings.EqualFold(r.Header.Get("Upgrade"), "tcp") {
			status = "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
		}
		fmt.Fprintf(brw, "%sContent-Type: %s\r\n\r\n", status, ct)
		if err := brw.Flush(); err != nil {
			return
		}
	} else if ct == types.MediaTypeMultiplexedStream {
		out = &demux{w: conn}
	}
	if resp.Header.Get(proxyproto.Framed) != "1" { // a control plane that does not frame: Docker's bytes as they come
		in.Keep(false)
		if _, err := io.Copy(out, resp.Body); err != nil && !errors.Is(err, net.ErrClosed) {
			h.log.Debug("hijack: output ended", "path", r.URL.Path, "err", err)
		}
		CloseWrite(conn)
		return
	}
	err = resume.Run(ctx, out, nil, resp, send, resume.Options{OnAck: in.Ack, Path: r.URL.Path, Log: h.log})
	if errors.Is(err, resume.ErrCut) {
		h.log.Warn("hijack: stream cut", "path", r.URL.Path, "err", err)
		if brw != nil {
			conn.Write(cutMessage(ct))
		}
	}
	CloseWrite(conn)
}

// cutMessage tells the user, in the stream's own format, that the session was cut (an exec cannot be resumed).
func cutMessage(ctype string) []byte {
	msg := "\r\nrunsock: this session reached Cloud Run's request timeout (at most 60 minutes) and was ended; " +
		"exec sessions cannot outlive it, start a new one\r\n"
	if ctype != types.MediaTypeMultiplexedStream {
		return []byte(msg)
	}
	b := make([]byte, 8, 8+len(msg))
	b[0] = 2 // stderr
	binary.BigEndian.PutUint32(b[4:], uint32(len(msg)))
	return append(b, msg...)
}

// stdin reads the client's stdin from the hijacked connection (including bytes its bufio.Reader already holds).
// The client's half-close reads as EOF, which ends the upstream request body.
type stdin struct{ r io.Reader }

func (s *stdin) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = io.EOF // the connection went away: stdin is over either way
	}
	return n, err
}

// CloseWrite half-closes conn when it supports it.
func CloseWrite(conn net.Conn) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// passError relays an upstream error response as a normal HTTP/1.1 response.
func passError(brw *bufio.ReadWriter, conn net.Conn, resp *http.Response) {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	fmt.Fprintf(brw, "HTTP/1.1 %03d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		resp.StatusCode, http.StatusText(resp.StatusCode), ct, len(b))
	brw.Write(b)
	brw.Flush()
	CloseWrite(conn)
}

func writeRaw(brw *bufio.ReadWriter, conn net.Conn, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	fmt.Fprintf(brw, "HTTP/1.1 %03d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		status, http.StatusText(status), len(b))
	brw.Write(b)
	brw.Flush()
	CloseWrite(conn)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (h *Handler) track(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	return true
}

func (h *Handler) untrack(c net.Conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	h.wg.Done()
}

// Close ends every hijacked stream and waits for them (http.Server.Shutdown does not). Idempotent.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	h.cancel() // a stream still waiting for the control plane's answer ends too
	for c := range h.conns {
		_ = c.SetDeadline(time.Now())
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}
