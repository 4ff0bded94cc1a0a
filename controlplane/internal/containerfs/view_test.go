package containerfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type entry struct {
	name, body, link string
	dir              bool
	mode             int64
	uid              int
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), Typeflag: tar.TypeReg, Uid: e.uid, Gid: e.uid}
		switch {
		case e.dir:
			h.Typeflag, h.Size = tar.TypeDir, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	return buf.Bytes()
}

// pushImage pushes a two-layer image to an in-memory registry and returns its digest reference.
func pushImage(t *testing.T, layers ...[]byte) string {
	t.Helper()
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	img := empty.Image
	for _, b := range layers {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/p/img:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return ref.Context().Digest(d.String()).String()
}

func names(t *testing.T, r io.Reader) map[string]string {
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
		out[h.Name] = string(b)
	}
}

func TestViewLayersAndStaged(t *testing.T) {
	image := pushImage(t,
		tarOf(t, entry{name: "usr/", dir: true, mode: 0o755}, entry{name: "usr/bin/tool", body: "v1", mode: 0o755},
			entry{name: "bin", link: "usr/bin"}, entry{name: "etc/passwd", body: "root"}, entry{name: "tmp/", dir: true, mode: 0o1777},
			entry{name: "etc/gone", body: "x"}),
		tarOf(t, entry{name: "usr/bin/tool", body: "v2", mode: 0o755}, entry{name: "etc/.wh.gone"}))
	staged := []Staged{
		{Path: "/tmp", Data: tarOf(t, entry{name: "a.txt", body: "A", mode: 0o600, uid: 1000},
			entry{name: "tree/", dir: true, mode: 0o750}, entry{name: "tree/b.txt", body: "B"})},
		{Path: "/tmp", PutOptions: PutOptions{CopyUIDGID: true}, Data: tarOf(t, entry{name: "c.txt", body: "C", uid: 1000})},
	}
	v := NewReader(true).View(image, staged)
	ctx := context.Background()

	for _, tt := range []struct {
		path, name string
		mode       string
		size       int64
		link       string
	}{
		{"/etc/passwd", "passwd", "-rw-r--r--", 4, ""},
		{"/bin", "bin", "Lrw-r--r--", 0, "usr/bin"},
		{"/bin/tool", "tool", "-rwxr-xr-x", 2, ""},
		{"/tmp/a.txt", "a.txt", "-rw-------", 1, ""},
		{"/tmp/tree", "tree", "drwxr-x---", 0, ""},
		{"/usr/bin", "bin", "drwxr-xr-x", 0, ""},
	} {
		st, err := v.Stat(ctx, tt.path)
		if err != nil {
			t.Fatalf("stat %s: %v", tt.path, err)
		}
		if st.Name != tt.name || st.Mode.String() != tt.mode || st.Size != tt.size || st.LinkTarget != tt.link {
			t.Errorf("stat %s = %+v (mode %s)", tt.path, st, st.Mode)
		}
	}
	for _, p := range []string{"/etc/gone", "/no/such"} {
		if _, err := v.Stat(ctx, p); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("stat %s: %v, want not found", p, err)
		}
	}
	if _, err := v.Dir(ctx, "/etc/passwd"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Dir of a file: %v", err)
	}
	if d, err := v.Dir(ctx, "/bin"); err != nil || d != "/usr/bin" {
		t.Errorf("Dir /bin = %q, %v", d, err)
	}

	_, rc, err := v.Get(ctx, "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	got := names(t, rc)
	rc.Close()
	want := map[string]string{"tmp/": "", "tmp/a.txt": "A", "tmp/c.txt": "C", "tmp/tree/": "", "tmp/tree/b.txt": "B"}
	if len(got) != len(want) {
		t.Fatalf("get /tmp = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("get /tmp: %s = %q (all %v)", k, got[k], got)
		}
	}
	_, rc, err = v.Get(ctx, "/bin/tool")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, rc); len(got) != 1 || got["tool"] != "v2" {
		t.Errorf("get /bin/tool = %v", got)
	}
}

func TestStagedLayerOwners(t *testing.T) {
	for _, copyIDs := range []bool{false, true} {
		l, err := stagedLayer(Staged{Path: "/d", PutOptions: PutOptions{CopyUIDGID: copyIDs}, Data: tarOf(t, entry{name: "f", body: "x", uid: 1000})})
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := l.Uncompressed()
		h, err := tar.NewReader(rc).Next()
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if copyIDs {
			want = 1000
		}
		if h.Name != "d/f" || h.Uid != want {
			t.Errorf("copyUIDGID=%v: %s uid %d", copyIDs, h.Name, h.Uid)
		}
	}
}

// TestChangesAsDockerDiff: the staged archives and the changes since the start, against the image, as docker diff
// lists them: parents of a change as C (in the image) or A, deletions of image paths as D, a staged file deleted
// by the process not at all.
func TestChangesAsDockerDiff(t *testing.T) {
	image := pushImage(t, tarOf(t, entry{name: "etc/", dir: true}, entry{name: "etc/passwd", body: "root"},
		entry{name: "etc/group", body: "g"}, entry{name: "tmp/", dir: true, mode: 0o1777}, entry{name: "var/lib/", dir: true}))
	staged := []Staged{{Path: "/tmp", Data: tarOf(t, entry{name: "a.txt", body: "A"}, entry{name: "b.txt", body: "B"})},
		{Path: "/var/lib", Data: tarOf(t, entry{name: "new/", dir: true}, entry{name: "new/c", body: "C"})}}
	live, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarOf(t, entry{name: "etc/", dir: true}, entry{name: "etc/.wh.group"},
			entry{name: "out/", dir: true}, entry{name: "out/report.txt", body: "r"}, entry{name: "tmp/.wh.a.txt"}))), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	v := NewReader(true).View(image, staged)
	if got := diffLines(t, v); got != "C /tmp\nA /tmp/a.txt\nA /tmp/b.txt\nC /var\nC /var/lib\nA /var/lib/new\nA /var/lib/new/c\n" {
		t.Errorf("created container's diff:\n%s", got)
	}
	v = NewReader(true).View(image, staged).WithLive(live)
	if got := diffLines(t, v); got != "C /etc\nD /etc/group\nA /out\nA /out/report.txt\nC /tmp\nA /tmp/b.txt\nC /var\nC /var/lib\nA /var/lib/new\nA /var/lib/new/c\n" {
		t.Errorf("running container's diff:\n%s", got)
	}
	// Docker's walk order: a directory's entries right after it, before its siblings named with bytes below "/".
	v = NewReader(true).View(image, []Staged{{Path: "/tmp", Data: tarOf(t, entry{name: "a-b", body: "1"},
		entry{name: "a/", dir: true}, entry{name: "a/x", body: "2"})}})
	if got := diffLines(t, v); got != "C /tmp\nA /tmp/a\nA /tmp/a/x\nA /tmp/a-b\n" {
		t.Errorf("diff order:\n%s", got)
	}
	if got := diffLines(t, NewReader(true).View(image, nil)); got != "" {
		t.Errorf("unchanged container's diff: %q", got)
	}
}

func diffLines(t *testing.T, v *View) string {
	t.Helper()
	changes, err := v.Changes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range changes {
		b.WriteString(c.Kind.String() + " " + c.Path + "\n")
	}
	return b.String()
}
