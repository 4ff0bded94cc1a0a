package e2e

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The registry requires credentials as Artifact Registry does; runsock pulls with the control plane's service
// account (the metadata server's access token), through the dockerhub remote repository for Docker Hub names, and
// shows what the registry refused.

func TestPullThroughArtifactRegistryWithCredentials(t *testing.T) {
	out := mustDocker(t, "pull", stack.arURL+"/alpine:latest")
	if !strings.Contains(out, "Digest: sha256:") {
		t.Errorf("pull output has no digest line:\n%s", out)
	}
	// Docker Hub's alpine, pulled through the dockerhub remote repository from the Docker Hub stand-in, then run: the
	// control plane pushes the agent-wrapped image (writer on runsock-agent) and the task's image is pulled by the
	// Cloud Run service agent.
	out = mustDocker(t, "pull", "alpine")
	if !strings.Contains(out, "Digest: sha256:") {
		t.Errorf("pull alpine:\n%s", out)
	}
	if out := mustDocker(t, "run", "--rm", "busybox", "echo", "from the remote repository"); out != "from the remote repository\n" {
		t.Errorf("run busybox printed %q", out)
	}
}

func TestPullRefusedByTheRegistryNamesThePermission(t *testing.T) {
	project := os.Getenv("RUNSOCK_PROJECT")
	registry, _, _ := strings.Cut(stack.arURL, "/")
	// The control plane's service account reads runsock and dockerhub only; a repository it may not read and one that
	// does not exist get the same answer, as on Artifact Registry.
	ref := registry + "/" + project + "/private/app:latest"
	r := docker(t, "pull", ref)
	want := `denied: Permission "artifactregistry.repositories.downloadArtifacts" denied on resource "projects/` + project + `/locations/`
	if r.code == 0 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, `/repositories/private" (or it may not exist)`) {
		t.Errorf("pull of an unreadable repository: %s\nwant stderr containing %s", r, want)
	}
	// A Docker Hub image the upstream lacks fails as a remote repository fails (google-front-door.md §4.5.1).
	r = docker(t, "pull", "no-such-image-here-xyz")
	if r.code == 0 || !strings.Contains(r.stderr, `manifest unknown: Failed to fetch "latest"`) {
		t.Errorf("pull of a missing Docker Hub image: %s", r)
	}
}

// TestRegistryRefusesAnonymousAccess: nothing in the stack reaches the registry without credentials.
func TestRegistryRefusesAnonymousAccess(t *testing.T) {
	ref, err := name.NewTag(stack.arURL+"/alpine:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	_, err = remote.Image(ref, remote.WithAuth(authn.Anonymous))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != 403 || len(terr.Errors) == 0 || terr.Errors[0].Code != transport.DeniedErrorCode ||
		!strings.HasPrefix(terr.Errors[0].Message, "Unauthenticated request. Unauthenticated requests do not have permission \"artifactregistry.repositories.downloadArtifacts\"") {
		t.Errorf("anonymous pull: %v", err)
	}
}

// TestPullFromPrivateAddressesIsRefused: the control plane fetches only from public registries and its own. The
// Docker Hub stand-in (a live registry on loopback, not the configured one), the metadata server's address and the
// configured registry under another name are refused before anything is fetched (issue 11, item 7).
func TestPullFromPrivateAddressesIsRefused(t *testing.T) {
	registry, _, _ := strings.Cut(stack.arURL, "/")
	_, port, _ := strings.Cut(registry, ":")
	for _, ref := range []string{
		os.Getenv("GCPSIM_DOCKERHUB") + "/library/alpine:latest",
		"169.254.169.254/computemetadata/v1:latest",
		"localhost:" + port + "/" + os.Getenv("RUNSOCK_PROJECT") + "/runsock/alpine:latest",
	} {
		r := docker(t, "pull", ref)
		if r.code == 0 || !strings.Contains(r.stderr, "pull access denied for ") || !strings.Contains(r.stderr, "is at a private address") {
			t.Errorf("pull %s: %s\nwant it refused for its private address", ref, r)
		}
	}
}
