package commit

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containerfs"
)

func layerOf(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, body := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		io.WriteString(tw, body)
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type recorded struct {
	owner, repoTag, reference string
	img                       v1.Image
}

func (r *recorded) RecordCommit(_ context.Context, owner, repoTag string, img v1.Image, reference string) (string, error) {
	r.owner, r.repoTag, r.img, r.reference = owner, repoTag, img, reference
	id, err := img.ConfigName()
	return id.String(), err
}

// TestCommitPushesImagePlusChanges: the committed image is the container's image with the staged archive and the
// changes as new layers, the config Docker makes, a history entry with author and comment; it is pushed to the
// registry and recorded for the owner under its name.
func TestCommitPushesImagePlusChanges(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	baseImg, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layerOf(t, map[string]string{"etc/os": "base"}),
		History: v1.History{CreatedBy: "base layer"}})
	if err != nil {
		t.Fatal(err)
	}
	baseRef, _ := name.ParseReference(host+"/p/base:1", name.Insecure)
	if err := remote.Write(baseRef, baseImg); err != nil {
		t.Fatal(err)
	}
	d, _ := baseImg.Digest()
	view := containerfs.NewReader(true).View(baseRef.Context().Digest(d.String()).String(),
		[]containerfs.Staged{{Path: "/tmp", Data: tarBytes(t, "in.txt", "staged")}}).
		WithLive(layerOf(t, map[string]string{"out/report.txt": "report"}))

	rec := &recorded{}
	c, err := New(host+"/p/team/commits", true, rec)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC) }
	ctr := container.Config{Cmd: []string{"sh", "-c", "make"}, Env: []string{"PATH=/bin"}}
	id, err := c.Commit(context.Background(), "u@example.com", Target{ID: "c1", Config: ctr, View: view},
		Options{Repo: "docker.io/library/built", Author: "Ann <ann@example.com>", Comment: "the build", Changes: []string{`CMD ["cat", "/out/report.txt"]`}})
	if err != nil {
		t.Fatal(err)
	}
	if rec.owner != "u@example.com" || rec.repoTag != "built:latest" || !strings.HasPrefix(rec.reference, host+"/p/team/commits@sha256:") {
		t.Errorf("recorded %+v", rec)
	}
	ref, _ := name.ParseReference(rec.reference, name.Insecure)
	pushed, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("the committed image is not in the registry: %v", err)
	}
	cf, err := pushed.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := pushed.ConfigName(); got.String() != id {
		t.Errorf("ID %s, pushed config %s", id, got)
	}
	if !reflect.DeepEqual(cf.Config.Cmd, []string{"cat", "/out/report.txt"}) || !reflect.DeepEqual(cf.Config.Env, []string{"PATH=/bin"}) || cf.Author != "Ann <ann@example.com>" {
		t.Errorf("config %+v author %q", cf.Config, cf.Author)
	}
	last := cf.History[len(cf.History)-1]
	if len(cf.History) != 3 || last.CreatedBy != "sh -c make" || last.Comment != "the build" || last.Author != "Ann <ann@example.com>" || last.EmptyLayer {
		t.Errorf("history %+v", cf.History)
	}
	files := map[string]string{}
	tr := tar.NewReader(mutate.Extract(pushed))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = string(b)
	}
	if files["etc/os"] != "base" || files["tmp/in.txt"] != "staged" || files["out/report.txt"] != "report" {
		t.Errorf("committed filesystem: %v", files)
	}
}

func tarBytes(t *testing.T, name, body string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	io.WriteString(tw, body)
	tw.Close()
	return buf.Bytes()
}
