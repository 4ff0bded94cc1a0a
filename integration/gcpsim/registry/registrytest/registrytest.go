// Package registrytest serves gcpsim's Artifact Registry, its Docker Hub stand-in and (optionally) its metadata
// server in process, for tests of the code that talks to them with Google credentials.
package registrytest

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/runsock/runsock/integration/gcpsim/accesstoken"
	"github.com/runsock/runsock/integration/gcpsim/metadata"
	"github.com/runsock/runsock/integration/gcpsim/registry"
)

// Stack is a running registry and upstream.
type Stack struct {
	Host     string // the registry's host:port
	Upstream string // the Docker Hub stand-in's host:port
	Tokens   *accesstoken.Issuer
}

// Start serves a registry configured as cfg, with defaults: project runsock-dev, location us-central1, the
// in-process upstream, access tokens from Stack.Tokens. Everything stops when the test ends.
func Start(t testing.TB, cfg registry.Config) *Stack {
	t.Helper()
	tokens, err := accesstoken.New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	up, err := registry.NewUpstream("", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Stack{Upstream: serve(t, up), Tokens: tokens}
	if cfg.Project == "" {
		cfg.Project = "runsock-dev"
	}
	if cfg.Location == "" {
		cfg.Location = "us-central1"
	}
	if cfg.Upstream == "" {
		cfg.Upstream = s.Upstream
	}
	cfg.VerifyAccessToken = func(tok string) (string, time.Time, error) {
		t, err := tokens.Verify(tok)
		return t.Email, t.Expires, err
	}
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Host = serve(t, reg)
	return s
}

// Token is an access token of email.
func (s *Stack) Token(t testing.TB, email string) string {
	t.Helper()
	tok, err := s.Tokens.Mint(email)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

// Auth is the go-containerregistry option of a caller holding email's access token.
func (s *Stack) Auth(t testing.TB, email string) remote.Option {
	return remote.WithAuth(&authn.Basic{Username: "oauth2accesstoken", Password: s.Token(t, email)})
}

// ServeMetadata serves a metadata server whose callers on this machine are hostSA, and points Google's libraries
// at it (GCE_METADATA_HOST) with no gcloud credentials in front of it, as on a Cloud Run instance.
func (s *Stack) ServeMetadata(t *testing.T, hostSA string) {
	t.Helper()
	var md *metadata.Server
	url := "http://" + serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { md.ServeHTTP(w, r) }))
	var err error
	md, err = metadata.New(metadata.Config{
		Identity: func(netip.Addr) (string, bool) { return "", false }, HostServiceAccount: hostSA,
		AccessToken: func(email string) (string, time.Time, error) {
			tok, err := s.Tokens.Mint(email)
			return tok.Value, tok.Expires, err
		},
		Issuer: url, ProjectID: "runsock-dev", ProjectNumber: "123456789012", Region: "us-central1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(url, "http://"))
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	t.Setenv("CLOUDSDK_CONFIG", t.TempDir())
}

func serve(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
