package registryauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/oauth2"

	"github.com/runsock/runsock/integration/gcpsim/registry"
	"github.com/runsock/runsock/integration/gcpsim/registry/registrytest"
)

const cpSA = "runsock-cp@runsock-dev.iam.gserviceaccount.com"

func tag(t *testing.T, host, path string) name.Tag {
	t.Helper()
	tg, err := name.NewTag(host+"/"+path, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestKeychainThroughMetadataServer: the control plane's registry calls carry the access token the metadata server
// gives its service account, so what IAM grants it (infra/iam.tf) works and what it does not grant is refused.
func TestKeychainThroughMetadataServer(t *testing.T) {
	s := registrytest.Start(t, registry.Config{
		Repositories: []string{"runsock", "runsock-agent"},
		Bindings: []registry.Binding{
			{Repository: "runsock", Role: "roles/artifactregistry.reader", Member: "serviceAccount:" + cpSA},
			{Repository: "runsock-agent", Role: "roles/artifactregistry.writer", Member: "serviceAccount:" + cpSA},
			{Repository: "runsock", Role: "roles/artifactregistry.writer", Member: "user:admin@runsock.dev"},
		},
	})
	s.ServeMetadata(t, cpSA)
	img, _ := random.Image(256, 1)
	if err := remote.Write(tag(t, s.Host, "runsock-dev/runsock/app:v1"), img, s.Auth(t, "admin@runsock.dev")); err != nil {
		t.Fatal(err)
	}
	kc := remote.WithAuthFromKeychain(New(s.Host))
	got, err := remote.Image(tag(t, s.Host, "runsock-dev/runsock/app:v1"), kc)
	if err != nil {
		t.Fatalf("pull as the control plane: %v", err)
	}
	if err := remote.Write(tag(t, s.Host, "runsock-dev/runsock-agent/app:agent"), got, kc); err != nil {
		t.Fatalf("push to the agent repository: %v", err)
	}
	err = remote.Write(tag(t, s.Host, "runsock-dev/runsock/app:v2"), img, kc)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusForbidden {
		t.Errorf("push to the team repository: %v, want 403", err)
	}
}

func TestOtherHostsAreAnonymous(t *testing.T) {
	kc := NewWithTokenSource("registry.example:5000", func(context.Context) (oauth2.TokenSource, error) {
		t.Error("credentials looked up for another host")
		return nil, errors.New("no")
	})
	for _, host := range []string{"ghcr.io", "index.docker.io", "us-docker.pkg.dev"} {
		reg, _ := name.NewRegistry(host)
		a, err := kc.Resolve(reg)
		if err != nil || a != authn.Anonymous {
			t.Errorf("%s: %v, %v; want Anonymous", host, a, err)
		}
	}
}

// TestCredentialsLookedUpAgain: a failure to find credentials is returned, not cached (unlike google.Keychain).
func TestCredentialsLookedUpAgain(t *testing.T) {
	calls := 0
	kc := NewWithTokenSource("r.example", func(context.Context) (oauth2.TokenSource, error) {
		calls++
		if calls == 1 {
			return nil, errors.New("metadata server not up yet")
		}
		return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ya29.x"}), nil
	})
	reg, _ := name.NewRegistry("r.example")
	a, err := kc.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authorization(); err == nil || !strings.Contains(err.Error(), "registry r.example: no Google credentials: metadata server not up yet") || !errdefs.IsUnavailable(err) {
		t.Errorf("first: %v", err)
	}
	for range 2 {
		if cfg, err := a.Authorization(); err != nil || cfg.Password != "ya29.x" || cfg.Username != Username {
			t.Errorf("then: %+v, %v", cfg, err)
		}
	}
	if calls != 2 {
		t.Errorf("credentials looked up %d times, want 2", calls)
	}
}
