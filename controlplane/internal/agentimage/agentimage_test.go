package agentimage

import (
	"archive/tar"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestWrapKeepsConfigAddsAgentAndIsReused(t *testing.T) {
	var pushes atomic.Int32
	reg := registry.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/runsock-agent/") && strings.Contains(r.URL.Path, "/manifests/") {
			pushes.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	// The user's image: entrypoint, cmd, env, workdir, user.
	base, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := base.ConfigFile()
	cfg := cf.Config
	cfg.Entrypoint, cfg.Cmd = []string{"/bin/app"}, []string{"--serve", "x"}
	cfg.Env, cfg.WorkingDir, cfg.User = []string{"A=1", "PATH=/bin"}, "/srv", "1000:1000"
	base, _ = mutate.Config(base, cfg)
	userRef, _ := name.ParseReference(host+"/proj/runsock/app:latest", name.Insecure)
	if err := remote.Write(userRef, base, remote.WithContext(context.Background())); err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(bin, []byte("\x7fELF pretend agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := New(Options{Repository: host + "/proj/runsock-agent", AgentBinary: bin, AgentVersion: "v1", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := l.Wrap(ctx, userRef.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reused || pushes.Load() != 1 {
		t.Fatalf("first wrap: reused=%v pushes=%d", res.Reused, pushes.Load())
	}
	if want := []string{"--", "/bin/app", "--serve", "x"}; !slices.Equal(res.Args, want) {
		t.Fatalf("args %q, want %q", res.Args, want)
	}

	ref, _ := name.ParseReference(res.Image, name.Insecure)
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := img.ConfigFile()
	if !slices.Equal(got.Config.Entrypoint, []string{AgentPath}) || !slices.Equal(got.Config.Env, cfg.Env) ||
		got.Config.WorkingDir != "/srv" || got.Config.User != "0:0" {
		t.Fatalf("config %+v", got.Config)
	}
	layers, _ := img.Layers()
	if len(layers) != 3 {
		t.Fatalf("%d layers, want 3", len(layers))
	}
	rc, err := layers[2].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == ".runsock/agent" {
			b, _ := io.ReadAll(tr)
			found = h.Mode == 0o755 && string(b) == "\x7fELF pretend agent"
		}
	}
	if !found {
		t.Fatal("agent layer lacks /.runsock/agent with mode 0755 and the binary")
	}

	again, err := l.Wrap(ctx, userRef.String())
	if err != nil {
		t.Fatal(err)
	}
	if !again.Reused || again.Image != res.Image || pushes.Load() != 1 {
		t.Fatalf("second wrap: reused=%v image %s (first %s) pushes=%d", again.Reused, again.Image, res.Image, pushes.Load())
	}
}
