package metadata

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/runsock/runsock/integration/gcpsim/accesstoken"
)

const hostSA = "runsock-cp@runsock-dev.iam.gserviceaccount.com"

// TestAccessTokenForHost: a process on this machine that Identity does not know (the control plane) gets the host
// service account's access token through Google's own client, as on a Cloud Run instance, and the token verifies.
func TestAccessTokenForHost(t *testing.T) {
	iss, err := accesstoken.New("", nil)
	if err != nil {
		t.Fatal(err)
	}
	var srv *Server
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	srv, err = New(Config{
		Identity: func(netip.Addr) (string, bool) { return "", false }, HostServiceAccount: hostSA,
		AccessToken: func(email string) (string, time.Time, error) {
			tok, err := iss.Mint(email)
			return tok.Value, tok.Expires, err
		},
		Issuer: ts.URL, ProjectID: "runsock-dev", ProjectNumber: "123456789012", Region: "us-central1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(ts.URL, "http://"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src, err := google.DefaultTokenSource(ctx, "https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := iss.Verify(tok.AccessToken); err != nil || got.Email != hostSA {
		t.Fatalf("metadata token verifies as %+v, %v; want %s", got, err, hostSA)
	}
	if d := time.Until(tok.Expiry); d < 50*time.Minute || d > time.Hour {
		t.Errorf("token expires in %s, want about an hour", d)
	}

	resp, err := http.Get(ts.URL + "/gcpsim/v1/accesstoken?email=admin@runsock.dev")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, err := iss.Verify(strings.TrimSpace(string(b))); err != nil || got.Email != "admin@runsock.dev" {
		t.Errorf("gcloud-style token %q verifies as %+v, %v", b, got, err)
	}

	// A host process dialling the gateway can be seen with the address of the machine's main interface: still the
	// host. A caller from another machine is neither a task nor the host: no service account.
	remotes := map[string]int{"10.9.8.7:4000": http.StatusNotFound}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && !p.Addr().IsLoopback() {
				remotes[netip.AddrPortFrom(p.Addr(), 4000).String()] = http.StatusOK
				break
			}
		}
	}
	for remote, want := range remotes {
		r := httptest.NewRequest("GET", "/computeMetadata/v1/instance/service-accounts/default/token", nil)
		r.RemoteAddr = remote
		r.Header.Set("Metadata-Flavor", "Google")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("caller %s: status %d, want %d", remote, w.Code, want)
		}
	}
}
