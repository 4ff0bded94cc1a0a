package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Config configures a Server.
type Config struct {
	// Dir holds one directory per bucket and the uploads in progress (Dir/.uploads). Required.
	Dir string
	// Buckets are created (their directories) at New; names follow Cloud Storage's rules.
	Buckets []string
	// Project and ProjectNumber are reported in buckets.get.
	Project, ProjectNumber, Location string
	// Bindings are the buckets' IAM policies.
	Bindings []Binding
	// VerifyAccessToken checks an OAuth2 access token and names its principal. Required.
	VerifyAccessToken func(token string) (email string, expires time.Time, err error)
	// Logger may be nil (discard).
	Logger *slog.Logger
}

// Server serves the Cloud Storage JSON API (and XML reads) over objects kept in directories.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$`)

// New returns a Server, creating the buckets' directories.
func New(cfg Config) (*Server, error) {
	var errs []error
	if cfg.Dir == "" {
		errs = append(errs, errors.New("storage: Dir is required"))
	}
	if cfg.VerifyAccessToken == nil {
		errs = append(errs, errors.New("storage: VerifyAccessToken is required"))
	}
	for _, b := range cfg.Buckets {
		if !bucketNameRE.MatchString(b) {
			errs = append(errs, fmt.Errorf("storage: invalid bucket name %q", b))
		}
	}
	for _, b := range cfg.Bindings {
		if _, ok := roles[b.Role]; !ok {
			errs = append(errs, fmt.Errorf("storage: binding on %s: unknown role %s", b.Bucket, b.Role))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, b := range append(cfg.Buckets, ".uploads") {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, b), 0o777); err != nil {
			return nil, fmt.Errorf("storage: bucket %s: %w", b, err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, log: log, mux: http.NewServeMux()}
	s.routes()
	return s, nil
}

// BucketDir returns the directory holding bucket's objects, and whether the bucket exists. The task runner mounts
// it (or a subdirectory, only-dir) into task containers.
func (s *Server) BucketDir(bucket string) (string, bool) {
	if !bucketNameRE.MatchString(bucket) {
		return "", false
	}
	dir := filepath.Join(s.cfg.Dir, bucket)
	fi, err := os.Stat(dir)
	return dir, err == nil && fi.IsDir()
}

// Allowed reports whether email holds perm on bucket.
func (s *Server) Allowed(bucket, email, perm string) bool {
	return Allowed(s.cfg.Bindings, bucket, email, perm)
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /storage/v1/b/{bucket}", s.getBucket)
	s.mux.HandleFunc("GET /storage/v1/b/{bucket}/o", s.list)
	s.mux.HandleFunc("GET /storage/v1/b/{bucket}/o/{object...}", s.getObject)
	s.mux.HandleFunc("DELETE /storage/v1/b/{bucket}/o/{object...}", s.deleteObject)
	s.mux.HandleFunc("POST /upload/storage/v1/b/{bucket}/o", s.upload)
	s.mux.HandleFunc("PUT /upload/storage/v1/b/{bucket}/o", s.upload)
	s.mux.HandleFunc("GET /{bucket}/{object...}", s.xmlRead)
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// apiError is Google's JSON error (cloud-run-volumes.md §4.3).
type apiError struct {
	code        int
	reason, msg string
}

func (e *apiError) Error() string { return e.msg }

func errNoBucket(b string) error {
	return &apiError{http.StatusNotFound, "notFound", "The specified bucket does not exist."}
}

func errNoObject(b, o string) error {
	return &apiError{http.StatusNotFound, "notFound", fmt.Sprintf("No such object: %s/%s", b, o)}
}

func errPrecondition() error {
	return &apiError{http.StatusPreconditionFailed, "conditionNotMet", "At least one of the pre-conditions you specified did not hold."}
}

func errInvalid(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "invalid", fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{http.StatusInternalServerError, "backendError", err.Error()}
	}
	writeJSON(w, ae.code, map[string]any{"error": map[string]any{"code": ae.code, "message": ae.msg,
		"errors": []map[string]string{{"domain": "global", "reason": ae.reason, "message": ae.msg}}}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// authorize authenticates the request and checks perm on bucket, answering as Google does: 401 without a valid
// token, 403 without the permission, 404 for a bucket that does not exist only to those who may know.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, bucket, perm, resource string) (string, bool) {
	email := ""
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		e, _, err := s.cfg.VerifyAccessToken(strings.TrimSpace(tok))
		if !ok || err != nil {
			writeError(w, &apiError{http.StatusUnauthorized, "authError", "Invalid Credentials"})
			return "", false
		}
		email = e
	}
	if !s.Allowed(bucket, email, perm) {
		who := email
		if who == "" {
			who = "Anonymous caller"
		}
		code, reason := http.StatusForbidden, "forbidden"
		if email == "" {
			code, reason = http.StatusUnauthorized, "required"
		}
		writeError(w, &apiError{code, reason, fmt.Sprintf("%s does not have %s access to the Google Cloud Storage %s. Permission '%s' denied on resource (or it may not exist).", who, perm, resource, perm)})
		return "", false
	}
	if _, ok := s.BucketDir(bucket); !ok {
		writeError(w, errNoBucket(bucket))
		return "", false
	}
	return email, true
}

func (s *Server) getBucket(w http.ResponseWriter, r *http.Request) {
	b := r.PathValue("bucket")
	if _, ok := s.authorize(w, r, b, PermBucketGet, "bucket"); !ok {
		return
	}
	dir, _ := s.BucketDir(b)
	fi, err := os.Stat(dir)
	if err != nil {
		writeError(w, err)
		return
	}
	t := fi.ModTime().UTC().Format(time.RFC3339Nano)
	writeJSON(w, http.StatusOK, map[string]any{"kind": "storage#bucket", "id": b, "name": b,
		"selfLink": "https://www.googleapis.com/storage/v1/b/" + b, "projectNumber": s.cfg.ProjectNumber,
		"metageneration": "1", "location": strings.ToUpper(s.cfg.Location), "storageClass": "STANDARD",
		"locationType": "region", "timeCreated": t, "updated": t, "etag": "CAE="})
}
