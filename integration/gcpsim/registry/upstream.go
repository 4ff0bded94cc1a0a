package registry

import (
	"io"
	"log/slog"
	"net/http"
)

// Upstream is an anonymous OCI registry standing in for Docker Hub (registry-1.docker.io): the upstream of the
// remote repositories. Anyone may pull and push; names are Docker Hub's (library/alpine).
type Upstream struct{ store *store }

// NewUpstream returns an Upstream keeping its state in dir ("" = memory), like Config.Dir.
func NewUpstream(dir string, log *slog.Logger) (*Upstream, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	st, err := newStore(dir, log)
	if err != nil {
		return nil, err
	}
	return &Upstream{store: st}, nil
}

// ServeHTTP serves the OCI distribution API under /v2/ without authentication.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	u.store.ServeHTTP(w, req)
}
