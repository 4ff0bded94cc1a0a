package binds

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/runsock/runsock/proxyproto"
)

// ConflictSuffix names the container's version of a file the laptop also changed, written beside it.
const ConflictSuffix = ".runsock-container"

// ErrUnknown is Sync's answer for a container this localproxy staged no read-write bind for.
var ErrUnknown = errors.New("no bind mounts of this container were staged by this localproxy")

// Report is what a sync did.
type Report struct {
	Written, Deleted int
	Conflicts        []string // laptop paths kept, the container's version written beside them
}

// Sync writes the changes of ref's (ID, ID prefix or name) read-write binds back to this machine.
func (m *Manager) Sync(ctx context.Context, ref string) (Report, error) {
	r := m.lookup(ref)
	if r == nil {
		return Report{}, ErrUnknown
	}
	return m.syncRecord(ctx, r)
}

func (m *Manager) syncRecord(ctx context.Context, r *record) (Report, error) {
	l := m.lock(r.Container)
	l.Lock()
	defer l.Unlock()
	if r.finished {
		return Report{}, nil // written back by finish already
	}
	return m.syncLocked(ctx, r)
}

// syncLocked is syncRecord with the container's lock held.
func (m *Manager) syncLocked(ctx context.Context, r *record) (Report, error) {
	var rep Report
	for _, br := range r.Binds {
		if br.ReadOnly {
			continue
		}
		if err := m.syncBind(ctx, br, &rep); err != nil {
			m.save(r)
			return rep, fmt.Errorf("bind %s: %w", br.Source, err)
		}
	}
	m.save(r)
	if rep.Written+rep.Deleted > 0 {
		m.log.Info("binds: changes written back", "container", r.Container, "written", rep.Written, "deleted", rep.Deleted, "conflicts", len(rep.Conflicts))
	}
	return rep, nil
}

type change struct {
	Path    string
	Size    int64
	Link    string // a symlink's target
	Deleted bool
}

// syncBind applies one staging's changes under br.Source, then tells the control plane they are applied.
func (m *Manager) syncBind(ctx context.Context, br *bindRecord, rep *Report) error {
	var changes []change
	if err := m.getJSON(ctx, proxyproto.BindsPath+"/"+br.ID+"/changes", &changes); err != nil {
		return err
	}
	if len(changes) == 0 {
		return nil
	}
	for _, c := range changes {
		rel := strings.TrimSuffix(c.Path, "/")
		if rel == "" || strings.HasPrefix(rel, "/") || containsDotDot(rel) {
			continue // never outside the source
		}
		root := br.Source
		if br.File {
			root = filepath.Dir(br.Source) // the staging holds the file by its name
			if rel != filepath.Base(br.Source) {
				continue
			}
		}
		local := filepath.Join(root, filepath.FromSlash(rel))
		dir := strings.HasSuffix(c.Path, "/")
		key := rel
		if dir {
			key += "/"
		}
		base, known := br.Files[key]
		cur, err := os.Lstat(local)
		laptopChanged := false
		switch {
		case err == nil && known:
			s := stateOf(cur)
			laptopChanged = s.Size != base.Size || s.ModTime != base.ModTime || (s.Mode.Type() != base.Mode.Type())
			if dir {
				laptopChanged = !cur.IsDir()
			}
		case err == nil && !known:
			laptopChanged = !(dir && cur.IsDir()) // created on the laptop too
		case errors.Is(err, fs.ErrNotExist) && known:
			laptopChanged = true // deleted on the laptop since
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return err
		}
		switch {
		case c.Deleted && laptopChanged:
			// The laptop's copy changed: it is kept.
		case c.Deleted:
			if err := os.Remove(local); err != nil && !errors.Is(err, fs.ErrNotExist) {
				m.log.Warn("binds: not deleted", "err", err) // a directory the laptop filled since
				continue
			}
			delete(br.Files, key)
			rep.Deleted++
		case dir:
			if err := os.MkdirAll(local, 0o755); err != nil {
				return err
			}
			if fi, err := os.Lstat(local); err == nil {
				br.Files[key] = stateOf(fi)
			}
		case laptopChanged:
			if err := m.place(ctx, br.ID, rel, c.Link, local+ConflictSuffix, 0o644); err != nil {
				return err
			}
			rep.Conflicts = append(rep.Conflicts, local)
		default:
			mode := fs.FileMode(0o644)
			if known && base.Mode.IsRegular() {
				mode = base.Mode.Perm() // Cloud Storage keeps no modes: the laptop's stays
			}
			if err := m.place(ctx, br.ID, rel, c.Link, local, mode); err != nil {
				return err
			}
			if fi, err := os.Lstat(local); err == nil {
				br.Files[key] = stateOf(fi)
			}
			rep.Written++
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.up.Target(proxyproto.BindsPath+"/"+br.ID+"/synced", "").String(), nil)
	if err != nil {
		return err
	}
	resp, err := m.up.RoundTrip(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("marking the changes applied: %s", resp.Status)
	}
	return nil
}

func containsDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// place writes the container's version of rel to local: a symlink to link, else the file's contents.
func (m *Manager) place(ctx context.Context, id, rel, link, local string, mode fs.FileMode) error {
	if link == "" {
		return m.fetch(ctx, id, rel, local, mode)
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(local), ".runsock-sync-link-"+filepath.Base(local))
	os.Remove(tmp)
	if err := os.Symlink(link, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, local); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// fetch writes the container's version of rel to local (through a temporary file, so a reader never sees half).
func (m *Manager) fetch(ctx context.Context, id, rel, local string, mode fs.FileMode) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.up.Target(proxyproto.BindsPath+"/"+id+"/files", "path="+url.QueryEscape(rel)).String(), nil)
	if err != nil {
		return err
	}
	resp, err := m.up.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil // deleted again since the listing
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching %s: %s", rel, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(local), ".runsock-sync-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), local)
	}
	return err
}

func (m *Manager) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.up.Target(path, "").String(), nil)
	if err != nil {
		return err
	}
	resp, err := m.up.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Message string }
		json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		return &httpError{status: resp.StatusCode, msg: e.Message}
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

// finish syncs r, then removes its stagings: its container is gone.
func (m *Manager) finish(ctx context.Context, r *record) {
	l := m.lock(r.Container)
	l.Lock()
	defer l.Unlock()
	if r.finished {
		return
	}
	if _, err := m.syncLocked(ctx, r); err != nil {
		var he *httpError
		if !errors.As(err, &he) || he.status != http.StatusNotFound {
			m.log.Warn("binds: changes not written back; kept for the next start", "container", r.Container, "err", err)
			return
		}
	}
	r.finished = true
	for _, br := range r.Binds {
		m.removeStaging(ctx, br.ID)
	}
	m.forget(r.Container)
}

// HoldWait wraps the response writer of a wait on ref: the answer (the container has exited) reaches the client
// only once the container's changes are back, so `docker run … && cat FILE` sees them.
func (m *Manager) HoldWait(w http.ResponseWriter, ctx context.Context, ref string) http.ResponseWriter {
	r := m.lookup(ref)
	if r == nil || !hasWritable(r) {
		return w
	}
	return &holdWriter{ResponseWriter: w, sync: func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
		defer cancel()
		if _, err := m.syncRecord(sctx, r); err != nil {
			m.log.Warn("binds: changes not written back at exit", "container", r.Container, "err", err)
		}
	}}
}

func hasWritable(r *record) bool {
	for _, b := range r.Binds {
		if !b.ReadOnly {
			return true
		}
	}
	return false
}

type holdWriter struct {
	http.ResponseWriter
	once sync.Once
	sync func()
}

func (h *holdWriter) Write(b []byte) (int, error) {
	h.once.Do(h.sync)
	return h.ResponseWriter.Write(b)
}

func (h *holdWriter) Flush() {
	if f, ok := h.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (h *holdWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// Start follows the control plane's events: a container's exit writes its changes back, its destruction also
// removes its stagings. At each (re)connection, containers that exited or went while it was not following are
// caught up (localproxy was stopped, the laptop offline).
func (m *Manager) Start() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		backoff := time.Second
		for m.ctx.Err() == nil {
			m.catchUp(m.ctx)
			if m.follow(m.ctx) {
				backoff = time.Second
			}
			select {
			case <-m.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
}

// catchUp syncs every recorded container that is not running, and finishes those that are gone.
func (m *Manager) catchUp(ctx context.Context) {
	m.mu.Lock()
	list := make([]*record, 0, len(m.records))
	for _, r := range m.records {
		list = append(list, r)
	}
	m.mu.Unlock()
	for _, r := range list {
		var in struct{ State struct{ Running bool } }
		err := m.getJSON(ctx, "/containers/"+r.Container+"/json", &in)
		var he *httpError
		switch {
		case errors.As(err, &he) && he.status == http.StatusNotFound:
			m.finish(ctx, r)
		case err == nil && !in.State.Running:
			if _, err := m.syncRecord(ctx, r); err != nil {
				m.log.Warn("binds: changes not written back", "container", r.Container, "err", err)
			}
		}
	}
}

// follow reads /events until it fails; it reports whether it was connected.
func (m *Manager) follow(ctx context.Context) bool {
	filters, _ := json.Marshal(map[string][]string{"type": {"container"}, "event": {"die", "destroy"}})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.up.Target("/events", "filters="+url.QueryEscape(string(filters))).String(), nil)
	if err != nil {
		return false
	}
	resp, err := m.up.RoundTrip(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var ev struct {
			Action string
			Actor  struct{ ID string }
		}
		if err := dec.Decode(&ev); err != nil {
			return true
		}
		m.mu.Lock()
		r := m.records[ev.Actor.ID]
		m.mu.Unlock()
		if r == nil {
			continue
		}
		switch ev.Action {
		case "die":
			if _, err := m.syncRecord(ctx, r); err != nil {
				m.log.Warn("binds: changes not written back", "container", r.Container, "err", err)
			}
		case "destroy":
			m.finish(ctx, r)
		}
	}
}

// LocalSyncPath is localproxy's own route (never forwarded) for `localproxy sync`: POST LocalSyncPath?container=REF
// answers 200 with a Report, 404 when this localproxy staged no bind for REF.
const LocalSyncPath = "/runsock/local/binds/sync"

// ServeSync serves LocalSyncPath.
func (m *Manager) ServeSync(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	rep, err := m.Sync(r.Context(), r.URL.Query().Get("container"))
	switch {
	case errors.Is(err, ErrUnknown):
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
	case err != nil:
		w.WriteHeader(http.StatusBadGateway)
		json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
	default:
		json.NewEncoder(w).Encode(rep)
	}
}
