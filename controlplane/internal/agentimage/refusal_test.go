package agentimage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/runsock/runsock/integration/gcpsim/registry"
	"github.com/runsock/runsock/integration/gcpsim/registry/registrytest"
)

// TestWrapThroughArtifactRegistry: with the control plane's grants (reader on runsock, writer on runsock-agent) the
// wrapped image is pushed; without writer, the push is refused with the permission named, as unavailable.
func TestWrapThroughArtifactRegistry(t *testing.T) {
	const cp, admin = "cp@runsock-dev.iam.gserviceaccount.com", "admin@runsock.dev"
	for _, tc := range []struct {
		name    string
		agentRo string
		wantErr string
	}{
		{"writer", "roles/artifactregistry.writer", ""},
		{"reader only", "roles/artifactregistry.reader", `DENIED: Permission "artifactregistry.repositories.uploadArtifacts" denied on resource "projects/runsock-dev/locations/us-central1/repositories/runsock-agent"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := registrytest.Start(t, registry.Config{
				Repositories: []string{"runsock", "runsock-agent"},
				Bindings: []registry.Binding{
					{Repository: "runsock", Role: "roles/artifactregistry.reader", Member: "serviceAccount:" + cp},
					{Repository: "runsock-agent", Role: tc.agentRo, Member: "serviceAccount:" + cp},
					{Repository: "runsock", Role: "roles/artifactregistry.writer", Member: "user:" + admin},
				},
			})
			base, _ := random.Image(256, 1)
			userRef, _ := name.ParseReference(s.Host+"/runsock-dev/runsock/app:latest", name.Insecure)
			if err := remote.Write(userRef, base, s.Auth(t, admin)); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(t.TempDir(), "agent")
			if err := os.WriteFile(bin, []byte("\x7fELF pretend agent"), 0o755); err != nil {
				t.Fatal(err)
			}
			l, err := New(Options{Repository: s.Host + "/runsock-dev/runsock-agent", AgentBinary: bin, AgentVersion: "v1",
				Insecure: true, Remote: []remote.Option{s.Auth(t, cp)}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.Wrap(context.Background(), userRef.String())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Wrap: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errdefs.IsUnavailable(err)):
				t.Fatalf("Wrap: %v\nwant an unavailable error containing %s", err, tc.wantErr)
			}
		})
	}
}
