package storage

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// upload is objects.insert: uploadType media, multipart or resumable (cloud-run-volumes.md §4.1).
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	b := r.PathValue("bucket")
	q := r.URL.Query()
	if q.Get("upload_id") != "" {
		s.resumeUpload(w, r, b, q.Get("upload_id"))
		return
	}
	if _, ok := s.authorize(w, r, b, PermObjectCreate, "object"); !ok {
		return
	}
	switch q.Get("uploadType") {
	case "media":
		s.finish(w, r, b, q.Get("name"), q, r.Body)
	case "multipart":
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || params["boundary"] == "" {
			writeError(w, errInvalid("multipart upload: a multipart/related Content-Type with a boundary is required"))
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		meta, err := mr.NextPart()
		if err != nil {
			writeError(w, errInvalid("multipart upload: metadata part: %v", err))
			return
		}
		var m struct {
			Name     string            `json:"name"`
			Metadata map[string]string `json:"metadata"`
		}
		if err := json.NewDecoder(meta).Decode(&m); err != nil {
			writeError(w, errInvalid("multipart upload: metadata: %v", err))
			return
		}
		media, err := mr.NextPart()
		if err != nil {
			writeError(w, errInvalid("multipart upload: media part: %v", err))
			return
		}
		name := m.Name
		if name == "" {
			name = q.Get("name")
		}
		if isSymlink(m.Metadata) {
			s.finishSymlink(w, b, name, q, media)
			return
		}
		s.finish(w, r, b, name, q, media)
	case "resumable":
		s.startResumable(w, r, b, q)
	default:
		writeError(w, errInvalid("Invalid upload type %q", q.Get("uploadType")))
	}
}

// finish writes body to a temporary file and moves it into place as object name, if the preconditions hold.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, b, name string, q map[string][]string, body io.Reader) {
	p, err := s.objectPath(b, name)
	if err != nil {
		writeError(w, err)
		return
	}
	tmp, err := os.CreateTemp(filepath.Join(s.cfg.Dir, ".uploads"), "insert-*")
	if err != nil {
		writeError(w, err)
		return
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		writeError(w, errInvalid("upload: %v", err))
		return
	}
	s.commit(w, b, name, p, tmp.Name(), q)
}

// commit moves the uploaded file at tmp into place at p.
func (s *Server) commit(w http.ResponseWriter, b, name, p, tmp string, q map[string][]string) {
	live := int64(0)
	if _, fi, err := s.stat(b, name); err == nil {
		live = generation(fi)
	}
	if err := checkGeneration(q, live); err != nil {
		writeError(w, err)
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		writeError(w, conflict(name, err))
		return
	}
	var err error
	if strings.HasSuffix(name, "/") {
		err = os.MkdirAll(p, 0o777) // a placeholder: the body of "dir/" objects is empty in practice
	} else {
		if fi, lerr := os.Lstat(tmp); lerr == nil && fi.Mode().IsRegular() {
			os.Chmod(tmp, 0o666) // task containers run as any user; the object belongs to no one
		}
		err = os.Rename(tmp, p)
	}
	if err != nil {
		writeError(w, conflict(name, err))
		return
	}
	_, fi, err := s.stat(b, name)
	if err != nil {
		writeError(w, err)
		return
	}
	o, err := s.resource(b, name, fi, true, p)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func conflict(name string, err error) error {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
		return &apiError{http.StatusConflict, "conflict", fmt.Sprintf("gcpsim cannot store %q beside an object that is also a directory prefix of it (or the reverse)", name)}
	}
	return err
}

// A resumable session is a file Dir/.uploads/ID (the bytes so far) and ID.json (name and preconditions).
type session struct {
	Bucket string              `json:"bucket"`
	Name   string              `json:"name"`
	Query  map[string][]string `json:"query"`
	Email  string              `json:"email"`
}

var uploadIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (s *Server) startResumable(w http.ResponseWriter, r *http.Request, b string, q map[string][]string) {
	email, _ := s.authorize(w, r, b, PermObjectCreate, "object") // already authorized by the caller; names the owner
	var m struct {
		Name string `json:"name"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, errInvalid("resumable upload: metadata: %v", err))
			return
		}
	}
	name := m.Name
	if name == "" && len(q["name"]) > 0 {
		name = q["name"][0]
	}
	if _, err := s.objectPath(b, name); err != nil {
		writeError(w, err)
		return
	}
	idb := make([]byte, 16)
	rand.Read(idb)
	id := hex.EncodeToString(idb)
	meta, _ := json.Marshal(session{Bucket: b, Name: name, Query: q, Email: email})
	base := filepath.Join(s.cfg.Dir, ".uploads", id)
	if err := os.WriteFile(base+".json", meta, 0o600); err != nil {
		writeError(w, err)
		return
	}
	if err := os.WriteFile(base, nil, 0o600); err != nil {
		writeError(w, err)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	w.Header().Set("Location", fmt.Sprintf("%s://%s/upload/storage/v1/b/%s/o?uploadType=resumable&upload_id=%s", scheme, r.Host, b, id))
	w.WriteHeader(http.StatusOK)
}

var contentRangeRE = regexp.MustCompile(`^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$`)

// resumeUpload takes one chunk (Content-Range: bytes a-b/total|*, or bytes */total to finish or ask).
func (s *Server) resumeUpload(w http.ResponseWriter, r *http.Request, b, id string) {
	if !uploadIDRE.MatchString(id) {
		writeError(w, &apiError{http.StatusNotFound, "notFound", "No such upload session."})
		return
	}
	base := filepath.Join(s.cfg.Dir, ".uploads", id)
	raw, err := os.ReadFile(base + ".json")
	var sess session
	if err == nil {
		err = json.Unmarshal(raw, &sess)
	}
	if err != nil || sess.Bucket != b {
		writeError(w, &apiError{http.StatusNotFound, "notFound", "No such upload session."})
		return
	}
	// The session URI is the credential, as Google's is; the bucket's IAM was checked when it began.
	f, err := os.OpenFile(base, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		writeError(w, err)
		return
	}
	fi, _ := f.Stat()
	have := fi.Size()
	total := int64(-1)
	if cr := r.Header.Get("Content-Range"); cr != "" {
		m := contentRangeRE.FindStringSubmatch(cr)
		if m == nil {
			f.Close()
			writeError(w, errInvalid("Invalid Content-Range %q", cr))
			return
		}
		if m[1] != "" {
			start, _ := strconv.ParseInt(m[1], 10, 64)
			if start != have {
				f.Close()
				writeError(w, errInvalid("Invalid request: chunk starts at %d, expected %d", start, have))
				return
			}
		}
		if m[3] != "*" {
			total, _ = strconv.ParseInt(m[3], 10, 64)
		}
	} else {
		total = -2 // a single PUT of the whole body
	}
	n, err := io.Copy(f, r.Body)
	f.Close()
	if err != nil {
		writeError(w, errInvalid("upload: %v", err))
		return
	}
	have += n
	if total == -2 {
		total = have
	}
	if total < 0 || have < total {
		if r.Header.Get("X-GUploader-No-308") == "yes" {
			w.Header().Set("X-Http-Status-Code-Override", "308")
		}
		if have > 0 {
			w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", have-1))
		}
		if r.Header.Get("X-GUploader-No-308") == "yes" {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusPermanentRedirect)
		}
		return
	}
	defer os.Remove(base + ".json")
	defer os.Remove(base)
	p, err := s.objectPath(b, sess.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	s.commit(w, b, sess.Name, p, base, sess.Query)
}

// Symlinks, as Cloud Storage FUSE stores them (cloud-run-volumes.md §3: object body = target, metadata
// goog-reserved-file-is-symlink=true, and the legacy gcsfuse_symlink_target): gcpsim keeps such an object as a
// symlink file, which is what gcsfuse shows the tasks that mount the bucket, and a symlink a task makes in a mounted
// bucket is listed and read as such an object.
const (
	metaSymlink       = "goog-reserved-file-is-symlink"
	metaSymlinkTarget = "gcsfuse_symlink_target"
)

func isSymlink(meta map[string]string) bool { return meta[metaSymlink] == "true" }

// finishSymlink stores object name as a symlink to body's contents.
func (s *Server) finishSymlink(w http.ResponseWriter, b, name string, q map[string][]string, body io.Reader) {
	p, err := s.objectPath(b, name)
	if err != nil {
		writeError(w, err)
		return
	}
	target, err := io.ReadAll(io.LimitReader(body, 4096))
	if err != nil || len(target) == 0 || strings.HasSuffix(name, "/") {
		writeError(w, errInvalid("symlink object %q: a non-empty target is required", name))
		return
	}
	tmp := filepath.Join(s.cfg.Dir, ".uploads", "link-"+hex.EncodeToString(randomBytes(8)))
	if err := os.Symlink(string(target), tmp); err != nil {
		writeError(w, err)
		return
	}
	defer os.Remove(tmp)
	s.commit(w, b, name, p, tmp, q)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
