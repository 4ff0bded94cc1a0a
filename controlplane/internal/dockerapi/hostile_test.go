package dockerapi_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/runsock/runsock/controlplane/internal/agentsessions"
	"github.com/runsock/runsock/controlplane/internal/commit"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/dockerapi"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// The hostile-input suite. Every route the router serves — read from its own table, so a new route is covered
// without editing this file — gets malformed, oversized, truncated and wrong-typed bodies and bad query parameters,
// over HTTP/1.1 and HTTP/2 (h2c, as localproxy and Cloud Run speak it). For each request:
//
//   - no panic, and never a 5xx: bad input is the client's fault;
//   - a refusal (4xx) is Docker's shape, {"message": "..."}, and changed nothing: no Firestore write, no call that
//     would change Cloud Run, the agent or the registry;
//   - a hostile body never turns a refusal into an acceptance: a route that refuses the request without a body
//     (here, because a real backend would) refuses it with one; a route that ignores its body answers as usual;
//   - a request whose body breaks off changes nothing, unless the route had made its body a stream (attach's
//     stdin, a tunnel over HTTP/2), where that is the client hanging up;
//   - once the client has gone, the handler has returned, and after each route the goroutines are back to where
//     they were.
//
// The backends are the emulator-backed containers service of setup and recording fakes for Cloud Run, the agent
// and the registry.

// maxMemoryForTest is Info.MaxMemory here: the bound of an archive upload, small enough to cross in a test.
const maxMemoryForTest = 2 << 20

// hostileVariant is one kind of bad request.
type hostileVariant struct {
	name    string
	query   string // raw query
	ctype   string // Content-Type; "" = none
	body    []byte
	chunked bool  // sent without a length
	declare int64 // a Content-Length longer than body: the client breaks off (a truncated body)
	// bodyBad: the body is the hostile part (sent with benignQuery, so that it is what a route sees first).
	bodyBad bool
}

// benignQuery is a query every route accepts, so that a hostile body is not refused for a missing parameter.
const benignQuery = "name=renamed&stdout=1&stderr=1&stream=1&path=/etc&port=8080&h=24&w=80&fromImage=alpine&repo=r&condition=not-running"

func hostileVariants() []hostileVariant {
	const js = "application/json"
	big := func(n int) []byte { // valid JSON of n bytes
		b := []byte(`{"Image":"alpine","Labels":{"x":"`)
		b = append(b, bytes.Repeat([]byte("a"), n-len(b)-3)...)
		return append(b, `"}}`...)
	}
	var tarball bytes.Buffer // a tar a container could not hold
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "big", Mode: 0o644, Size: maxMemoryForTest + 1})
	tw.Write(make([]byte, maxMemoryForTest+1))
	tw.Close()
	hugeFilters := `{"label":["` + strings.Repeat("x", 70<<10) + `"]}`
	return []hostileVariant{
		{name: "malformed JSON", ctype: js, body: []byte(`{"Image":"alpine","Cmd":["sh",`), bodyBad: true},
		{name: "not JSON", ctype: js, body: []byte("Image=alpine&Cmd=sh"), bodyBad: true},
		{name: "wrong Content-Type", ctype: "text/plain", body: []byte(`{"Image":"alpine"}`), bodyBad: true},
		{name: "wrong-typed fields", ctype: js, bodyBad: true, body: []byte(`{"Image":1,"Cmd":{"a":1},"Env":"A=1",` +
			`"HostConfig":[],"Tty":"yes","Detach":"no","AttachStdin":1,"Labels":[1],"ConsoleSize":"80x24","User":[]}`)},
		{name: "JSON of the wrong shape", ctype: js, body: []byte(`[{"Image":"alpine"}]`), bodyBad: true},
		{name: "content after the JSON", ctype: js, body: []byte(`{"Image":"alpine","Cmd":["true"]} {"Privileged":true}`), bodyBad: true},
		{name: "deeply nested", ctype: js, body: bytes.Repeat([]byte("["), 100_000), bodyBad: true},
		{name: "truncated", ctype: js, body: []byte(`{"Image":"alpine","Cmd":["tr`), declare: 4096, bodyBad: true},
		{name: "oversized", ctype: js, body: big(1 << 20), bodyBad: true},
		{name: "oversized, without a length", ctype: js, body: big(1 << 20), chunked: true, bodyBad: true},
		{name: "under the bound, but too large to store", ctype: js, body: bytes.ReplaceAll(big(500<<10), []byte("a"), []byte("<")), bodyBad: true},
		{name: "archive larger than a container holds", ctype: "application/x-tar", body: tarball.Bytes(), chunked: true, bodyBad: true},
		{name: "non-numeric numbers", query: "t=ten&tail=many&limit=lots&h=tall&w=wide&port=http&since=yesterday&until=later"},
		{name: "numbers out of range", query: "t=99999999999999999999&tail=-99999999999999999999&limit=-5&h=-1&w=-1&port=70000&since=99999999999999999999.5"},
		{name: "bad enums", query: "condition=soon&signal=NOSUCH&name=-bad!&path=&fromImage=&repo=&stdout=0&stderr=0&stream=0&logs=0"},
		{name: "malformed filters", query: "filters=notjson"},
		{name: "wrong-typed filters", query: "filters=" + url.QueryEscape(`{"label":"x","status":1,"name":{"a":"b"}}`)},
		{name: "unknown filter", query: "filters=" + url.QueryEscape(`{"bogus":["x"]}`)},
		{name: "oversized query", query: "filters=" + url.QueryEscape(hugeFilters)},
	}
}

func TestEveryRouteRefusesHostileInput(t *testing.T) {
	if testing.Short() {
		t.Skip("sends every route about forty bad requests")
	}
	var acts atomic.Int64 // calls to the agent and registry fakes that would change something
	e := setup(t, func(o *dockerapi.Options) {
		o.Info.MaxMemory = maxMemoryForTest
		o.Images = fakeImageBackend{acts: &acts}
		o.Agent = fakeAgent{svc: o.Containers.(*containers.Service), acts: &acts}
	})
	alice := identity.Principal{Email: "alice@example.com"}

	rec := newRecorders()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.serve(e.h, w, r.WithContext(identity.WithPrincipal(r.Context(), alice)))
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)

	changes := func() string {
		var writes int64
		for _, d := range e.store.DocumentWrites("", 0) {
			writes += d.Writes
		}
		return fmt.Sprintf("%d Firestore writes, %d Cloud Run changes, %d agent or registry changes", writes, e.l.Changes(), acts.Load())
	}
	target := ""
	fresh := func(t *testing.T) { // a container of alice's, created (not started): what {id} names
		c, err := e.svc.Create(context.Background(), alice, containers.CreateRequest{Config: container.Config{Image: "alpine", Cmd: []string{"true"}}})
		if err != nil {
			t.Fatal(err)
		}
		target = c.ID
	}
	fresh(t)

	routes := e.h.Routes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes: the route table was not read", len(routes))
	}
	for _, route := range routes {
		method, pattern, _ := strings.Cut(route, " ")
		t.Run(route, func(t *testing.T) {
			before := settledGoroutines(-1)
			for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
				client := hostileClient(proto)
				baseline := 0 // the status without a body
				variants := append([]hostileVariant{{name: "baseline: no body"}}, hostileVariants()...)
				for i, v := range variants {
					path := strings.NewReplacer("{id}", target, "{name...}", "alpine", "{name}", "v1").Replace(pattern)
					id := fmt.Sprintf("%s %s %d", route, proto, i)
					if v.query == "" {
						v.query = benignQuery
					}
					was := changes()
					r := rec.send(t, client, srv.URL, id, method, path, v)
					if r == nil {
						continue
					}
					if i == 0 {
						baseline = r.status
					}
					what := fmt.Sprintf("%s, %s: %d %s", proto, v.name, r.status, r.body)
					switch {
					case r.status == 0 && v.declare > 0: // the client broke off: no answer, and no change either
						if now := changes(); now != was && !r.duplex {
							t.Errorf("%s: broken off, yet changed something: before %s, after %s", what, was, now)
						}
					case r.panicked != "":
						t.Errorf("%s: panic: %s", what, r.panicked)
					case r.status >= 500 && !(r.status == baseline && (baseline == http.StatusNotImplemented || baseline == http.StatusServiceUnavailable)):
						// (A route answering 501 or 503 to every request is a feature runsock does not have, or
						// Docker's own answer outside a swarm: not a failure caused by the input.)
						t.Errorf("%s: a 5xx for bad input", what)
					case r.status >= 400:
						var m map[string]any
						if method != http.MethodHead && (json.Unmarshal(r.body, &m) != nil || len(m) != 1 || m["message"] == "" || m["message"] == nil) {
							t.Errorf("%s: not Docker's {\"message\": ...}", what)
						}
						if now := changes(); now != was {
							t.Errorf("%s: refused, yet changed something: before %s, after %s", what, was, now)
						}
					case v.bodyBad && baseline >= 400:
						t.Errorf("%s: refused without a body (%d), yet accepted with this one", what, baseline)
					}
					if r.status < 400 { // accepted, so it may have changed the container: the next variant gets a new one
						fresh(t)
					}
				}
				client.CloseIdleConnections()
			}
			if after := settledGoroutines(before); after > before {
				t.Errorf("%d goroutines before the route's requests, %d after:\n%s", before, after, goroutineDump())
			}
		})
	}
}

// hostileClient speaks proto to the test server (HTTP/2 without TLS, as localproxy does).
func hostileClient(proto string) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols), DisableKeepAlives: true} // a connection per request, gone with it
	if proto == "HTTP/2" {
		tr.Protocols.SetUnencryptedHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	return &http.Client{Transport: tr}
}

// serverRecord is what the server saw of one request: the client may have broken off, or been answered by a
// hijacked connection, so the truth is taken on the server's side.
type serverRecord struct {
	status   int // 0 until the handler answers: a hijacked stream never does, nor a handler whose client left
	body     []byte
	duplex   bool // the handler made its body a stream (full duplex): its breaking off is the client hanging up
	panicked string
	started  chan struct{}
	done     chan struct{}
}

type recorders struct {
	mu sync.Mutex
	m  map[string]*serverRecord
}

func newRecorders() *recorders { return &recorders{m: map[string]*serverRecord{}} }

const caseHeader = "X-Test-Case"

func (rs *recorders) get(id string) *serverRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.m[id]
	if r == nil {
		r = &serverRecord{started: make(chan struct{}), done: make(chan struct{})}
		rs.m[id] = r
	}
	return r
}

// serve runs h for r, recording the answer and any panic.
func (rs *recorders) serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	rec := rs.get(r.Header.Get(caseHeader))
	close(rec.started)
	rw := &recordingWriter{ResponseWriter: w, rec: rec}
	defer func() {
		if v := recover(); v != nil {
			rec.panicked = fmt.Sprintf("%v\n%s", v, debug.Stack())
		}
		close(rec.done)
	}()
	h.ServeHTTP(rw, r)
}

type recordingWriter struct {
	http.ResponseWriter
	mu  sync.Mutex
	rec *serverRecord
}

func (w *recordingWriter) WriteHeader(code int) {
	w.mu.Lock()
	if w.rec.status == 0 {
		w.rec.status = code
	}
	w.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.rec.status == 0 {
		w.rec.status = http.StatusOK
	}
	if len(w.rec.body) < 64<<10 {
		w.rec.body = append(w.rec.body, p[:min(len(p), 64<<10-len(w.rec.body))]...)
	}
	w.mu.Unlock()
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// EnableFullDuplex notes that the handler streams its body, and passes the call on.
func (w *recordingWriter) EnableFullDuplex() error {
	w.mu.Lock()
	w.rec.duplex = true
	w.mu.Unlock()
	return http.NewResponseController(w.ResponseWriter).EnableFullDuplex()
}

// send sends v and returns what the server saw once the handler has returned: nil when the request never reached
// a handler (a body broken off before HTTP/2 sent the headers) or after failing t. The client leaves as soon as the
// answer begins: a stream that was accepted is ended by the client going away.
func (rs *recorders) send(t *testing.T, c *http.Client, base, id, method, path string, v hostileVariant) *serverRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var body io.Reader
	if v.body != nil {
		body = bytes.NewReader(v.body)
		if v.declare > 0 {
			body = io.MultiReader(body, errReader{io.ErrUnexpectedEOF})
		}
		if v.chunked {
			body = io.MultiReader(body) // hides the length
		}
	}
	target := base + path
	if v.query != "" {
		target += "?" + v.query
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if v.declare > 0 {
		req.ContentLength = v.declare
	}
	if v.ctype != "" {
		req.Header.Set("Content-Type", v.ctype)
	}
	req.Header.Set(caseHeader, id)
	resp, err := c.Do(req)
	if err == nil {
		cancel() // the answer has begun; whatever follows is a stream the client now leaves
		resp.Body.Close()
	}
	rec := rs.get(id)
	if err != nil {
		select {
		case <-rec.started:
		case <-time.After(2 * time.Second):
			return nil
		}
	}
	select {
	case <-rec.done:
		return rec
	case <-time.After(15 * time.Second):
		t.Errorf("%s %s: the handler is still running 15 s after the client left:\n%s", id, v.name, goroutineDump())
		return nil
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// settledGoroutines waits (up to 20 s: a loaded CI machine is slow to end a handler) for the count of request
// goroutines to come down to want, and returns it; want < 0 waits for it to stay the same for 250 ms.
func settledGoroutines(want int) int {
	n, same := requestGoroutines(), 0
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		m := requestGoroutines()
		if want >= 0 && m <= want {
			return m
		}
		if want < 0 && m == n {
			if same++; same == 5 {
				return m
			}
		} else {
			same = 0
		}
		n = m
	}
	return n
}

// requestGoroutines counts the goroutines but those that watch a started container's execution: the service owns
// them (they end with the execution, or at Close), and an accepted start or restart rightly leaves one.
func requestGoroutines() int {
	n := 0
	for _, g := range strings.Split(goroutineDump(), "\n\n") {
		if !strings.Contains(g, "containers.(*Service).watch") {
			n++
		}
	}
	return n
}

func goroutineDump() string {
	buf := make([]byte, 4<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// fakeAgent stands for the agent behind a container: it resolves the container as the real one does and counts
// every call that would change something in it.
type fakeAgent struct {
	svc  *containers.Service
	acts *atomic.Int64
}

var _ dockerapi.AgentBackend = fakeAgent{}

func (a fakeAgent) resolve(ctx context.Context, p identity.Principal, ref string) (*containers.Container, error) {
	return a.svc.Resolve(ctx, p, ref)
}

func (a fakeAgent) ExecCreate(ctx context.Context, p identity.Principal, ref string, req container.ExecCreateRequest) (string, error) {
	if _, err := a.resolve(ctx, p, ref); err != nil {
		return "", err
	}
	if len(req.Cmd) == 0 {
		return "", fmt.Errorf("No exec command specified: %w", errdefs.ErrInvalidArgument)
	}
	a.acts.Add(1)
	return "exec-1", nil
}

func (a fakeAgent) ExecCheck(ctx context.Context, p identity.Principal, id string) (bool, error) {
	return false, nil
}

func (a fakeAgent) ExecStart(ctx context.Context, p identity.Principal, id string, req container.ExecStartRequest, _ agentsessions.ExecIO) error {
	a.acts.Add(1)
	return nil
}

func (a fakeAgent) ExecInspect(ctx context.Context, p identity.Principal, id string) (container.ExecInspectResponse, error) {
	return container.ExecInspectResponse{ID: id}, nil
}

func (a fakeAgent) ExecResize(ctx context.Context, p identity.Principal, id string, height, width uint) error {
	a.acts.Add(1)
	return nil
}

func (a fakeAgent) AgentContainer(ctx context.Context, p identity.Principal, ref string) (*containers.Container, bool, error) {
	c, err := a.resolve(ctx, p, ref)
	return c, err == nil, err
}

func (a fakeAgent) AttachAgent(ctx context.Context, c *containers.Container, opts agentsessions.AttachOptions, _ agentsessions.AttachIO) error {
	a.acts.Add(1)
	return nil
}

func (a fakeAgent) Resize(ctx context.Context, p identity.Principal, ref string, height, width uint) error {
	if _, err := a.resolve(ctx, p, ref); err != nil {
		return err
	}
	a.acts.Add(1)
	return nil
}

func (a fakeAgent) Top(ctx context.Context, p identity.Principal, ref, psArgs string) (container.TopResponse, error) {
	_, err := a.resolve(ctx, p, ref)
	return container.TopResponse{}, err
}

func (a fakeAgent) Stats(ctx context.Context, p identity.Principal, ref string, prev *container.StatsResponse) (container.StatsResponse, error) {
	_, err := a.resolve(ctx, p, ref)
	return container.StatsResponse{}, err
}

func (a fakeAgent) ArchiveStat(ctx context.Context, p identity.Principal, ref, path string) (container.PathStat, error) {
	_, err := a.resolve(ctx, p, ref)
	return container.PathStat{Name: "etc", Mode: 0o755}, err
}

func (a fakeAgent) ArchiveGet(ctx context.Context, p identity.Principal, ref, path string) (container.PathStat, io.ReadCloser, error) {
	if _, err := a.resolve(ctx, p, ref); err != nil {
		return container.PathStat{}, nil, err
	}
	return container.PathStat{Name: "etc", Mode: 0o755}, io.NopCloser(strings.NewReader("")), nil
}

// ArchivePut extracts as the agent would (into nothing): a body that is not a tar is refused; a read that fails
// fails the upload, wrapped without %w as a link error would be.
func (a fakeAgent) ArchivePut(ctx context.Context, p identity.Principal, ref, path string, r io.Reader, noOverwriteDirNonDir, copyUIDGID bool) error {
	if _, err := a.resolve(ctx, p, ref); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			a.acts.Add(1)
			return nil
		}
		if err != nil {
			return fmt.Errorf("extract to %s: %v: %w", path, err, errdefs.ErrInvalidArgument)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("extract to %s: upload broke off: %v", path, err)
		}
	}
}

func (a fakeAgent) Changes(ctx context.Context, p identity.Principal, ref string) ([]container.FilesystemChange, error) {
	_, err := a.resolve(ctx, p, ref)
	return nil, err
}

func (a fakeAgent) Commit(ctx context.Context, p identity.Principal, ref string, o commit.Options) (string, error) {
	if _, err := commit.RepoTag(o.Repo, o.Tag); err != nil {
		return "", err
	}
	if _, err := a.resolve(ctx, p, ref); err != nil {
		return "", err
	}
	a.acts.Add(1) // an image pushed and recorded
	return "sha256:" + strings.Repeat("0", 64), nil
}

func (a fakeAgent) Export(ctx context.Context, p identity.Principal, ref string) (io.ReadCloser, error) {
	if _, err := a.resolve(ctx, p, ref); err != nil {
		return nil, err
	}
	return io.NopCloser(strings.NewReader("")), nil
}

func (a fakeAgent) TunnelCheck(ctx context.Context, p identity.Principal, ref string) (*containers.Container, error) {
	return a.resolve(ctx, p, ref)
}

func (a fakeAgent) Tunnel(ctx context.Context, c *containers.Container, port int, conn io.ReadWriter) error {
	a.acts.Add(1)
	return nil
}

// fakeImageBackend stands for the registry side of images: it knows no image and counts every change.
type fakeImageBackend struct{ acts *atomic.Int64 }

var _ dockerapi.ImageBackend = fakeImageBackend{}

func (f fakeImageBackend) Pull(ctx context.Context, owner string, req dockerapi.PullRequest, progress func(jsonstream.Message) error) error {
	f.acts.Add(1)
	return progress(jsonstream.Message{Status: "Pulled " + req.Ref})
}

func (f fakeImageBackend) List(ctx context.Context, owner string, opts dockerapi.ImageListOptions) ([]image.Summary, error) {
	return []image.Summary{}, nil
}

func (f fakeImageBackend) Inspect(ctx context.Context, owner, ref string) (image.InspectResponse, error) {
	return image.InspectResponse{}, fmt.Errorf("No such image: %s: %w", ref, errdefs.ErrNotFound)
}

func (f fakeImageBackend) History(ctx context.Context, owner, ref string) ([]image.HistoryResponseItem, error) {
	return nil, fmt.Errorf("No such image: %s: %w", ref, errdefs.ErrNotFound)
}

func (f fakeImageBackend) Tag(ctx context.Context, owner, source, repo, tag string) error {
	f.acts.Add(1)
	return nil
}

func (f fakeImageBackend) Delete(ctx context.Context, owner, ref string, opts dockerapi.ImageDeleteOptions) ([]image.DeleteResponse, error) {
	f.acts.Add(1)
	return []image.DeleteResponse{}, nil
}

func (f fakeImageBackend) Prune(ctx context.Context, owner string, filters map[string][]string) (image.PruneReport, error) {
	f.acts.Add(1)
	return image.PruneReport{}, nil
}

// The bounds themselves: each refusal says what was too large, and nothing was created or copied.
func TestLimitsSaySo(t *testing.T) {
	var acts atomic.Int64
	e := setup(t, func(o *dockerapi.Options) {
		o.Info.MaxMemory = maxMemoryForTest
		o.Agent = fakeAgent{svc: o.Containers.(*containers.Service), acts: &acts}
	})
	id := e.create(t, "box")
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "big", Mode: 0o644, Size: maxMemoryForTest})
	tw.Write(make([]byte, maxMemoryForTest))
	tw.Close()
	label := `{"Image":"alpine","Labels":{"x":"` + strings.Repeat("a", 512<<10) + `"}}`
	for _, tc := range []struct {
		name, method, path, ctype string
		body                      io.Reader
		code                      int
		msg                       string
	}{
		{"create body over 512 KiB", "POST", "/containers/create", "application/json", strings.NewReader(label), 413, "request body too large: runsock accepts at most 512KiB"},
		{"the same, without a length", "POST", "/containers/create", "application/json", io.MultiReader(strings.NewReader(label)), 413, "at most 512KiB"},
		{"create body not said to be JSON", "POST", "/containers/create", "text/plain", strings.NewReader(`{"Image":"alpine"}`), 400, "unsupported Content-Type header (text/plain): must be 'application/json'"},
		{"create body with more after the JSON", "POST", "/containers/create", "application/json", strings.NewReader(`{"Image":"alpine"}{}`), 400, "unexpected content after JSON"},
		{"archive over what a container holds", "PUT", "/containers/" + id + "/archive?path=/tmp", "application/x-tar", io.MultiReader(&tarball), 413, "at most 2MiB"},
		{"filters over 64 KiB", "GET", "/containers/json?filters=" + url.QueryEscape(`{"label":["`+strings.Repeat("x", 64<<10)+`"]}`), "", nil, 400, "more than the 64KiB runsock accepts"},
		{"since out of range", "GET", "/events?since=99999999999999999999", "", nil, 400, `invalid value for since: "99999999999999999999" is out of range`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.url+tc.path, tc.body)
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m struct{ Message string }
			json.NewDecoder(resp.Body).Decode(&m)
			if resp.StatusCode != tc.code || !strings.Contains(m.Message, tc.msg) {
				t.Fatalf("%d %q, want %d with %q", resp.StatusCode, m.Message, tc.code, tc.msg)
			}
		})
	}
	if got := list(t, e, "all=1"); len(got) != 1 || acts.Load() != 0 {
		t.Errorf("after the refusals: %d containers (want 1), %d archive uploads completed (want 0)", len(got), acts.Load())
	}
}
