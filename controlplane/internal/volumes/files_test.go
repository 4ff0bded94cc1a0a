package volumes_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"

	"github.com/runsock/runsock/controlplane/internal/volumes"
	"github.com/runsock/runsock/integration/gcpsim/accesstoken"
	"github.com/runsock/runsock/integration/gcpsim/storage"
)

// filesBucket is gcpsim's Cloud Storage with the volumes bucket, and its directory (what a task's mount sees).
func filesBucket(t *testing.T) (*volumes.Files, string) {
	t.Helper()
	tokens, err := accesstoken.New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gcs, err := storage.New(storage.Config{Dir: dir, Buckets: []string{bucket},
		Bindings: []storage.Binding{{Bucket: bucket, Role: "roles/storage.objectUser", Member: "serviceAccount:" + cpSA}},
		VerifyAccessToken: func(tok string) (string, time.Time, error) {
			tk, err := tokens.Verify(tok)
			return tk.Email, tk.Expires, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gcs)
	t.Cleanup(srv.Close)
	tok, _ := tokens.Mint(cpSA)
	bk, err := volumes.NewBucket(context.Background(), bucket, srv.URL, option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.Value, Expiry: tok.Expires})))
	if err != nil {
		t.Fatal(err)
	}
	return volumes.NewFiles(bk), filepath.Join(dir, bucket)
}

type tarEntry struct {
	name, body, link string
	typ              byte
}

func tarOf(t *testing.T, entries ...tarEntry) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o755, Size: int64(len(e.body)), Linkname: e.link}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return &buf
}

func readTar(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		switch h.Typeflag {
		case tar.TypeDir:
			out[h.Name] = "dir"
		case tar.TypeSymlink:
			out[h.Name] = "-> " + h.Linkname
		default:
			out[h.Name] = string(b)
		}
	}
}

// TestVolumeFiles: an archive put into a volume through the JSON API is what a task's mount sees, and reads back
// as Docker's archives: the tree, a file, stat, Docker's errors; entries cannot leave the volume.
func TestVolumeFiles(t *testing.T) {
	f, dir := filesBucket(t)
	ctx := context.Background()
	prefix := volumes.Prefix(alice, "data")
	err := f.Put(ctx, prefix, "", tarOf(t,
		tarEntry{name: "conf/", typ: tar.TypeDir},
		tarEntry{name: "conf/app.conf", body: "port=1\n", typ: tar.TypeReg},
		tarEntry{name: "conf/copy", link: "conf/app.conf", typ: tar.TypeLink},
		tarEntry{name: "empty/", typ: tar.TypeDir},
		tarEntry{name: "../../escape", body: "x", typ: tar.TypeReg},
	))
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, filepath.FromSlash(prefix))
	for name, want := range map[string]string{"conf/app.conf": "port=1\n", "conf/copy": "port=1\n", "escape": "x"} {
		if b, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(b) != want {
			t.Errorf("%s in the bucket: %q, %v", name, b, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty/ is not a directory in the bucket: %v", err)
	}
	// What a container wrote through its mount is read back too.
	os.WriteFile(filepath.Join(root, "conf", "written"), []byte("by a task\n"), 0o644)

	st, rc, err := f.Get(ctx, prefix, "conf", "conf")
	if err != nil {
		t.Fatal(err)
	}
	got := readTar(t, rc)
	want := map[string]string{"conf/": "dir", "conf/app.conf": "port=1\n", "conf/copy": "port=1\n", "conf/written": "by a task\n"}
	if len(got) != len(want) || !st.Mode.IsDir() {
		t.Fatalf("get conf: %v (stat %v), want %v", got, st.Mode, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("get conf: %s = %q, want %q", k, got[k], v)
		}
	}
	st, rc, err = f.Get(ctx, prefix, "conf/app.conf", "app.conf")
	if err != nil {
		t.Fatal(err)
	}
	if got := readTar(t, rc); got["app.conf"] != "port=1\n" || len(got) != 1 || st.Size != 7 || st.Mode != 0o644 {
		t.Errorf("get conf/app.conf: %v, stat %+v", got, st)
	}
	if st, err := f.Stat(ctx, prefix, ""); err != nil || !st.Mode.IsDir() {
		t.Errorf("stat of the root: %+v, %v", st, err)
	}
	if _, err := f.Stat(ctx, prefix, "conf/nope"); !errdefs.IsNotFound(err) {
		t.Errorf("stat of a missing file: %v", err)
	}
	if _, err := f.Stat(ctx, volumes.Prefix(bob, "data"), "conf"); !errdefs.IsNotFound(err) {
		t.Errorf("another owner's volume of the same name holds conf: %v", err)
	}
	if err := f.Put(ctx, prefix, "conf/app.conf", tarOf(t)); !errdefs.IsInvalidArgument(err) {
		t.Errorf("put into a file: %v", err)
	}
	if err := f.Put(ctx, prefix, "nope", tarOf(t)); !errdefs.IsNotFound(err) {
		t.Errorf("put into a missing directory: %v", err)
	}
}

// TestVolumeCopyUp: the image's files go into an empty volume only, as Docker copies them.
func TestVolumeCopyUp(t *testing.T) {
	f, dir := filesBucket(t)
	ctx := context.Background()
	prefix := volumes.Prefix(alice, "etc")
	wrote, err := f.CopyUp(ctx, prefix, opener(tarOf(t, tarEntry{name: "./", typ: tar.TypeDir}, tarEntry{name: "./passwd", body: "root\n", typ: tar.TypeReg})))
	if err != nil || !wrote {
		t.Fatalf("copy-up into an empty volume: %v, %v", wrote, err)
	}
	opened := false
	wrote, err = f.CopyUp(ctx, prefix, func() (io.ReadCloser, error) {
		opened = true
		return io.NopCloser(tarOf(t, tarEntry{name: "./passwd", body: "other\n", typ: tar.TypeReg})), nil
	})
	if err != nil || wrote || opened {
		t.Fatalf("copy-up into a volume with files: wrote %v, image read %v, %v", wrote, opened, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(prefix), "passwd")); !strings.Contains(string(b), "root") {
		t.Errorf("passwd = %q, want the first copy kept", b)
	}
}

func opener(r io.Reader) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(r), nil }
}

// trees is an image with files at /full only; it counts its reads.
type trees struct{ reads map[string]int }

func (tr *trees) Tree(_ context.Context, image, dir string) (io.ReadCloser, error) {
	tr.reads[image+dir]++
	if dir != "/full" {
		return nil, nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "./f", Typeflag: tar.TypeReg, Size: 2, Mode: 0o644})
	tw.Write([]byte("f\n"))
	tw.Close()
	return io.NopCloser(&buf), nil
}

// TestCopierRemembersBarePaths: an image read once with nothing at a path is not read again for it; a path with
// files is read for every new empty volume, and never for a volume that holds files.
func TestCopierRemembersBarePaths(t *testing.T) {
	f, dir := filesBucket(t)
	ctx := context.Background()
	tr := &trees{reads: map[string]int{}}
	c := volumes.NewCopier(f, tr)
	for i, name := range []string{"a", "b", "c"} {
		if wrote, err := c.CopyUp(ctx, "img@sha256:1", "/empty", volumes.Prefix(alice, "e"+name)); err != nil || wrote {
			t.Fatalf("copy-up %d of a bare path: %v, %v", i, wrote, err)
		}
		if wrote, err := c.CopyUp(ctx, "img@sha256:1", "/full", volumes.Prefix(alice, "f"+name)); err != nil || !wrote {
			t.Fatalf("copy-up %d of a path with files: %v, %v", i, wrote, err)
		}
	}
	if wrote, _ := c.CopyUp(ctx, "img@sha256:1", "/full", volumes.Prefix(alice, "fa")); wrote {
		t.Fatal("copied into a volume that holds files")
	}
	if tr.reads["img@sha256:1/empty"] != 1 || tr.reads["img@sha256:1/full"] != 3 {
		t.Fatalf("image reads %v: want /empty once, /full once per empty volume", tr.reads)
	}
	if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(volumes.Prefix(alice, "fc")), "f")); err != nil || string(b) != "f\n" {
		t.Fatalf("the copied file: %q, %v", b, err)
	}
}
