package images

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/oauth2"

	"github.com/runsock/runsock/controlplane/internal/registryauth"
	simregistry "github.com/runsock/runsock/integration/gcpsim/registry"
	"github.com/runsock/runsock/integration/gcpsim/registry/registrytest"
)

// TestRegistryRefusalsAsDocker resolves against gcpsim's Artifact Registry with the control plane's credentials:
// what the registry refuses reaches the user with the permission and repository it named.
func TestRegistryRefusalsAsDocker(t *testing.T) {
	const cp, admin = "cp@runsock-dev.iam.gserviceaccount.com", "admin@runsock.dev"
	s := registrytest.Start(t, simregistry.Config{
		Repositories: []string{"runsock", "secret"}, RemoteRepositories: []string{"dockerhub"},
		Bindings: []simregistry.Binding{
			{Repository: "runsock", Role: "roles/artifactregistry.reader", Member: "serviceAccount:" + cp},
			{Repository: "dockerhub", Role: "roles/artifactregistry.reader", Member: "serviceAccount:" + cp},
			{Repository: simregistry.AllRepositories, Role: "roles/artifactregistry.writer", Member: "user:" + admin},
		},
	})
	host := s.Host
	img, _ := random.Image(64, 1)
	for _, ref := range []string{host + "/runsock-dev/runsock/app:v1", host + "/runsock-dev/secret/app:v1"} {
		tag, _ := name.NewTag(ref, name.Insecure)
		if err := remote.Write(tag, img, s.Auth(t, admin)); err != nil {
			t.Fatal(err)
		}
	}
	as := func(tok string) *Service {
		kc := registryauth.NewWithTokenSource(host, func(context.Context) (oauth2.TokenSource, error) {
			if tok == "" {
				return nil, errors.New("no metadata server")
			}
			return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}), nil
		})
		return New(nil, Config{DockerHubRemote: host + "/runsock-dev/dockerhub", RemoteOptions: []remote.Option{remote.WithAuthFromKeychain(kc)}}, nil)
	}
	cpTok := s.Token(t, cp)
	tests := []struct {
		name, ref, token string
		kind             error
		msg              string
	}{
		{"readable", host + "/runsock-dev/runsock/app:v1", cpTok, nil, ""},
		{"no reader", host + "/runsock-dev/secret/app:v1", cpTok, errdefs.ErrPermissionDenied,
			"pull access denied for " + host + `/runsock-dev/secret/app: denied: Permission "artifactregistry.repositories.downloadArtifacts" denied on resource "projects/runsock-dev/locations/us-central1/repositories/secret" (or it may not exist)`},
		{"no such repository", host + "/runsock-dev/nope/app:v1", cpTok, errdefs.ErrPermissionDenied,
			"pull access denied for " + host + `/runsock-dev/nope/app: denied: Permission "artifactregistry.repositories.downloadArtifacts" denied on resource "projects/runsock-dev/locations/us-central1/repositories/nope" (or it may not exist)`},
		{"docker hub lacks it", "no-such-image-xyz", cpTok, errdefs.ErrNotFound,
			`manifest for no-such-image-xyz:latest not found: manifest unknown: Failed to fetch "latest" from request "/v2/library/no-such-image-xyz/manifests/latest".`},
		{"missing tag", host + "/runsock-dev/runsock/app:v9", cpTok, errdefs.ErrNotFound,
			"manifest for " + host + `/runsock-dev/runsock/app:v9 not found: manifest unknown: Failed to fetch "v9"`},
		{"credentials refused", host + "/runsock-dev/runsock/app:v1", "ya29.forged", errdefs.ErrUnavailable,
			"pull of " + host + "/runsock-dev/runsock/app: the registry refused runsock's credentials: unauthorized: "},
		{"no credentials", host + "/runsock-dev/runsock/app:v1", "", errdefs.ErrUnavailable,
			"pulling " + host + "/runsock-dev/runsock/app:v1: registry " + host + ": no Google credentials: no metadata server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseRef(tt.ref, host+"/runsock-dev/dockerhub", true)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = as(tt.token).resolve(context.Background(), r, v1.Platform{OS: "linux", Architecture: "amd64"})
			switch {
			case tt.msg == "" && err != nil:
				t.Fatalf("resolve: %v", err)
			case tt.msg == "":
			case err == nil || !strings.HasPrefix(err.Error(), tt.msg):
				t.Errorf("err = %v\nwant %s", err, tt.msg)
			case tt.kind != nil && !errors.Is(err, tt.kind):
				t.Errorf("err %v is not %v", err, tt.kind)
			}
		})
	}
}
