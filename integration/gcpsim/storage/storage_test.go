package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gcs "cloud.google.com/go/storage"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/runsock/runsock/integration/gcpsim/accesstoken"
	"github.com/runsock/runsock/integration/gcpsim/storage"
)

const (
	bucket = "p-runsock-volumes"
	rwSA   = "jobs@p.iam.gserviceaccount.com"
	roSA   = "reader@p.iam.gserviceaccount.com"
)

type fixture struct {
	srv    *storage.Server
	url    string
	dir    string
	tokens *accesstoken.Issuer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	tokens, err := accesstoken.New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv, err := storage.New(storage.Config{Dir: dir, Buckets: []string{bucket}, Project: "p", ProjectNumber: "1", Location: "us-central1",
		Bindings: []storage.Binding{{Bucket: bucket, Role: "roles/storage.objectUser", Member: "serviceAccount:" + rwSA},
			{Bucket: bucket, Role: "roles/storage.objectViewer", Member: "serviceAccount:" + roSA}},
		VerifyAccessToken: func(tok string) (string, time.Time, error) {
			tk, err := tokens.Verify(tok)
			return tk.Email, tk.Expires, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &fixture{srv: srv, url: hs.URL, dir: dir, tokens: tokens}
}

// client is the official Go client as a program on Google would use it, only the endpoint differs.
func (f *fixture) client(t *testing.T, email string) *gcs.Client {
	t.Helper()
	tok, err := f.tokens.Mint(email)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gcs.NewClient(context.Background(), option.WithEndpoint(f.url+"/storage/v1/"),
		option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.Value, Expiry: tok.Expires})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, o *gcs.ObjectHandle, data []byte, chunk int) error {
	t.Helper()
	w := o.NewWriter(context.Background())
	w.ChunkSize = chunk
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func TestGoClientRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.client(t, rwSA).Bucket(bucket)

	small := []byte("hello volume\n")
	big := make([]byte, 5<<20+123)
	rand.Read(big)
	for _, tc := range []struct {
		name  string
		data  []byte
		chunk int
	}{{"vols/a/hello.txt", small, 0}, {"vols/a/sub/big.bin", big, 1 << 20}, {"vols/b/x", small, 16 << 20}} {
		if err := write(t, b.Object(tc.name), tc.data, tc.chunk); err != nil {
			t.Fatalf("write %s (chunk %d): %v", tc.name, tc.chunk, err)
		}
		r, err := b.Object(tc.name).NewReader(ctx)
		if err != nil {
			t.Fatalf("read %s: %v", tc.name, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, tc.data) {
			t.Fatalf("read %s: %d bytes, err %v; want %d bytes equal", tc.name, len(got), err, len(tc.data))
		}
	}
	// What the API wrote is a file where a task's bind mount of the bucket sees it.
	if got, err := os.ReadFile(filepath.Join(f.dir, bucket, "vols/a/hello.txt")); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("file on disk: %q, %v", got, err)
	}
	// ... and what a task writes, the API reads.
	os.WriteFile(filepath.Join(f.dir, bucket, "vols/a/from-task"), []byte("task"), 0o644)
	os.Mkdir(filepath.Join(f.dir, bucket, "vols/a/empty"), 0o755)

	// A range read.
	r, err := b.Object("vols/a/sub/big.bin").NewRangeReader(ctx, 10, 100)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(part, big[10:110]) {
		t.Fatalf("range read: got %d bytes, not the object's", len(part))
	}

	attrs, err := b.Object("vols/a/sub/big.bin").Attrs(ctx)
	if err != nil || attrs.Size != int64(len(big)) || attrs.Generation == 0 || attrs.CRC32C == 0 {
		t.Fatalf("attrs: %+v, %v", attrs, err)
	}

	// List with a delimiter: one level, as gcsfuse's readdir asks.
	var names, prefixes []string
	it := b.Objects(ctx, &gcs.Query{Prefix: "vols/a/", Delimiter: "/", IncludeTrailingDelimiter: true})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if a.Prefix != "" {
			prefixes = append(prefixes, a.Prefix)
		} else {
			names = append(names, a.Name)
		}
	}
	if strings.Join(names, ",") != "vols/a/empty/,vols/a/from-task,vols/a/hello.txt" || strings.Join(prefixes, ",") != "vols/a/empty/,vols/a/sub/" {
		t.Fatalf("list vols/a/: items %v prefixes %v", names, prefixes)
	}
	// Paging: one result a page still lists everything once, in order.
	var all []string
	it = b.Objects(ctx, &gcs.Query{Prefix: "vols/"})
	it.PageInfo().MaxSize = 1
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, a.Name)
	}
	if strings.Join(all, ",") != "vols/a/empty/,vols/a/from-task,vols/a/hello.txt,vols/a/sub/big.bin,vols/b/x" {
		t.Fatalf("list vols/ page by page: %v", all)
	}

	// Preconditions: create-only fails on an existing object with 412.
	err = write(t, b.Object("vols/b/x").If(gcs.Conditions{DoesNotExist: true}), small, 0)
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusPreconditionFailed {
		t.Fatalf("create-only over an existing object: %v, want 412", err)
	}

	if err := b.Object("vols/b/x").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Object("vols/b/x").Attrs(ctx); !errors.Is(err, gcs.ErrObjectNotExist) {
		t.Fatalf("attrs after delete: %v, want ErrObjectNotExist", err)
	}
	if _, err := b.Object("vols/b/x").NewReader(ctx); !errors.Is(err, gcs.ErrObjectNotExist) {
		t.Fatalf("read after delete: %v, want ErrObjectNotExist", err)
	}
	if err := b.Object("vols/b/x").Delete(ctx); !errors.Is(err, gcs.ErrObjectNotExist) {
		t.Fatalf("second delete: %v, want ErrObjectNotExist", err)
	}
}

func TestIAM(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := write(t, f.client(t, rwSA).Bucket(bucket).Object("v/f"), []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	// A reader reads but cannot write or delete.
	ro := f.client(t, roSA).Bucket(bucket)
	if _, err := ro.Object("v/f").Attrs(ctx); err != nil {
		t.Fatalf("reader attrs: %v", err)
	}
	var ge *googleapi.Error
	if err := write(t, ro.Object("v/g"), []byte("x"), 0); !errors.As(err, &ge) || ge.Code != http.StatusForbidden ||
		!strings.Contains(ge.Message, "storage.objects.create") {
		t.Fatalf("reader writes: %v, want 403 naming storage.objects.create", err)
	}
	if err := ro.Object("v/f").Delete(ctx); !errors.As(err, &ge) || ge.Code != http.StatusForbidden {
		t.Fatalf("reader deletes: %v, want 403", err)
	}
	// Someone with no role gets 403; a bad token 401; no token 401.
	if _, err := f.client(t, "stranger@p.iam.gserviceaccount.com").Bucket(bucket).Object("v/f").Attrs(ctx); !errors.As(err, &ge) || ge.Code != http.StatusForbidden {
		t.Fatalf("stranger: %v, want 403", err)
	}
	for _, auth := range []string{"", "Bearer ya29.forged"} {
		req, _ := http.NewRequest("GET", f.url+"/storage/v1/b/"+bucket+"/o/v%2Ff", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("auth %q: %d, want 401", auth, resp.StatusCode)
		}
	}
	// Nothing was written by the refused requests.
	if _, err := os.Stat(filepath.Join(f.dir, bucket, "v/g")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused write left a file: %v", err)
	}
	// Names that cannot be paths are refused, not written outside the bucket.
	rw := f.client(t, rwSA).Bucket(bucket)
	if err := write(t, rw.Object("../escape"), []byte("x"), 0); !errors.As(err, &ge) || ge.Code != http.StatusBadRequest {
		t.Fatalf("../escape: %v, want 400", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "escape")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("../escape written: %v", err)
	}
}
