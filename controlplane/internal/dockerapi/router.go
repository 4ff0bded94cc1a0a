package dockerapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

const (
	// APIVersion is the Engine API version runsock speaks; MinAPIVersion the oldest prefix it accepts.
	APIVersion    = "1.51"
	MinAPIVersion = "1.24"
)

// ContainerBackend is the container lifecycle; *containers.Service implements it.
type ContainerBackend interface {
	Create(ctx context.Context, p identity.Principal, req containers.CreateRequest) (*containers.Container, error)
	Resolve(ctx context.Context, p identity.Principal, ref string) (*containers.Container, error)
	List(ctx context.Context, p identity.Principal, opts containers.ListOptions) ([]*containers.Container, error)
	Start(ctx context.Context, p identity.Principal, ref string) error
	Stop(ctx context.Context, p identity.Principal, ref string, timeout *int, signal string) error
	Kill(ctx context.Context, p identity.Principal, ref, signal string) error
	Pause(ctx context.Context, p identity.Principal, ref string) error
	Unpause(ctx context.Context, p identity.Principal, ref string) error
	Restart(ctx context.Context, p identity.Principal, ref string, timeout *int, signal string) error
	// Remove removes the container; volumes also removes its anonymous volumes (rm -v).
	Remove(ctx context.Context, p identity.Principal, ref string, force, volumes bool) error
	Rename(ctx context.Context, p identity.Principal, ref, newName string) error
	Update(ctx context.Context, p identity.Principal, ref string, u container.UpdateConfig) ([]string, error)
	// Wait resumes the wait resume names when it is not nil (a wait cut by the request timeout).
	Wait(ctx context.Context, p identity.Principal, ref string, cond container.WaitCondition, resume *containers.WaitCursor) (<-chan containers.WaitResult, containers.WaitCursor, error)
	Prune(ctx context.Context, p identity.Principal, filters map[string][]string) (container.PruneReport, error)
	Logs(ctx context.Context, p identity.Principal, ref string, opts containers.LogOptions) (*containers.Container, iter.Seq2[containers.LogLine, error], error)
	Attach(ctx context.Context, p identity.Principal, ref string, stdout, stderr bool) (*containers.Container, func(context.Context) iter.Seq2[containers.LogLine, error], error)
	Events(ctx context.Context, owner string, since, until time.Time) ([]containers.Event, <-chan containers.Event, error)
	// Published and AssignPorts serve localproxy's random host ports (published.go).
	Published(ctx context.Context, p identity.Principal, ref string) (containers.PublishedPorts, error)
	AssignPorts(ctx context.Context, p identity.Principal, ref, execution string, as []containers.PortAssignment) (containers.PublishedPorts, error)
}

var _ ContainerBackend = (*containers.Service)(nil)

// Info is what /info and /version report about the deployment.
type Info struct {
	Project, Region string
	// MaxCPU and MaxMemory are the most a container may ask for.
	MaxCPU    int
	MaxMemory int64
}

// Options are a Handler's dependencies. Containers is required; Images and Exec may be nil (their routes then
// answer a clear error).
type Options struct {
	Containers ContainerBackend
	Images     ImageBackend
	Agent      AgentBackend
	// Registry answers distribution inspect and image history; nil answers as Images nil does.
	Registry RegistryBackend
	// Volumes serves /volumes (nil: volumes are not configured; lists are empty, creates answer 501).
	Volumes VolumeBackend
	// Networks serves /networks (nil: those routes answer 501).
	Networks NetworkBackend
	// Binds stages the client's bind sources (proxyproto.BindsPath; nil: those routes answer 501).
	Binds  BindBackend
	Info   Info
	Logger *slog.Logger
	// FirestoreOps, when set, reports the container state store's Firestore document reads, writes and queries since
	// start to admins (GET /runsock/v1/debug/firestore), so benchmarks can count what a docker command costs.
	FirestoreOps func() map[string]int64
	// FirestoreDocWrites, when set, reports writes per document to admins (GET /runsock/v1/debug/firestore/documents
	// ?prefix=P&limit=N): the documents under prefix, busiest first, as JSON-encodable values.
	FirestoreDocWrites func(prefix string, limit int) any
}

// Handler serves the Docker Engine API. Requests must carry an identity.Principal in their context (the identity
// middleware wraps Handler).
type Handler struct {
	c         ContainerBackend
	img       ImageBackend
	agent     AgentBackend
	registry  RegistryBackend
	vol       VolumeBackend
	info      Info
	ops       func() map[string]int64
	docWrites func(prefix string, limit int) any
	log       *slog.Logger
	mux       *http.ServeMux
	// patterns are the registered routes, in registration order (Routes).
	patterns []string

	nets  NetworkBackend
	binds BindBackend

	mu      sync.Mutex
	streams map[io.Closer]struct{} // hijacked connections, closed by CloseStreams

	stdin stdinSessions // resumable attaches' stdin
}

// New builds the route table.
func New(o Options) *Handler {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h := &Handler{ops: o.FirestoreOps, docWrites: o.FirestoreDocWrites, c: o.Containers, img: o.Images, agent: o.Agent, registry: o.Registry, vol: o.Volumes, info: o.Info, log: log, mux: http.NewServeMux(),
		streams: map[io.Closer]struct{}{}, nets: o.Networks, binds: o.Binds}
	h.routes()
	return h
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, p identity.Principal) error

// handle registers a route whose body, if any, is JSON.
func (h *Handler) handle(pattern string, f handlerFunc) { h.register(pattern, jsonBody, true, f) }

// handleBody registers a route whose body is of kind (see bodyKind).
func (h *Handler) handleBody(pattern string, kind bodyKind, f handlerFunc) {
	h.register(pattern, kind, true, f)
}

// handleOpen registers a route that needs no principal: only Docker's ping, which reveals nothing (see identity).
func (h *Handler) handleOpen(pattern string, f handlerFunc) {
	h.register(pattern, ignoredBody, false, f)
}

// register serves pattern with f after the checks every route shares: the caller (unless open), and the sizes of
// the query and the body (see limits.go).
func (h *Handler) register(pattern string, kind bodyKind, authenticated bool, f handlerFunc) {
	h.patterns = append(h.patterns, pattern)
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, ok := identity.FromContext(r.Context())
		if !ok && authenticated {
			h.writeError(w, r, &errkind.Error{Msg: "no authenticated caller", Kind: errdefs.ErrUnauthenticated})
			return
		}
		limit := h.bodyLimit(kind, r)
		body, err := checkSizes(w, r, kind, limit)
		if err == nil {
			err = body.exceeded(limit, f(w, r, p))
		}
		if err != nil {
			h.writeError(w, r, err)
		}
	})
}

func (h *Handler) routes() {
	h.handleOpen("GET /_ping", h.ping)
	h.handleOpen("HEAD /_ping", h.ping)
	h.handle("GET /version", h.version)
	h.handle("GET /info", h.infoHandler)
	h.handle("GET /system/df", h.diskUsage)
	h.handle("GET /events", h.events)
	h.handle("POST /build/prune", h.buildPrune)

	h.handle("POST /containers/create", h.containerCreate)
	h.handle("GET /containers/json", h.containerList)
	h.handle("GET /containers/{id}/json", h.containerInspect)
	h.handle("POST /containers/{id}/start", h.containerStart)
	h.handle("POST /containers/{id}/stop", h.containerStop)
	h.handle("POST /containers/{id}/kill", h.containerKill)
	h.handle("POST /containers/{id}/restart", h.containerRestart)
	h.handle("POST /containers/{id}/pause", h.containerPause)
	h.handle("POST /containers/{id}/unpause", h.containerUnpause)
	h.handle("POST /containers/{id}/wait", h.containerWait)
	h.handle("DELETE /containers/{id}", h.containerDelete)
	h.handle("POST /containers/prune", h.containerPrune)
	h.handle("POST /containers/{id}/rename", h.containerRename)
	h.handle("POST /containers/{id}/update", h.containerUpdate)
	h.handle("GET /containers/{id}/logs", h.containerLogs)
	h.handleBody("POST /containers/{id}/attach", duplexBody, h.containerAttach)
	h.handle("GET /containers/{id}/attach/ws", h.containerAttachWebSocket)
	h.handle("GET /containers/{id}/top", h.containerTop)
	h.handle("GET /containers/{id}/stats", h.containerStats)
	h.handle("POST /containers/{id}/resize", h.containerResize)
	h.handle("HEAD /containers/{id}/archive", h.archiveHead)
	h.handle("GET /containers/{id}/archive", h.archiveGet)
	h.handleBody("PUT /containers/{id}/archive", archiveBody, h.archivePut)
	h.handle("GET /containers/{id}/changes", h.containerChanges)
	h.handle("GET /containers/{id}/export", h.containerExport)
	h.handle("POST /commit", h.containerCommit)
	h.handleBody("POST /runsock/v1/containers/{id}/tunnel", duplexBody, h.tunnel)
	h.handle("GET /runsock/v1/containers/{id}/ports", h.publishedPorts)
	h.handle("POST /runsock/v1/containers/{id}/ports", h.assignPorts)

	h.handle("POST /containers/{id}/exec", h.execCreate)
	h.handleBody("POST /exec/{id}/start", duplexBody, h.execStart)
	h.handle("GET /exec/{id}/json", h.execInspect)
	h.handle("POST /exec/{id}/resize", h.execResize)

	h.handle("GET /runsock/v1/debug/firestore", h.firestoreOps)
	h.handle("GET /runsock/v1/debug/firestore/documents", h.firestoreDocWrites)

	h.imageRoutes()
	h.netVolRoutes()
	h.registryRoutes()
	h.pluginRoutes()
	h.swarmRoutes()
}

// firestoreOps answers admins with the Firestore operation counts since start: process-wide figures, so not for
// everyone.
func (h *Handler) firestoreOps(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if !p.Admin {
		return &errkind.Error{Msg: "only runsock admins may read the control plane's counters", Kind: errdefs.ErrPermissionDenied}
	}
	if h.ops == nil {
		return &errkind.Error{Msg: "this control plane does not count Firestore operations", Kind: errdefs.ErrNotImplemented}
	}
	return writeJSON(w, http.StatusOK, h.ops())
}

// firestoreDocWrites answers admins with the writes per document (Google's guidance: about one sustained write per
// second per document), so tests can hold the control plane to it.
func (h *Handler) firestoreDocWrites(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if !p.Admin {
		return &errkind.Error{Msg: "only runsock admins may read the control plane's counters", Kind: errdefs.ErrPermissionDenied}
	}
	if h.docWrites == nil {
		return &errkind.Error{Msg: "this control plane does not count writes per document", Kind: errdefs.ErrNotImplemented}
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return invalid("limit %q: not a number", v)
		}
		limit = n
	}
	return writeJSON(w, http.StatusOK, map[string]any{"documents": h.docWrites(r.URL.Query().Get("prefix"), limit)})
}

// Routes returns every route pattern ("METHOD /path/{id}") the handler serves, for tests that must cover them all.
func (h *Handler) Routes() []string { return slices.Clone(h.patterns) }

var versionPrefix = regexp.MustCompile(`^/v(\d+)\.(\d+)(/.*)$`)

// ServeHTTP strips and checks the /vX.Y prefix, then dispatches.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", APIVersion)
	w.Header().Set("Docker-Experimental", "false")
	w.Header().Set("Ostype", "linux")
	w.Header().Set("Server", "runsock/"+APIVersion+" (linux)")
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		major, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		v := fmt.Sprintf("%d.%d", major, minor)
		switch {
		case major < 1 || (major == 1 && minor < 24):
			h.writeError(w, r, invalid("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinAPIVersion))
			return
		case major > 1 || minor > 51:
			h.writeError(w, r, invalid("client version %s is too new. Maximum supported API version is %s", v, APIVersion))
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = m[3]
		u.RawPath = ""
		r2.URL = &u
		r = r2
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "page not found"})
		return
	}
	h.mux.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

// decodeBody reads a JSON body into v as Docker's httputils.ReadJSON does: an empty body leaves v as is; a body
// that is not JSON (by its Content-Type or its bytes), or has more after the JSON, is refused. The body is already
// bounded (register); going past the bound is a 413.
func decodeBody(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	body := bufio.NewReader(r.Body)
	if _, err := body.Peek(1); err == io.EOF { // empty, though its length was not said
		return nil
	}
	if err := checkJSONType(r); err != nil {
		return err
	}
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	return onlySpace(io.MultiReader(dec.Buffered(), body))
}

// onlySpace reads the rest of a body after its JSON: white space only, as Docker asks.
func onlySpace(rest io.Reader) error {
	buf := make([]byte, 4096)
	for {
		n, err := rest.Read(buf)
		if len(bytes.TrimLeft(buf[:n], " \t\r\n")) > 0 {
			return invalid("unexpected content after JSON")
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return jsonError(err) // the body broke off, or grew past its bound, after the JSON
		}
	}
}

func boolValue(r *http.Request, k string) bool {
	s := strings.ToLower(strings.TrimSpace(r.URL.Query().Get(k)))
	return !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
}

func intValue(r *http.Request, k string) (*int, error) {
	s := r.URL.Query().Get(k)
	if s == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil, invalid("invalid value for %s: %q", k, s)
	}
	return &n, nil
}

// parseTime parses the time parameter k as Docker does (containers.ParseTimestamp), and refuses a time outside the
// years 1 to 9999: what Firestore and Cloud Logging can hold, and what a Unix time too large for int64 is not.
func parseTime(k, v string, now time.Time) (time.Time, error) {
	t, err := containers.ParseTimestamp(v, now)
	if err != nil {
		return t, err
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, invalid("invalid value for %s: %q is out of range", k, v)
	}
	return t, nil
}

// parseFilters accepts both encodings clients send: {"k":["v"]} and the old {"k":{"v":true}}.
func parseFilters(r *http.Request) (map[string][]string, error) {
	raw := r.URL.Query().Get("filters")
	if raw == "" {
		return nil, nil
	}
	var m map[string][]string
	if err := json.Unmarshal([]byte(raw), &m); err == nil {
		return m, nil
	}
	var old map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &old); err != nil {
		return nil, invalid("invalid filters: %s", raw)
	}
	m = make(map[string][]string, len(old))
	for k, vs := range old {
		for v, on := range vs {
			if on {
				m[k] = append(m[k], v)
			}
		}
	}
	return m, nil
}

// CloseStreams ends every hijacked stream (http.Server.Shutdown does not wait for them).
func (h *Handler) CloseStreams() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.streams {
		c.Close()
	}
}

func (h *Handler) track(c io.Closer) func() {
	h.mu.Lock()
	h.streams[c] = struct{}{}
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.streams, c)
		h.mu.Unlock()
	}
}
