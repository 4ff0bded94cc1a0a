package dockerapi_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/containers/containerstest"
	"github.com/runsock/runsock/controlplane/internal/dockerapi"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/controlplane/internal/store"
)

const audience = "https://runsock.test"

// issuer is an OIDC issuer serving a JWKS for its key, and a minter of tokens signed by any key.
type issuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/certs"})
	})
	mux.HandleFunc("/certs", func(w http.ResponseWriter, r *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

// token mints an RS256 JWT; change fields of claims to make it wrong.
func (is *issuer) token(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	b64 := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	signed := b64(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "k1"}) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (is *issuer) claims(email string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": is.srv.URL, "aud": audience, "email": email, "email_verified": true, "sub": "1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// Every route behind the real identity middleware: without a valid token nothing answers but 401, another user's
// container is "No such container", and none of it changes the owner's container.
func TestEveryRouteRefusesWhoIsNotTheOwner(t *testing.T) {
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		t.Setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:18081")
	}
	ctx := context.Background()
	is := newIssuer(t)
	b := make([]byte, 6)
	rand.Read(b)
	st, err := store.Open(ctx, "runsock-auth-"+hex.EncodeToString(b), "", "")
	if err != nil {
		t.Fatal(err)
	}
	svc := containers.New(containers.Options{Store: st, Launcher: containerstest.NewLauncher(), Images: containerstest.Images{}, Logs: fakeLogs{}})
	h := dockerapi.New(dockerapi.Options{Containers: svc, Info: dockerapi.Info{Project: "p", Region: "r", MaxCPU: 8, MaxMemory: 32 << 30}})
	v, err := identity.NewVerifier(identity.Config{Mode: identity.ModeOIDC, Issuer: is.srv.URL, Audiences: []string{audience}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(v.Middleware(h))
	t.Cleanup(func() { srv.Close(); svc.Close(); st.Close() })

	call := func(method, path, token string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{"Image":"alpine","Cmd":["true"]}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("X-Serverless-Authorization", "Bearer "+token)
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var m struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m.Message
	}

	alice := is.token(t, is.key, is.claims("alice@example.com"))
	bob := is.token(t, is.key, is.claims("bob@example.com"))
	if code, msg := call("POST", "/containers/create?name=db", alice); code != 201 {
		t.Fatalf("alice's create: %d %s", code, msg)
	}
	c, err := svc.Resolve(ctx, identity.Principal{Email: "alice@example.com"}, "db")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(c)

	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	expired, wrongAud, unverified := is.claims("alice@example.com"), is.claims("alice@example.com"), is.claims("alice@example.com")
	expired["iat"], expired["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
	wrongAud["aud"] = "https://someone-else.test"
	unverified["email_verified"] = false
	refused := map[string]string{
		"no token":         "",
		"malformed":        "not.a.jwt",
		"forged signature": is.token(t, otherKey, is.claims("alice@example.com")),
		"expired":          is.token(t, is.key, expired),
		"wrong audience":   is.token(t, is.key, wrongAud),
		"email unverified": is.token(t, is.key, unverified),
	}

	routes := h.Routes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes: the route table was not read", len(routes))
	}
	for _, route := range routes {
		method, pattern, _ := strings.Cut(route, " ")
		if pattern == "/_ping" {
			continue // open by design (see package identity)
		}
		path := strings.NewReplacer("{id}", c.ID, "{name...}", "alpine").Replace(pattern)
		for name, token := range refused {
			t.Run(route+"/"+name, func(t *testing.T) {
				if code, msg := call(method, path, token); code != http.StatusUnauthorized {
					t.Fatalf("%d %q, want 401", code, msg)
				}
			})
		}
		if strings.Contains(pattern, "/containers/{id}") && !strings.HasSuffix(pattern, "/tunnel") { // tunnels: HTTP/2 only
			t.Run(route+"/another user's container", func(t *testing.T) {
				// Valid parameters for every route, so only ownership can refuse the request.
				code, msg := call(method, path+"?name=renamed&stdout=1&stderr=1&stream=1&path=/etc", bob)
				if code != http.StatusNotFound || (method != "HEAD" && !strings.Contains(msg, "No such container")) {
					t.Fatalf("%d %q, want 404 No such container", code, msg)
				}
			})
		}
	}
	for _, list := range []string{"/containers/json?all=1", "/events?since=0&until=" + strconv.FormatInt(time.Now().Unix(), 10)} {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+list, nil)
		req.Header.Set("X-Serverless-Authorization", "Bearer "+bob)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		buf := make([]byte, 1<<16)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if strings.Contains(sb.String(), c.ID) || strings.Contains(sb.String(), "/db") {
			t.Errorf("bob's %s shows alice's container: %s", list, sb.String())
		}
	}

	after, err := svc.Resolve(ctx, identity.Principal{Email: "alice@example.com"}, "db")
	if err != nil {
		t.Fatalf("alice's container is gone: %v", err)
	}
	if got, _ := json.Marshal(after); string(got) != string(before) {
		t.Fatalf("alice's container changed:\nbefore %s\nafter  %s", before, got)
	}
}
