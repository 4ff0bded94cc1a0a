package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"time"

	"github.com/runsock/runsock/localproxy/internal/binds"
	"github.com/runsock/runsock/localproxy/internal/hijack"
	"github.com/runsock/runsock/localproxy/internal/resume"
	"github.com/runsock/runsock/localproxy/internal/upstream"
	"github.com/runsock/runsock/proxyproto"
)

// PortPublisher opens published ports of containers this proxy's client created (package ports implements it).
type PortPublisher interface {
	// Created records a container created through this proxy, with the create request's JSON body.
	Created(id, name string, createBody []byte)
	// Started is called after a successful start or restart of ref (ID, ID prefix or name). It returns when the
	// container's listeners are open (or it is not one of ours).
	Started(ctx context.Context, ref string)
}

// BindStager carries bind mounts of this machine's files (package binds implements it).
type BindStager interface {
	// Prepare stages the binds of a create's JSON body; it returns the body to forward, the staged-binds header
	// and what to report the create's outcome with. An *binds.Error is the client's answer.
	Prepare(ctx context.Context, name string, body []byte) ([]byte, string, *binds.Pending, error)
	Created(p *binds.Pending, id string)
	Failed(p *binds.Pending)
	// HoldWait wraps a wait's response writer so the answer waits for the container's changes to be back.
	HoldWait(w http.ResponseWriter, ctx context.Context, ref string) http.ResponseWriter
	// ServeSync serves binds.LocalSyncPath (localproxy sync), which is never forwarded.
	ServeSync(w http.ResponseWriter, r *http.Request)
}

// Upstream is the control plane client.
type Upstream interface {
	RoundTrip(*http.Request) (*http.Response, error)
	Target(path, rawQuery string) *url.URL
}

// Proxy serves the Docker API locally.
type Proxy struct {
	up    Upstream
	rp    *httputil.ReverseProxy
	hj    *hijack.Handler
	rs    *resume.Handler
	ports PortPublisher
	binds BindStager
	log   *slog.Logger
}

var (
	createPath = regexp.MustCompile(`^(/v[0-9.]+)?/containers/create$`)
	startPath  = regexp.MustCompile(`^(/v[0-9.]+)?/containers/([^/]+)/(start|restart)$`)
	waitPath   = regexp.MustCompile(`^(/v[0-9.]+)?/containers/([^/]+)/wait$`)
)

// maxCreateBody caps the create request body kept for port publishing.
const maxCreateBody = 4 << 20

// New returns a Proxy. ports nil = no port publishing; log nil = discard.
func New(up Upstream, ports PortPublisher, log *slog.Logger) *Proxy {
	return NewWithBinds(up, ports, nil, log)
}

// NewWithBinds returns a Proxy that also carries bind mounts (binds nil = binds go to the control plane as they
// are, which refuses them).
func NewWithBinds(up Upstream, ports PortPublisher, binds BindStager, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{up: up, ports: ports, binds: binds, log: log}
	target := func(path, q string) string { return up.Target(path, q).String() }
	p.hj = hijack.NewHandler(up, target, log)
	p.rs = resume.NewHandler(up, target, p.upstreamError, log)
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = up.Target(pr.In.URL.Path, pr.In.URL.RawQuery)
			pr.Out.Host = ""
			pr.Out.Header.Del(upstream.TokenHeader)
		},
		Transport:      up,
		FlushInterval:  -1,
		ModifyResponse: p.observe,
		ErrorHandler:   p.upstreamError,
	}
	return p
}

// Close ends hijacked streams. Idempotent.
func (p *Proxy) Close() { p.hj.Close() }

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == binds.LocalSyncPath && r.Method == http.MethodPost && p.binds != nil {
		p.binds.ServeSync(w, r)
		return
	}
	if hijack.MatchWebSocket(r) {
		p.hj.ServeWebSocket(w, r)
		return
	}
	hj, body, err := hijack.Match(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if hj {
		p.hj.Serve(w, r, body)
		return
	}
	if resume.Match(r) {
		if m := waitPath.FindStringSubmatch(r.URL.Path); m != nil && p.binds != nil {
			w = p.binds.HoldWait(w, r.Context(), m[2])
		}
		p.rs.Serve(w, r)
		return
	}
	if body != nil {
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	if (p.ports != nil || p.binds != nil) && r.Method == http.MethodPost && createPath.MatchString(r.URL.Path) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxCreateBody))
		if err != nil {
			writeError(w, http.StatusBadRequest, "reading create body: "+err.Error())
			return
		}
		ctx := r.Context()
		if p.binds != nil {
			var header string
			var pending *binds.Pending
			body, header, pending, err = p.binds.Prepare(ctx, r.URL.Query().Get("name"), body)
			var be *binds.Error
			if errors.As(err, &be) {
				writeError(w, be.Status, be.Msg)
				return
			}
			if err != nil {
				p.upstreamError(w, r, err)
				return
			}
			if header != "" {
				r.Header.Set(proxyproto.StagedBindsHeader, header)
				ctx = context.WithValue(ctx, pendingKey{}, pending)
			}
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		r = r.WithContext(context.WithValue(ctx, createKey{}, body))
	}
	// Without this, net/http's HTTP/1 server discards the unread request body before the first response byte: a
	// streamed upload (docker load, cp) and a response that starts early would deadlock.
	_ = http.NewResponseController(w).EnableFullDuplex()
	p.rp.ServeHTTP(w, r)
}

type (
	createKey  struct{}
	pendingKey struct{}
)

// observe tells the port publisher about successful creates and starts, and the bind stager about creates.
func (p *Proxy) observe(resp *http.Response) error {
	if resp.Request.Method != http.MethodPost {
		return nil
	}
	req := resp.Request
	pending, _ := req.Context().Value(pendingKey{}).(*binds.Pending)
	if pending != nil && resp.StatusCode != http.StatusCreated {
		p.binds.Failed(pending)
	}
	if body, ok := req.Context().Value(createKey{}).([]byte); ok && resp.StatusCode == http.StatusCreated {
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("reading create response: %w", err)
		}
		var created struct{ Id string }
		if json.Unmarshal(raw, &created) == nil && created.Id != "" {
			if p.ports != nil {
				p.ports.Created(created.Id, req.URL.Query().Get("name"), body)
			}
			if pending != nil {
				p.binds.Created(pending, created.Id)
			}
		} else if pending != nil {
			p.binds.Failed(pending)
		}
		return nil
	}
	if m := startPath.FindStringSubmatch(req.URL.Path); p.ports != nil && m != nil && resp.StatusCode/100 == 2 {
		ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
		defer cancel()
		p.ports.Started(ctx, m[2])
	}
	return nil
}

// upstreamError answers the local client when the control plane could not be reached, saying what to do.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if pending, _ := r.Context().Value(pendingKey{}).(*binds.Pending); pending != nil {
		p.binds.Failed(pending) // the create may not have happened: nothing will use the stagings
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away
	}
	var te *upstream.TokenError
	if errors.As(err, &te) {
		p.log.Warn("no identity token", "err", err)
		writeError(w, http.StatusUnauthorized, "localproxy: "+err.Error())
		return
	}
	p.log.Warn("control plane unreachable", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusBadGateway, "localproxy: cannot reach the control plane: "+err.Error()+
		" (check --url / RUNSOCK_CONTROL_PLANE_URL and --ca-file; `localproxy status` diagnoses)")
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
