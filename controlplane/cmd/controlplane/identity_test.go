package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/controlplane/internal/config"
)

// stallingIssuer serves OIDC discovery and holds every key-set request until the request is cancelled; ended
// receives one value per held request when it ends.
func stallingIssuer(t *testing.T) (*httptest.Server, chan struct{}) {
	ended := make(chan struct{}, 8)
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/certs"})
	})
	mux.HandleFunc("/certs", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		ended <- struct{}{}
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, ended
}

// unsignedToken is a well-formed RS256 token of iss for aud (its signature is never checked: the keys never come).
func unsignedToken(iss, aud string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now()
	return enc(map[string]string{"alg": "RS256", "kid": "k1", "typ": "JWT"}) + "." +
		enc(map[string]any{"iss": iss, "aud": aud, "email": "a@example.com", "email_verified": true,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}) + "." +
		base64.RawURLEncoding.EncodeToString([]byte("not a signature"))
}

// TestIdentityCloseEndsKeyFetch: the close withIdentity returns (deferred by run, so called at shutdown) ends a
// key fetch the issuer is holding, well before the fetch's own 10 s bound.
func TestIdentityCloseEndsKeyFetch(t *testing.T) {
	is, ended := stallingIssuer(t)
	cfg := config.Config{IdentityMode: "oidc", OIDCIssuer: is.URL, Audience: "https://cp.example", AllowAllInvokers: true}
	h, _, closeIdentity, err := withIdentity(cfg, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("an unverified request reached the API")
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/info", nil)
	req.Header.Set("Authorization", "Bearer "+unsignedToken(is.URL, cfg.Audience))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d (%s), want 401 while the issuer holds its keys", rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	select {
	case <-ended:
		t.Fatal("the key fetch ended before close: it is not the verifier's own")
	default:
	}
	closed := make(chan struct{})
	go func() { closeIdentity(); close(closed) }()
	select {
	case <-ended:
	case <-time.After(3 * time.Second):
		t.Fatal("the held key fetch still runs 3 s after close")
	}
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("close did not return within 3 s")
	}
}
