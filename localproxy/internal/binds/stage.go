package binds

import (
	"archive/tar"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/runsock/runsock/proxyproto"
)

// Upstream is the control plane client.
type Upstream interface {
	RoundTrip(*http.Request) (*http.Response, error)
	Target(path, rawQuery string) *url.URL
}

// Config configures a Manager.
type Config struct {
	// Socket is localproxy's own socket path: a bind of it means "the Docker socket" (/var/run/docker.sock).
	Socket string
	// StateDir keeps what was staged, per container ("" = state is kept in memory only).
	StateDir string
	// Limit is the most a bind's files may hold, in bytes (0 = DefaultLimit).
	Limit int64
}

// DefaultLimit is the control plane's own limit (volumes.MaxBindBytes).
const DefaultLimit = 1 << 30

// wellKnownSockets are the Docker socket paths passed through unchanged.
var wellKnownSockets = map[string]bool{"/var/run/docker.sock": true, "/run/docker.sock": true}

// Error is a create refused before it reaches the control plane, with Docker's status and message.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// Manager stages binds and writes their changes back. Create it with New; Close it once.
type Manager struct {
	up  Upstream
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	records map[string]*record     // by container ID
	locks   map[string]*sync.Mutex // by container ID: one sync at a time
}

// New returns a Manager. log nil = discard.
func New(up Upstream, cfg Config, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Limit <= 0 {
		cfg.Limit = DefaultLimit
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{up: up, cfg: cfg, log: log, ctx: ctx, cancel: cancel, records: map[string]*record{}, locks: map[string]*sync.Mutex{}}
	m.load()
	return m
}

// Close ends the events follower and waits for it. Idempotent.
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
}

// Pending is what a create staged, until its answer says which container (or that it failed).
type Pending struct {
	name  string
	binds []*bindRecord
}

// Prepare reads a create's JSON body and stages its binds. It returns the body to forward (a bind of localproxy's
// own socket rewritten), the value of proxyproto.StagedBindsHeader ("" = none) and the stagings (nil = none). An
// *Error is for the client as it is.
func (m *Manager) Prepare(ctx context.Context, name string, body []byte) ([]byte, string, *Pending, error) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || len(top["HostConfig"]) == 0 || string(top["HostConfig"]) == "null" {
		return body, "", nil, nil // the control plane answers a malformed body
	}
	var hc map[string]json.RawMessage
	if json.Unmarshal(top["HostConfig"], &hc) != nil {
		return body, "", nil, nil
	}
	var binds []string
	var mounts []map[string]any
	if raw := hc["Binds"]; len(raw) > 0 && json.Unmarshal(raw, &binds) != nil {
		return body, "", nil, nil
	}
	if raw := hc["Mounts"]; len(raw) > 0 && json.Unmarshal(raw, &mounts) != nil {
		return body, "", nil, nil
	}
	type use struct {
		src      string
		ro       bool
		mustHave bool // --mount: a missing source is an error
	}
	var uses []use
	changed := false
	for i, b := range binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 || len(parts) > 3 || !filepath.IsAbs(parts[0]) {
			continue // a named volume, or the control plane's error to give
		}
		switch {
		case parts[0] == m.cfg.Socket:
			parts[0] = "/var/run/docker.sock"
			binds[i], changed = strings.Join(parts, ":"), true
			continue
		case wellKnownSockets[parts[0]]:
			continue
		}
		ro := len(parts) == 3 && hasMode(parts[2], "ro")
		uses = append(uses, use{src: parts[0], ro: ro})
	}
	for _, mt := range mounts {
		if t, _ := mt["Type"].(string); t != "bind" {
			continue
		}
		src, _ := mt["Source"].(string)
		switch {
		case src == m.cfg.Socket:
			mt["Source"], changed = "/var/run/docker.sock", true
			continue
		case wellKnownSockets[src], !filepath.IsAbs(src):
			continue
		}
		ro, _ := mt["ReadOnly"].(bool)
		uses = append(uses, use{src: src, ro: ro, mustHave: true})
	}
	if changed {
		if binds != nil {
			hc["Binds"], _ = json.Marshal(binds)
		}
		if mounts != nil {
			hc["Mounts"], _ = json.Marshal(mounts)
		}
		top["HostConfig"], _ = json.Marshal(hc)
		body, _ = json.Marshal(top)
	}
	if len(uses) == 0 {
		return body, "", nil, nil
	}
	p := &Pending{name: strings.TrimPrefix(name, "/")}
	staged := map[string]string{}
	bySrc := map[string]*bindRecord{}
	for _, u := range uses {
		if br := bySrc[u.src]; br != nil {
			br.ReadOnly = br.ReadOnly && u.ro
			continue
		}
		br, err := m.stage(ctx, u.src, u.mustHave)
		if err != nil {
			m.Failed(p)
			return nil, "", nil, err
		}
		br.ReadOnly = u.ro
		bySrc[u.src] = br
		p.binds = append(p.binds, br)
		staged[u.src] = br.ID
	}
	return body, proxyproto.EncodeStagedBinds(staged), p, nil
}

func hasMode(modes, want string) bool {
	for _, m := range strings.Split(modes, ",") {
		if m == want {
			return true
		}
	}
	return false
}

// stage packs src and sends it to the control plane.
func (m *Manager) stage(ctx context.Context, src string, mustHave bool) (*bindRecord, error) {
	fi, err := os.Stat(src)
	switch {
	case errors.Is(err, fs.ErrNotExist) && mustHave:
		return nil, badRequest("invalid mount config for type \"bind\": bind source path does not exist: %s", src)
	case errors.Is(err, fs.ErrNotExist):
		// Docker creates a missing -v source as a directory (owned by whoever runs the daemon; here, the user).
		if err := os.MkdirAll(src, 0o755); err != nil {
			return nil, badRequest("error while creating mount source path '%s': %v", src, err)
		}
		if fi, err = os.Stat(src); err != nil {
			return nil, badRequest("error while creating mount source path '%s': %v", src, err)
		}
	case err != nil:
		return nil, badRequest("invalid mount config for type \"bind\": %v", err)
	}
	root, query, file := src, "", false
	var entries []entry
	var total int64
	switch {
	case fi.Mode().IsRegular():
		// A single-file bind: staged alone; the agent places it at the destination (package agent/internal/filebinds).
		root, query, file = filepath.Dir(src), "file=1", true
		entries, total = []entry{{rel: filepath.Base(src), info: fi}}, fi.Size()
	case fi.IsDir():
		if entries, total, err = walk(src); err != nil {
			return nil, badRequest("reading bind source %s: %v", src, err)
		}
	default:
		return nil, badRequest("runsock cannot bind-mount %s: only directories and regular files can be copied to Cloud Run", src)
	}
	if total > m.cfg.Limit {
		return nil, badRequest("bind source %s holds %d MiB of files, more than the %d MiB localproxy copies for a bind (--bind-limit): bind a smaller directory, or use a named volume", src, total>>20, m.cfg.Limit>>20)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(pack(pw, root, entries)) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.up.Target(proxyproto.BindsPath, query).String(), pr)
	if err != nil {
		pr.Close()
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := m.up.RoundTrip(req)
	pr.Close()
	if err != nil {
		return nil, &Error{Status: http.StatusBadGateway, Msg: "localproxy: staging bind source " + src + ": " + err.Error()}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		var e struct{ Message string }
		json.Unmarshal(raw, &e)
		if e.Message == "" {
			e.Message = resp.Status
		}
		return nil, &Error{Status: resp.StatusCode, Msg: "staging bind source " + src + ": " + e.Message}
	}
	var out struct{ Id string }
	if json.Unmarshal(raw, &out) != nil || out.Id == "" {
		return nil, &Error{Status: http.StatusBadGateway, Msg: "staging bind source " + src + ": the control plane's answer has no ID"}
	}
	files := map[string]fileState{}
	for _, e := range entries {
		files[e.rel] = stateOf(e.info)
	}
	return &bindRecord{ID: out.Id, Source: src, File: file, Files: files}, nil
}

type entry struct {
	rel  string // slash-separated, relative to the source; directories end in "/"
	info fs.FileInfo
	link string
}

// walk lists src's tree and sums its regular files' sizes.
func walk(src string) ([]entry, int64, error) {
	var out []entry
	var total int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == src {
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{rel: rel, info: info}
		switch {
		case d.IsDir():
			e.rel += "/"
		case d.Type()&fs.ModeSymlink != 0:
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
		case d.Type().IsRegular():
			total += info.Size()
		default:
			return nil // sockets, FIFOs, devices: Cloud Storage has no such thing
		}
		out = append(out, e)
		return nil
	})
	return out, total, err
}

// pack writes entries as a tar stream.
func pack(w io.Writer, src string, entries []entry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h, err := tar.FileInfoHeader(e.info, e.link)
		if err != nil {
			return err
		}
		h.Name, h.Uname, h.Gname = e.rel, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		f, err := os.Open(filepath.Join(src, filepath.FromSlash(e.rel)))
		if err != nil {
			return err
		}
		_, err = io.CopyN(tw, f, h.Size) // a file that grew is cut at the size announced; one that shrank fails
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", e.rel, err)
		}
	}
	return tw.Close()
}

// Created records the container a create made with p's stagings.
func (m *Manager) Created(p *Pending, id string) {
	if p == nil {
		return
	}
	r := &record{Container: id, Name: p.name, Binds: p.binds}
	m.mu.Lock()
	m.records[id] = r
	m.mu.Unlock()
	m.save(r)
}

// Failed deletes p's stagings: the create did not happen.
func (m *Manager) Failed(p *Pending) {
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), 30*time.Second)
	defer cancel()
	for _, b := range p.binds {
		m.removeStaging(ctx, b.ID)
	}
}

func (m *Manager) removeStaging(ctx context.Context, id string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, m.up.Target(proxyproto.BindsPath+"/"+id, "").String(), nil)
	if err != nil {
		return
	}
	resp, err := m.up.RoundTrip(req)
	if err != nil {
		m.log.Warn("binds: staging not removed", "bind", id, "err", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		m.log.Warn("binds: staging not removed", "bind", id, "status", resp.Status)
	}
}
