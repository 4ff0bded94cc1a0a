package resume

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"

	"github.com/runsock/runsock/proxyproto"
)

var (
	logsPath = regexp.MustCompile(`^(/v[0-9.]+)?/containers/[^/]+/logs$`)
	waitPath = regexp.MustCompile(`^(/v[0-9.]+)?/containers/[^/]+/wait$`)
)

// Match reports whether r is a stream this package carries outside a hijack (logs, wait).
func Match(r *http.Request) bool {
	return (r.Method == http.MethodGet && logsPath.MatchString(r.URL.Path)) ||
		(r.Method == http.MethodPost && waitPath.MatchString(r.URL.Path))
}

// Upstream sends a request (URL already pointing at the control plane) with the caller's identity.
type Upstream interface {
	RoundTrip(*http.Request) (*http.Response, error)
}

// Handler serves logs and wait requests as resumable streams.
type Handler struct {
	up      Upstream
	target  func(path, rawQuery string) string
	onError func(w http.ResponseWriter, r *http.Request, err error) // the control plane could not be reached
	log     *slog.Logger
}

// NewHandler returns a Handler sending to up; target maps a local path and query to the upstream URL; onError
// answers the client when the first request fails.
func NewHandler(up Upstream, target func(path, rawQuery string) string, onError func(http.ResponseWriter, *http.Request, error), log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{up: up, target: target, onError: onError, log: log}
}

// Serve carries r (logs or wait, which have no request body) to the control plane.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request) {
	send := func(ctx context.Context, token, pos string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, r.Method, h.target(r.URL.Path, r.URL.RawQuery), nil)
		if err != nil {
			return nil, err
		}
		CopyHeaders(req.Header, r.Header)
		SetResume(req.Header, token, pos)
		return h.up.RoundTrip(req)
	}
	resp, err := send(r.Context(), "", "")
	if err != nil {
		h.onError(w, r, err)
		return
	}
	defer resp.Body.Close()
	framed := resp.Header.Get(proxyproto.Framed) == "1"
	for k, vs := range resp.Header {
		switch http.CanonicalHeaderKey(k) {
		case proxyproto.Framed, "Content-Length", "Transfer-Encoding", "Connection":
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	rc.Flush()
	if resp.StatusCode != http.StatusOK || !framed {
		io.Copy(flushWriter{w, rc}, resp.Body)
		return
	}
	err = Run(r.Context(), w, rc.Flush, resp, send, Options{Path: r.URL.Path, Log: h.log})
	if err != nil && r.Context().Err() == nil {
		h.log.Warn("stream ended early", "path", r.URL.Path, "err", err)
		if waitPath.MatchString(r.URL.Path) {
			// The CLI reads the wait's body as JSON: a cut wait answers with Docker's error shape.
			b, _ := json.Marshal(map[string]any{"StatusCode": -1, "Error": map[string]string{"Message": "runsock: " + err.Error()}})
			w.Write(append(b, '\n'))
		}
	}
}

type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// SetResume marks h as from a client that understands framed bodies and, for a re-issue, names the stream.
func SetResume(h http.Header, token, pos string) {
	h.Set(proxyproto.Resumable, "1")
	if token != "" {
		h.Set(proxyproto.ResumeHeader, token)
	}
	if pos != "" {
		h.Set(proxyproto.ResumePositionHeader, pos)
	}
}

// CopyHeaders copies the client's end-to-end headers to an upstream request.
func CopyHeaders(dst, src http.Header) {
	for k, vs := range src {
		switch http.CanonicalHeaderKey(k) {
		case "Connection", "Upgrade", "Content-Length", "Transfer-Encoding", "Keep-Alive", "Proxy-Connection",
			"Te", "Trailer", "Host", "X-Serverless-Authorization",
			proxyproto.Resumable, proxyproto.ResumeHeader, proxyproto.ResumePositionHeader, proxyproto.StdinAtHeader:
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}
