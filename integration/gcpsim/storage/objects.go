package storage

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// objectPath maps an object name to its file; names that cannot be a path (empty segments, "." or "..", NUL, more
// than 1024 bytes) are refused, a deviation from Google stated in the package doc.
func (s *Server) objectPath(bucket, name string) (string, error) {
	if name == "" || len(name) > 1024 || strings.ContainsRune(name, 0) {
		return "", errInvalid("The specified object name is not valid.")
	}
	trimmed := strings.TrimSuffix(name, "/")
	for _, seg := range strings.Split(trimmed, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", errInvalid("gcpsim cannot store object name %q (empty, '.' or '..' path segments)", name)
		}
	}
	dir, _ := s.BucketDir(bucket)
	return filepath.Join(dir, filepath.FromSlash(trimmed)), nil
}

// object is the JSON object resource (cloud-run-volumes.md §4.2).
type object struct {
	Kind           string            `json:"kind"`
	ID             string            `json:"id"`
	SelfLink       string            `json:"selfLink"`
	MediaLink      string            `json:"mediaLink"`
	Name           string            `json:"name"`
	Bucket         string            `json:"bucket"`
	Generation     string            `json:"generation"`
	Metageneration string            `json:"metageneration"`
	ContentType    string            `json:"contentType"`
	StorageClass   string            `json:"storageClass"`
	Size           string            `json:"size"`
	MD5Hash        string            `json:"md5Hash,omitempty"`
	CRC32C         string            `json:"crc32c,omitempty"`
	Etag           string            `json:"etag"`
	TimeCreated    string            `json:"timeCreated"`
	Updated        string            `json:"updated"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}

func generation(fi fs.FileInfo) int64 { return fi.ModTime().UnixNano() }

// stat finds the live object name: a regular file for "a", a directory for "a/" (the placeholder).
func (s *Server) stat(bucket, name string) (string, fs.FileInfo, error) {
	p, err := s.objectPath(bucket, name)
	if err != nil {
		return "", nil, err
	}
	fi, err := os.Lstat(p)
	if err != nil || fi.IsDir() != strings.HasSuffix(name, "/") || !(fi.IsDir() || fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0) {
		return "", nil, errNoObject(bucket, name)
	}
	return p, fi, nil
}

func (s *Server) resource(bucket, name string, fi fs.FileInfo, withHashes bool, path string) (object, error) {
	gen := generation(fi)
	t := fi.ModTime().UTC().Format(time.RFC3339Nano)
	size := fi.Size()
	if fi.IsDir() {
		size = 0
	}
	var meta map[string]string
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(path)
		if err != nil {
			return object{}, err
		}
		size, meta = int64(len(target)), map[string]string{metaSymlink: "true", metaSymlinkTarget: target}
	}
	o := object{Kind: "storage#object", ID: fmt.Sprintf("%s/%s/%d", bucket, name, gen), Name: name, Bucket: bucket,
		SelfLink:   "https://www.googleapis.com/storage/v1/b/" + bucket + "/o/" + url.PathEscape(name),
		MediaLink:  "https://storage.googleapis.com/download/storage/v1/b/" + bucket + "/o/" + url.PathEscape(name) + "?generation=" + strconv.FormatInt(gen, 10) + "&alt=media",
		Generation: strconv.FormatInt(gen, 10), Metageneration: "1", ContentType: "application/octet-stream",
		StorageClass: "STANDARD", Size: strconv.FormatInt(size, 10), Etag: base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(gen, 16))),
		TimeCreated: t, Updated: t, Metadata: meta}
	if withHashes {
		md, crc, err := hashes(path, fi)
		if err != nil {
			return o, err
		}
		o.MD5Hash, o.CRC32C = md, crc
	}
	return o, nil
}

func hashes(path string, fi fs.FileInfo) (md5b64, crcb64 string, err error) {
	m, c := md5.New(), crc32.New(castagnoli)
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(path)
		if err != nil {
			return "", "", err
		}
		io.WriteString(io.MultiWriter(m, c), target)
	} else if !fi.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return "", "", err
		}
		defer f.Close()
		if _, err := io.Copy(io.MultiWriter(m, c), f); err != nil {
			return "", "", err
		}
	}
	crc := binary.BigEndian.AppendUint32(nil, c.Sum32())
	return base64.StdEncoding.EncodeToString(m.Sum(nil)), base64.StdEncoding.EncodeToString(crc), nil
}

// checkGeneration applies ifGenerationMatch / ifGenerationNotMatch against the live generation (0: none).
func checkGeneration(q url.Values, live int64) error {
	if v := q.Get("ifGenerationMatch"); v != "" {
		g, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errInvalid("Invalid value for ifGenerationMatch: %s", v)
		}
		if g != live {
			return errPrecondition()
		}
	}
	if v := q.Get("ifGenerationNotMatch"); v != "" {
		g, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errInvalid("Invalid value for ifGenerationNotMatch: %s", v)
		}
		if g == live {
			return errPrecondition()
		}
	}
	return nil
}

func (s *Server) getObject(w http.ResponseWriter, r *http.Request) {
	b, name := r.PathValue("bucket"), r.PathValue("object")
	if _, ok := s.authorize(w, r, b, PermObjectGet, "object"); !ok {
		return
	}
	p, fi, err := s.stat(b, name)
	if err == nil {
		err = checkGeneration(r.URL.Query(), generation(fi))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if r.URL.Query().Get("alt") == "media" {
		s.serveMedia(w, r, b, name, p, fi)
		return
	}
	o, err := s.resource(b, name, fi, true, p)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// xmlRead is the XML API read the Go client uses by default: GET/HEAD /BUCKET/OBJECT.
func (s *Server) xmlRead(w http.ResponseWriter, r *http.Request) {
	b, name := r.PathValue("bucket"), r.PathValue("object")
	if _, ok := s.authorize(w, r, b, PermObjectGet, "object"); !ok {
		return
	}
	p, fi, err := s.stat(b, name)
	if err == nil {
		if v := r.Header.Get("X-Goog-If-Generation-Match"); v != "" {
			err = checkGeneration(url.Values{"ifGenerationMatch": {v}}, generation(fi))
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.serveMedia(w, r, b, name, p, fi)
}

func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request, b, name, p string, fi fs.FileInfo) {
	md, crc, err := hashes(p, fi)
	if err != nil {
		writeError(w, err)
		return
	}
	h := w.Header()
	h.Set("X-Goog-Generation", strconv.FormatInt(generation(fi), 10))
	h.Set("X-Goog-Metageneration", "1")
	h.Set("X-Goog-Hash", "crc32c="+crc+",md5="+md)
	h.Set("X-Goog-Stored-Content-Length", strconv.FormatInt(fi.Size(), 10))
	h.Set("Content-Type", "application/octet-stream")
	if fi.IsDir() {
		w.WriteHeader(http.StatusOK)
		return
	}
	if fi.Mode()&fs.ModeSymlink != 0 { // a symlink object's body is its target
		target, err := os.Readlink(p)
		if err != nil {
			writeError(w, err)
			return
		}
		h.Set("X-Goog-Stored-Content-Length", strconv.Itoa(len(target)))
		io.WriteString(w, target)
		return
	}
	f, err := os.Open(p)
	if err != nil {
		writeError(w, err)
		return
	}
	defer f.Close()
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request) {
	b, name := r.PathValue("bucket"), r.PathValue("object")
	if _, ok := s.authorize(w, r, b, PermObjectDelete, "object"); !ok {
		return
	}
	p, fi, err := s.stat(b, name)
	if err == nil {
		err = checkGeneration(r.URL.Query(), generation(fi))
	}
	if err == nil {
		// A placeholder "dir/" of a directory that still holds objects stays as the implicit directory.
		if err = os.Remove(p); err != nil && fi.IsDir() {
			err = nil
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// names lists every object name under the bucket's directory in Cloud Storage's order (bytewise): regular files,
// and "dir/" for each empty directory.
func (s *Server) names(bucket, prefix string) ([]string, error) {
	root, _ := s.BucketDir(bucket)
	// Walk only the directory the prefix lies in.
	start := root
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		start = filepath.Join(root, filepath.FromSlash(prefix[:i]))
	}
	var out []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			if p == root {
				return nil
			}
			if entries, err := os.ReadDir(p); err == nil && len(entries) == 0 {
				name += "/"
			} else {
				if !strings.HasPrefix(name+"/", prefix) && !strings.HasPrefix(prefix, name+"/") {
					return filepath.SkipDir
				}
				return nil
			}
		case !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0:
			return nil
		}
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	b := r.PathValue("bucket")
	if _, ok := s.authorize(w, r, b, PermObjectList, "bucket"); !ok {
		return
	}
	q := r.URL.Query()
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	max := 1000
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, errInvalid("Invalid value for maxResults: %s", v))
			return
		}
		if n > 0 && n < max {
			max = n
		}
	}
	after := ""
	if v := q.Get("pageToken"); v != "" {
		t, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			writeError(w, errInvalid("Invalid page token."))
			return
		}
		after = string(t)
	}
	all, err := s.names(b, prefix)
	if err != nil {
		writeError(w, err)
		return
	}
	items, prefixes := []object{}, []string{}
	seen := map[string]bool{}
	last, more := "", false
	for _, name := range all {
		key := name
		isPrefix := false
		if delim != "" {
			if i := strings.Index(name[len(prefix):], delim); i >= 0 {
				key, isPrefix = name[:len(prefix)+i+len(delim)], true
			}
		}
		if key <= after || seen[key] {
			continue
		}
		if len(items)+len(prefixes) == max {
			more = true
			break
		}
		seen[key], last = true, key
		if isPrefix {
			prefixes = append(prefixes, key)
			// A placeholder "dir/" is both a prefix and, when asked for (gcsfuse's readdir asks), an item.
			if !(key == name && q.Get("includeTrailingDelimiter") == "true") {
				continue
			}
		}
		p, fi, err := s.stat(b, name)
		if err != nil {
			continue // removed meanwhile
		}
		o, err := s.resource(b, name, fi, false, p)
		if err != nil {
			writeError(w, err)
			return
		}
		items = append(items, o)
	}
	resp := map[string]any{"kind": "storage#objects", "items": items}
	if len(prefixes) > 0 {
		resp["prefixes"] = prefixes
	}
	if more {
		resp["nextPageToken"] = base64.RawURLEncoding.EncodeToString([]byte(last))
	}
	writeJSON(w, http.StatusOK, resp)
}
