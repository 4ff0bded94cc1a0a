// Package taskstest gives tests of gcpsim a real registry with a busybox
// image, a Runner on a private Docker network, and a LogWriter that records.
// Tests only; it talks to the machine's Docker Engine at
// unix:///var/run/docker.sock (env GCPSIM_DOCKER_HOST overrides).
package taskstest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/runsock/runsock/integration/gcpsim/tasks"
)

// Applets linked to /bin/busybox in the test image.
var Applets = []string{"sh", "echo", "cat", "sleep", "tail", "ls", "env", "id", "true", "false", "printf", "yes", "head", "trap", "kill", "wc"}

// DockerHost is the Docker Engine the tests use.
func DockerHost() string {
	if h := os.Getenv("GCPSIM_DOCKER_HOST"); h != "" {
		return h
	}
	return "unix:///var/run/docker.sock"
}

// BusyboxImage starts an in-process OCI registry on 127.0.0.1, pushes a
// busybox image to it and returns the image reference by digest, shaped like
// an Artifact Registry reference (HOST/runsock-dev/runsock/busybox@sha256:…).
func BusyboxImage(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	img, err := busybox()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(l.Addr().String()+"/runsock-dev/runsock/busybox:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push test image: %v", err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String()).String()
}

func busybox() (v1.Image, error) {
	bin, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox-static is needed (apt install busybox-static): %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mod := time.Unix(0, 0)
	for _, d := range []string{"bin/", "tmp/", "etc/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: mod})
	}
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: mod})
	tw.Write(bin)
	for _, a := range Applets {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", ModTime: mod})
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	return mutate.Config(img, v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}})
}

// NewRunner starts a Runner on a fresh network (runsock-gcpsim-test-N, a
// random 172.31.2xx.0/24 subnet) that is removed when the test ends.
func NewRunner(t testing.TB, cfg tasks.Config) *tasks.Runner {
	t.Helper()
	cfg.DockerHost = DockerHost()
	if cfg.StopGrace == 0 {
		cfg.StopGrace = 2 * time.Second
	}
	var lastErr error
	for range 6 {
		cfg.Network = fmt.Sprintf("runsock-gcpsim-test-%d", rand.IntN(1_000_000))
		cfg.Subnet = netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 31, byte(220 + rand.IntN(35)), 0}), 24)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := tasks.New(ctx, cfg)
		cancel()
		if err == nil {
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := r.RemoveNetwork(ctx); err != nil {
					t.Errorf("cleanup: %v", err)
				}
				r.Close()
			})
			return r
		}
		lastErr = err
	}
	t.Fatalf("no task network could be created: %v", lastErr)
	return nil
}

// Recorder is a LogWriter that keeps every entry.
type Recorder struct {
	mu      sync.Mutex
	entries []*loggingpb.LogEntry
}

// Ingest records entries.
func (r *Recorder) Ingest(entries ...*loggingpb.LogEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, entries...)
}

// Entries returns the entries whose label run.googleapis.com/execution_name
// is execution, in the order they were ingested.
func (r *Recorder) Entries(execution string) []*loggingpb.LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*loggingpb.LogEntry
	for _, e := range r.entries {
		if e.GetLabels()[tasks.LabelExecution] == execution {
			out = append(out, e)
		}
	}
	return out
}
