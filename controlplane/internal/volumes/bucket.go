package volumes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"
)

// Bucket is the volumes bucket through the Cloud Storage JSON API (cloud-run-volumes.md §4): objects.list by
// prefix and objects.delete, with the control plane's credentials (on Cloud Run its service account, from the
// metadata server).
type Bucket struct {
	name     string
	endpoint string // "https://storage.googleapis.com" or gcpsim's "http://127.0.0.1:18098"
	hc       *http.Client
}

var _ Objects = (*Bucket)(nil)

// NewBucket returns the bucket name at endpoint ("" = Google's), authenticated as Google's libraries find
// credentials (opts may override).
func NewBucket(ctx context.Context, name, endpoint string, opts ...option.ClientOption) (*Bucket, error) {
	if endpoint == "" {
		endpoint = "https://storage.googleapis.com"
	}
	opts = append([]option.ClientOption{option.WithScopes("https://www.googleapis.com/auth/devstorage.read_write")}, opts...)
	hc, _, err := htransport.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("volumes bucket %s: %w", name, err)
	}
	return &Bucket{name: name, endpoint: strings.TrimSuffix(endpoint, "/"), hc: hc}, nil
}

type listPage struct {
	Items []struct {
		Name string `json:"name"`
		Size string `json:"size"`
	} `json:"items"`
	NextPageToken string `json:"nextPageToken"`
}

// each calls fn for every object under prefix, page by page (1,000 a page, one Class A operation each).
func (b *Bucket) each(ctx context.Context, prefix string, fn func(name string, size int64) error) error {
	token := ""
	for {
		q := url.Values{"prefix": {prefix}, "fields": {"items(name,size),nextPageToken"}}
		if token != "" {
			q.Set("pageToken", token)
		}
		var page listPage
		if err := b.do(ctx, http.MethodGet, "/storage/v1/b/"+url.PathEscape(b.name)+"/o?"+q.Encode(), &page); err != nil {
			return fmt.Errorf("list gs://%s/%s: %w", b.name, prefix, err)
		}
		for _, it := range page.Items {
			n, _ := strconv.ParseInt(it.Size, 10, 64)
			if err := fn(it.Name, n); err != nil {
				return err
			}
		}
		if page.NextPageToken == "" {
			return nil
		}
		token = page.NextPageToken
	}
}

// DeletePrefix deletes every object under prefix; an object already gone is not an error.
func (b *Bucket) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	var names []string
	var total int64
	if err := b.each(ctx, prefix, func(name string, size int64) error {
		names, total = append(names, name), total+size
		return nil
	}); err != nil {
		return 0, err
	}
	// Deepest first, so a directory placeholder ("dir/") goes after what it held.
	for i := len(names) - 1; i >= 0; i-- {
		err := b.do(ctx, http.MethodDelete, "/storage/v1/b/"+url.PathEscape(b.name)+"/o/"+url.PathEscape(names[i]), nil)
		if err != nil && !errdefs.IsNotFound(err) {
			return 0, fmt.Errorf("delete gs://%s/%s: %w", b.name, names[i], err)
		}
	}
	return total, nil
}

// Usage sums the sizes of the objects under prefix.
func (b *Bucket) Usage(ctx context.Context, prefix string) (int64, error) {
	var total int64
	err := b.each(ctx, prefix, func(_ string, size int64) error { total += size; return nil })
	return total, err
}

// apiError is Cloud Storage's JSON error body.
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// responseError is nil for a success, else the JSON API's error classified by kind.
func responseError(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	var e apiError
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	json.Unmarshal(body, &e)
	msg := e.Error.Message
	if msg == "" {
		msg = resp.Status
	}
	var kind error = errdefs.ErrUnknown
	switch {
	case resp.StatusCode == http.StatusConflict:
		kind = errdefs.ErrConflict
	case resp.StatusCode == http.StatusNotFound:
		kind = errdefs.ErrNotFound
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		kind = errdefs.ErrPermissionDenied
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		kind = errdefs.ErrUnavailable
	}
	return fmt.Errorf("cloud storage: %s: %w", msg, kind)
}

func (b *Bucket) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, b.endpoint+path, nil)
	if err != nil {
		return err
	}
	resp, err := b.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// send makes one call and turns Google's error answers into errors of the matching kind; the caller closes the
// body of a successful answer.
func (b *Bucket) send(req *http.Request) (*http.Response, error) {
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cloud storage: %v: %w", err, errdefs.ErrUnavailable)
	}
	if err := responseError(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// Object is one object of the bucket as a volume's files are read: its name, size, last update, and the target
// when gcsfuse stored a symlink there (cloud-run-volumes.md §4.4: metadata goog-reserved-file-is-symlink or
// gcsfuse_symlink_target).
type Object struct {
	Name       string
	Size       int64
	Generation int64
	Updated    time.Time
	Symlink    string
}

type objectsPage struct {
	Items []struct {
		Name       string            `json:"name"`
		Size       string            `json:"size"`
		Generation string            `json:"generation"`
		Updated    string            `json:"updated"`
		Metadata   map[string]string `json:"metadata"`
	} `json:"items"`
	NextPageToken string `json:"nextPageToken"`
}

// List returns the objects whose names start with prefix, in name order, at most max of them (0: all), one
// objects.list call (a Class A operation) per 1,000.
func (b *Bucket) List(ctx context.Context, prefix string, max int) ([]Object, error) {
	var out []Object
	token := ""
	for {
		q := url.Values{"prefix": {prefix}, "fields": {"items(name,size,generation,updated,metadata),nextPageToken"}}
		if max > 0 {
			q.Set("maxResults", strconv.Itoa(max-len(out)))
		}
		if token != "" {
			q.Set("pageToken", token)
		}
		var page objectsPage
		if err := b.do(ctx, http.MethodGet, "/storage/v1/b/"+url.PathEscape(b.name)+"/o?"+q.Encode(), &page); err != nil {
			return nil, fmt.Errorf("list gs://%s/%s: %w", b.name, prefix, err)
		}
		for _, it := range page.Items {
			o := Object{Name: it.Name}
			o.Size, _ = strconv.ParseInt(it.Size, 10, 64)
			o.Generation, _ = strconv.ParseInt(it.Generation, 10, 64)
			o.Updated, _ = time.Parse(time.RFC3339Nano, it.Updated)
			if it.Metadata[metaSymlink] == "true" || it.Metadata[metaSymlinkTarget] != "" {
				o.Symlink = it.Metadata[metaSymlinkTarget]
			}
			out = append(out, o)
		}
		if page.NextPageToken == "" || (max > 0 && len(out) >= max) {
			return out, nil
		}
		token = page.NextPageToken
	}
}

// Open reads an object's contents (objects.get alt=media, a Class B operation); close the reader.
func (b *Bucket) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.endpoint+"/storage/v1/b/"+url.PathEscape(b.name)+"/o/"+url.PathEscape(name)+"?alt=media", nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.send(req)
	if err != nil {
		return nil, fmt.Errorf("read gs://%s/%s: %w", b.name, name, err)
	}
	return resp.Body, nil
}

// Write stores an object of size bytes read from r (objects.insert, a Class A operation), or, for a symlink
// (target != ""), one carrying gcsfuse's symlink metadata with the target as the body, as gcsfuse ≥ 3.9 writes
// one. An object whose name ends in "/" is a directory placeholder, as gcsfuse's mkdir makes.
func (b *Bucket) Write(ctx context.Context, name string, r io.Reader, size int64, target string) error {
	var err error
	if target != "" {
		_, err = b.PutSymlink(ctx, name, target)
	} else {
		_, err = b.upload(ctx, name, "media", "application/octet-stream", r, size)
	}
	return err
}

// Cloud Storage FUSE's symlinks (cloud-run-volumes.md §3): the object's body is the target, and its metadata says
// so (goog-reserved-file-is-symlink, since gcsfuse 3.9; gcsfuse_symlink_target, before).
const (
	metaSymlink       = "goog-reserved-file-is-symlink"
	metaSymlinkTarget = "gcsfuse_symlink_target"
)

// Put stores the size bytes of body as object name (a simple media upload with its Content-Length, as Google
// documents one, §4) and returns the new generation.
func (b *Bucket) Put(ctx context.Context, name string, body io.Reader, size int64) (int64, error) {
	return b.upload(ctx, name, "media", "application/octet-stream", body, size)
}

// upload stores the size bytes of body as object name, with that Content-Length, and returns the new generation.
func (b *Bucket) upload(ctx context.Context, name, kind, contentType string, body io.Reader, size int64) (int64, error) {
	if size == 0 {
		body = http.NoBody // a zero ContentLength with a body would be sent chunked
	}
	q := url.Values{"uploadType": {kind}, "name": {name}, "fields": {"generation"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.endpoint+"/upload/storage/v1/b/"+url.PathEscape(b.name)+"/o?"+q.Encode(), body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", contentType)
	resp, err := b.send(req)
	if err != nil {
		return 0, fmt.Errorf("put gs://%s/%s: %w", b.name, name, err)
	}
	defer resp.Body.Close()
	var o struct {
		Generation string `json:"generation"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
		return 0, fmt.Errorf("put gs://%s/%s: reading the answer: %w", b.name, name, err)
	}
	g, _ := strconv.ParseInt(o.Generation, 10, 64)
	return g, nil
}

// PutSymlink stores object name as a symlink to target, as Cloud Storage FUSE does (a multipart upload carrying the
// metadata).
func (b *Bucket) PutSymlink(ctx context.Context, name, target string) (int64, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	meta, _ := json.Marshal(map[string]any{"name": name, "metadata": map[string]string{metaSymlink: "true", metaSymlinkTarget: target}})
	h := textproto.MIMEHeader{"Content-Type": {"application/json; charset=UTF-8"}}
	pw, _ := mw.CreatePart(h)
	pw.Write(meta)
	pw, _ = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/octet-stream"}})
	io.WriteString(pw, target)
	mw.Close()
	return b.upload(ctx, name, "multipart", "multipart/related; boundary="+mw.Boundary(), &body, int64(body.Len()))
}
