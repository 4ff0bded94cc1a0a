package registry

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config configures a Registry.
type Config struct {
	// Dir keeps the registry's state: blobs under Dir/blobs and a journal of manifest writes in Dir/manifests.jsonl,
	// replayed at start, so images survive a restart. Empty: everything in memory.
	Dir string
	// Project and Location name repositories in refusals ("projects/P/locations/L/repositories/R"). On Google the
	// location comes from the host (us-central1-docker.pkg.dev); locally the host is an address, so it is given.
	Project, Location string
	// Repositories are the repository IDs that exist (the REPO in PROJECT/REPO/IMAGE). A name in any other
	// repository, or in another project, is refused as Artifact Registry refuses a repository the caller may not
	// read: "(or it may not exist)".
	Repositories []string
	// RemoteRepositories are remote repositories (pull-through caches of Upstream): not written by clients, filled
	// on the first pull of each manifest.
	RemoteRepositories []string
	// Upstream is the registry remote repositories proxy, host:port over plain HTTP (gcpsim's Docker Hub).
	Upstream string
	// Bindings are the repositories' IAM policies.
	Bindings []Binding
	// VerifyAccessToken checks an OAuth2 access token and names its principal. Required.
	VerifyAccessToken func(token string) (email string, expires time.Time, err error)
	// Logger may be nil (discard).
	Logger *slog.Logger
}

// Registry is an OCI registry shaped like Artifact Registry: image names are PROJECT/REPO/IMAGE[/...], every
// request needs credentials (Docker's token flow, OAuth2 access tokens), pulls need the reader role and pushes the
// writer role on the repository, and remote repositories pull through from an upstream registry.
type Registry struct {
	cfg   Config
	store *store
	log   *slog.Logger

	fetchMu sync.Mutex // one upstream fetch at a time: a second puller of the same image then finds it cached
}

// New returns a Registry, replaying the manifest journal when Config.Dir is set.
func New(cfg Config) (*Registry, error) {
	var errs []error
	if cfg.Project == "" || cfg.Location == "" {
		errs = append(errs, errors.New("registry: Project and Location are required"))
	}
	if cfg.VerifyAccessToken == nil {
		errs = append(errs, errors.New("registry: VerifyAccessToken is required"))
	}
	if len(cfg.RemoteRepositories) > 0 && cfg.Upstream == "" {
		errs = append(errs, errors.New("registry: remote repositories need an Upstream"))
	}
	for _, b := range cfg.Bindings {
		if _, ok := roles[b.Role]; !ok {
			errs = append(errs, fmt.Errorf("registry: binding on %s: unknown role %s", b.Repository, b.Role))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	st, err := newStore(cfg.Dir, log)
	if err != nil {
		return nil, err
	}
	return &Registry{cfg: cfg, store: st, log: log}, nil
}

// ServeHTTP serves the token endpoint (/v2/token) and the OCI distribution API under /v2/, as Artifact Registry:
// authenticate, authorise on the repository, then serve (pulling through for remote repositories).
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	switch req.URL.Path {
	case "/v2/token":
		r.token(w, req)
		return
	case "/v2/", "/v2":
		if _, ok := r.principal(req); !ok {
			r.challenge(w, req, "")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
		return
	}
	name, ok := imageName(req.URL.Path)
	if !ok {
		// _catalog and the like: Artifact Registry lists through its own API, not the Docker one.
		writeError(w, http.StatusNotFound, "UNSUPPORTED", "The operation is unsupported.")
		return
	}
	project, repo, image, ok := splitName(name)
	if !ok {
		writeError(w, http.StatusNotFound, "NAME_UNKNOWN",
			fmt.Sprintf("image name %q: want PROJECT/REPOSITORY/IMAGE, as in Artifact Registry", name))
		return
	}
	email, ok := r.principal(req)
	if !ok {
		r.challenge(w, req, name)
		return
	}
	perm := permissionFor(req)
	if !r.allowed(project, repo, email, perm) {
		r.deny(w, project, repo, email, perm)
		return
	}
	if slices.Contains(r.cfg.RemoteRepositories, repo) {
		r.serveRemote(w, req, name, image, perm)
		return
	}
	if isManifestRead(req) && !r.store.has(req.URL.Path) {
		manifestUnknown(w, req)
		return
	}
	r.store.ServeHTTP(w, req)
}

// splitName splits PROJECT/REPO/IMAGE[/...].
func splitName(name string) (project, repo, image string, ok bool) {
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// permissionFor is the repository permission a request needs: reads download, writes upload, deletes delete.
func permissionFor(req *http.Request) string {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		return PermDownload
	case http.MethodDelete:
		return PermDelete
	}
	return PermUpload
}

func (r *Registry) exists(project, repo string) bool {
	return project == r.cfg.Project && (slices.Contains(r.cfg.Repositories, repo) || slices.Contains(r.cfg.RemoteRepositories, repo))
}

func (r *Registry) allowed(project, repo, email, perm string) bool {
	return r.exists(project, repo) && allowed(r.cfg.Bindings, repo, email, perm)
}

func (r *Registry) resource(project, repo string) string {
	return fmt.Sprintf("projects/%s/locations/%s/repositories/%s", project, r.cfg.Location, repo)
}

// deny writes Artifact Registry's 403 DENIED (google-front-door.md §4.3). A repository that does not exist gets the
// same answer, never a 404.
func (r *Registry) deny(w http.ResponseWriter, project, repo, email, perm string) {
	var msg string
	if email == "" {
		msg = fmt.Sprintf("Unauthenticated request. Unauthenticated requests do not have permission %q on resource %q (or it may not exist)",
			perm, r.resource(project, repo))
	} else {
		msg = fmt.Sprintf("Permission %q denied on resource %q (or it may not exist)", perm, r.resource(project, repo))
	}
	writeError(w, http.StatusForbidden, "DENIED", msg)
}

func isManifestRead(req *http.Request) bool {
	return (req.Method == http.MethodGet || req.Method == http.MethodHead) && strings.Contains(req.URL.Path, "/manifests/")
}

// manifestUnknown is Artifact Registry's 404 for a tag or digest it cannot serve (google-front-door.md §4.3).
func manifestUnknown(w http.ResponseWriter, req *http.Request) {
	ref := req.URL.Path[strings.LastIndex(req.URL.Path, "/manifests/")+len("/manifests/"):]
	writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", fmt.Sprintf("Failed to fetch %q from request %q.", ref, req.URL.Path))
}
