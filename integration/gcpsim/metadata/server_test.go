package metadata

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gcemetadata "cloud.google.com/go/compute/metadata"
	"google.golang.org/api/idtoken"
)

const taskSA = "job-sa@runsock-dev.iam.gserviceaccount.com"

// startServer serves a Server whose issuer is its own URL; only 127.0.0.1 is a known task.
func startServer(t *testing.T, keyFile string) (*Server, *httptest.Server) {
	t.Helper()
	var srv *Server
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	var err error
	srv, err = New(Config{
		Identity: func(a netip.Addr) (string, bool) {
			return taskSA, a == netip.MustParseAddr("127.0.0.1")
		},
		Issuer: ts.URL, ProjectID: "runsock-dev", ProjectNumber: "123456789012", Region: "us-central1",
		KeyFile: keyFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, ts
}

// verify checks an RS256 JWT against the issuer's discovery document and JWKS, as the control plane's oidc mode does.
func verify(t *testing.T, issuer, token, audience string) (Claims, error) {
	t.Helper()
	return verifyWith(t, issuer, issuer, token, audience)
}

// verifyWith takes the keys from server's discovery document and expects wantIss as the issuer.
func verifyWith(t *testing.T, server, wantIss, token, audience string) (Claims, error) {
	t.Helper()
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, server+"/.well-known/openid-configuration", &disc)
	var set struct{ Keys []jwk }
	getJSON(t, disc.JWKSURI, &set)

	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, errors.New("not a JWT")
	}
	var header struct{ Alg, Kid string }
	var claims Claims
	if err := decodePart(parts[0], &header); err != nil {
		return Claims{}, err
	}
	if err := decodePart(parts[1], &claims); err != nil {
		return Claims{}, err
	}
	var pub *rsa.PublicKey
	for _, k := range set.Keys {
		if k.Kid == header.Kid && header.Alg == "RS256" {
			n, _ := base64.RawURLEncoding.DecodeString(k.N)
			e, _ := base64.RawURLEncoding.DecodeString(k.E)
			pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		}
	}
	if pub == nil {
		return Claims{}, fmt.Errorf("no RS256 key %q in the JWKS", header.Kid)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return Claims{}, fmt.Errorf("signature: %w", err)
	}
	now := time.Now().Unix()
	switch {
	case claims.Issuer != wantIss:
		return Claims{}, fmt.Errorf("iss %q, want %q", claims.Issuer, wantIss)
	case claims.Audience != audience:
		return Claims{}, fmt.Errorf("aud %q, want %q", claims.Audience, audience)
	case claims.Expires <= now || claims.IssuedAt > now+60:
		return Claims{}, fmt.Errorf("token not valid now (iat %d, exp %d)", claims.IssuedAt, claims.Expires)
	}
	return claims, nil
}

func decodePart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

func TestIdentityTokenVerifies(t *testing.T) {
	_, ts := startServer(t, "")
	// The official metadata client, pointed at the server as a task container's would be.
	t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(ts.URL, "http://"))
	c := gcemetadata.NewClient(nil)
	ctx := context.Background()
	const aud = "https://172.31.213.1:18443"
	token, err := c.GetWithContext(ctx, "instance/service-accounts/default/identity?audience="+aud+"&format=full")
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verify(t, ts.URL, token, aud)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if claims.Email != taskSA || !claims.EmailVerified || len(claims.Subject) != 21 || claims.AuthorizedBy != claims.Subject {
		t.Errorf("claims = %+v", claims)
	}
	if claims.Expires-claims.IssuedAt != 3600 {
		t.Errorf("exp - iat = %d, want 3600", claims.Expires-claims.IssuedAt)
	}
	if _, err := verify(t, ts.URL, token, "https://other"); err == nil {
		t.Error("token verified for another audience")
	}
	tampered := token[:len(token)-4] + "AAAA"
	if _, err := verify(t, ts.URL, tampered, aud); err == nil {
		t.Error("tampered token verified")
	}

	for suffix, want := range map[string]string{
		"project/project-id":                             "runsock-dev",
		"project/numeric-project-id":                     "123456789012",
		"instance/region":                                "projects/123456789012/regions/us-central1",
		"instance/service-accounts/default/email":        taskSA,
		"instance/service-accounts/" + taskSA + "/email": taskSA,
	} {
		if got, err := c.GetWithContext(ctx, suffix); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", suffix, got, err, want)
		}
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	raw, err := c.GetWithContext(ctx, "instance/service-accounts/default/token")
	if err != nil || json.Unmarshal([]byte(raw), &tok) != nil || tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Errorf("token = %q, %v", raw, err)
	}
}

func TestMetadataRefusals(t *testing.T) {
	srv, _ := startServer(t, "")
	const identity = "/computeMetadata/v1/instance/service-accounts/default/identity"
	tests := []struct {
		name   string
		remote string
		path   string
		flavor bool
		want   int
	}{
		{"ok", "127.0.0.1:4000", identity + "?audience=x", true, 200},
		{"no Metadata-Flavor", "127.0.0.1:4000", identity + "?audience=x", false, 403},
		{"unknown caller", "172.31.213.77:4000", identity + "?audience=x", true, 404},
		{"unknown caller email", "172.31.213.77:4000", "/computeMetadata/v1/instance/service-accounts/default/email", true, 404},
		{"no audience", "127.0.0.1:4000", identity, true, 400},
		{"other account", "127.0.0.1:4000", "/computeMetadata/v1/instance/service-accounts/someone@x.iam.gserviceaccount.com/email", true, 404},
		{"dev token", "10.1.2.3:4000", "/gcpsim/v1/idtoken?email=alice@example.com&audience=x", false, 200},
		{"dev token without email", "10.1.2.3:4000", "/gcpsim/v1/idtoken?audience=x", false, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.path, nil)
			r.RemoteAddr = tt.remote
			if tt.flavor {
				r.Header.Set("Metadata-Flavor", "Google")
			}
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status = %d, want %d (%s)", w.Code, tt.want, w.Body)
			}
			if w.Header().Get("Metadata-Flavor") != "Google" {
				t.Error("response lacks Metadata-Flavor: Google")
			}
		})
	}
}

func TestKeySurvivesRestart(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "keys", "signing.pem")
	_, before := startServer(t, keyFile)
	token := devToken(t, before.URL, "alice@example.com", "aud")
	// A restarted server with the same key file publishes the same key, so tokens from before still verify.
	_, after := startServer(t, keyFile)
	if _, err := verifyWith(t, after.URL, before.URL, token, "aud"); err != nil {
		t.Errorf("token from before the restart: %v", err)
	}
	// A server with another key does not accept it.
	_, other := startServer(t, filepath.Join(t.TempDir(), "other.pem"))
	if _, err := verifyWith(t, other.URL, before.URL, token, "aud"); err == nil {
		t.Error("token verified against another server's key")
	}
}

func devToken(t *testing.T, base, email, audience string) string {
	t.Helper()
	resp, err := http.Get(base + "/gcpsim/v1/idtoken?email=" + email + "&audience=" + audience)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("dev token: %s: %s", resp.Status, b)
	}
	return string(b)
}

func TestOfficialIDTokenSource(t *testing.T) {
	_, ts := startServer(t, "")
	// What the agent does on Cloud Run: application default credentials find the metadata server.
	t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(ts.URL, "http://"))
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	t.Setenv("HOME", t.TempDir()) // no gcloud well-known credentials file
	src, err := idtoken.NewTokenSource(context.Background(), "https://control-plane")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verify(t, ts.URL, tok.AccessToken, "https://control-plane")
	if err != nil || claims.Email != taskSA {
		t.Errorf("claims %+v, err %v", claims, err)
	}
}
