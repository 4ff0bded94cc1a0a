package registry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
)

// store is an OCI registry (go-containerregistry's) whose manifest writes are journaled when it has a directory, so
// that images survive a restart. It serves any repository name to anyone: Registry and Upstream put their rules
// before it.
type store struct {
	inner http.Handler
	log   *slog.Logger

	mu      sync.Mutex // serialises manifest writes and their journal entries
	journal string
}

// newStore returns a store keeping blobs under dir/blobs and the manifest journal in dir/manifests.jsonl, replayed
// now. An empty dir keeps everything in memory.
func newStore(dir string, log *slog.Logger) (*store, error) {
	r := &store{log: log}
	opts := []ggcr.Option{ggcr.Logger(slog.NewLogLogger(r.log.Handler(), slog.LevelDebug))}
	if dir != "" {
		blobs := filepath.Join(dir, "blobs")
		if err := os.MkdirAll(blobs, 0o755); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		opts = append(opts, ggcr.WithBlobHandler(ggcr.NewDiskBlobHandler(blobs)))
		r.journal = filepath.Join(dir, "manifests.jsonl")
	}
	r.inner = ggcr.New(opts...)
	if err := r.replay(); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return r, nil
}

// ServeHTTP serves the OCI distribution API under /v2/.
func (r *store) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if isManifestWrite(req) && r.journal != "" {
		r.journaled(w, req)
		return
	}
	r.inner.ServeHTTP(w, req)
}

// imageName extracts NAME from /v2/NAME/{manifests,blobs,tags,referrers}/...
func imageName(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return "", false
	}
	for _, kind := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(rest, kind); i > 0 {
			return rest[:i], true
		}
	}
	return "", false
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

func isManifestWrite(req *http.Request) bool {
	return (req.Method == http.MethodPut || req.Method == http.MethodDelete) && strings.Contains(req.URL.Path, "/manifests/")
}

// journalEntry is one manifest write: a PUT (with its body) or a DELETE.
type journalEntry struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	ContentType string `json:"contentType,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

// journaled passes a manifest write to the registry and records it when it succeeds.
func (r *store) journaled(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "reading body: "+err.Error())
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: w}
	r.inner.ServeHTTP(rec, req)
	if rec.status >= 300 {
		return
	}
	e := journalEntry{Method: req.Method, Path: req.URL.Path, ContentType: req.Header.Get("Content-Type"), Body: body}
	if err := appendJournal(r.journal, e); err != nil {
		r.log.Error("registry: manifest journal; the write is lost at restart", "path", req.URL.Path, "err", err)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func appendJournal(path string, e journalEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// replay re-applies the journal's manifest writes in order.
func (r *store) replay() error {
	if r.journal == "" {
		return nil
	}
	f, err := os.Open(r.journal)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		var e journalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			r.log.Warn("registry: skipping a damaged journal line", "err", err)
			continue
		}
		req, err := http.NewRequest(e.Method, e.Path, bytes.NewReader(e.Body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", e.ContentType)
		rec := &discardRecorder{header: http.Header{}}
		r.inner.ServeHTTP(rec, req)
		if rec.status >= 300 {
			r.log.Warn("registry: journal entry not replayed", "method", e.Method, "path", e.Path, "status", rec.status)
		}
		n++
	}
	r.log.Info("registry: manifests restored", "writes", n)
	return sc.Err()
}

// discardRecorder is the ResponseWriter of a replayed write: only the status matters.
type discardRecorder struct {
	header http.Header
	status int
}

func (d *discardRecorder) Header() http.Header { return d.header }
func (d *discardRecorder) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return len(b), nil
}
func (d *discardRecorder) WriteHeader(code int) { d.status = code }

// has reports whether a manifest path (/v2/NAME/manifests/REF) is served.
func (r *store) has(path string) bool {
	req, err := http.NewRequest(http.MethodHead, path, nil)
	if err != nil {
		return false
	}
	rec := &discardRecorder{header: http.Header{}}
	r.inner.ServeHTTP(rec, req)
	return rec.status == http.StatusOK
}
