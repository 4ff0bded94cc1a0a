package identity

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testAud = "https://runsock.example.test"

// issuer is an OIDC issuer served by httptest: discovery, JWKS and a signer. Its key set names key under every ID
// in kids; while hold is set, key set requests wait for it to close (a slow issuer).
type issuer struct {
	srv     *httptest.Server
	key     *rsa.PrivateKey
	kid     string // the first key ID, which tokens name by default
	fetches atomic.Int32

	mu   sync.Mutex
	kids []string
	hold chan struct{}
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key, kid: "k1", kids: []string{"k1"}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/gcpsim/v1/certs"})
	})
	mux.HandleFunc("/gcpsim/v1/certs", func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		is.mu.Lock()
		hold := is.hold
		is.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		is.mu.Lock()
		var keys []map[string]string
		for _, kid := range is.kids {
			keys = append(keys, map[string]string{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
				"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())})
		}
		is.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

// serve sets the key IDs the key set names.
func (is *issuer) serve(kids ...string) {
	is.mu.Lock()
	is.kids = kids
	is.mu.Unlock()
}

// stall makes key set requests wait until the returned function is called.
func (is *issuer) stall() (release func()) {
	hold := make(chan struct{})
	is.mu.Lock()
	is.hold = hold
	is.mu.Unlock()
	return sync.OnceFunc(func() {
		is.mu.Lock()
		is.hold = nil
		is.mu.Unlock()
		close(hold)
	})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// sign returns an RS256 JWT over claims, signed by key with kid.
func sign(t testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	p, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(p)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

// withAlg returns a token with header alg, signed with HMAC-SHA256 over hmacKey (nil: no signature).
func withAlg(t testing.TB, alg, kid string, claims map[string]any, hmacKey []byte) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": kid})
	p, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(p)
	if hmacKey == nil {
		return input + "."
	}
	m := hmac.New(sha256.New, hmacKey)
	m.Write([]byte(input))
	return input + "." + b64(m.Sum(nil))
}

func claimsFor(iss, email string, mod func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss": iss, "aud": testAud, "sub": "1234", "email": email, "email_verified": true,
		"iat": time.Now().Add(-time.Minute).Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func TestMiddlewareOIDC(t *testing.T) {
	is := newIssuer(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{
		Mode: ModeOIDC, Issuer: is.srv.URL, Audiences: []string{testAud},
		AllowEmails: []string{"alice@example.com"}, AllowDomains: []string{"team.example"},
		Admins: []string{"root@admins.example"}, AgentOnly: []string{"jobs@team.example"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	good := func(email string, mod func(map[string]any)) string {
		return "Bearer " + sign(t, is.key, is.kid, claimsFor(is.srv.URL, email, mod))
	}
	tests := []struct {
		name      string
		path      string
		header    string
		value     string
		wantCode  int
		wantMsg   string
		wantEmail string
		wantAdmin bool
	}{
		{name: "no token", wantCode: 401, wantMsg: "no identity token: run localproxy"},
		{name: "malformed", header: "X-Serverless-Authorization", value: "Bearer not-a-jwt", wantCode: 401, wantMsg: "malformed jwt"},
		{name: "not bearer", header: "Authorization", value: "Basic YWxpY2U6eA==", wantCode: 401, wantMsg: "no identity token"},
		{name: "forged signature", header: "X-Serverless-Authorization",
			value: "Bearer " + sign(t, other, is.kid, claimsFor(is.srv.URL, "alice@example.com", nil)), wantCode: 401, wantMsg: "bad token signature"},
		{name: "unsigned", header: "X-Serverless-Authorization",
			value:    "Bearer " + strings.Join(strings.Split(sign(t, is.key, is.kid, claimsFor(is.srv.URL, "alice@example.com", nil)), ".")[:2], ".") + ".",
			wantCode: 401, wantMsg: "bad token signature"},
		{name: "expired", header: "X-Serverless-Authorization",
			value: good("alice@example.com", func(c map[string]any) { c["exp"] = time.Now().Add(-5 * time.Minute).Unix() }), wantCode: 401, wantMsg: "token expired"},
		{name: "wrong audience", header: "X-Serverless-Authorization",
			value: good("alice@example.com", func(c map[string]any) { c["aud"] = "https://elsewhere.test" }), wantCode: 401, wantMsg: "audience"},
		{name: "wrong issuer", header: "X-Serverless-Authorization",
			value: good("alice@example.com", func(c map[string]any) { c["iss"] = "https://evil.test" }), wantCode: 401, wantMsg: "issued by a different provider"},
		{name: "email not verified", header: "X-Serverless-Authorization",
			value: good("alice@example.com", func(c map[string]any) { c["email_verified"] = false }), wantCode: 401, wantMsg: "not verified"},
		{name: "alg none", header: "X-Serverless-Authorization",
			value: "Bearer " + withAlg(t, "none", is.kid, claimsFor(is.srv.URL, "alice@example.com", nil), nil), wantCode: 401, wantMsg: "malformed jwt"},
		{name: "HS256 keyed with the public key", header: "X-Serverless-Authorization",
			value: "Bearer " + withAlg(t, "HS256", is.kid, claimsFor(is.srv.URL, "alice@example.com", nil), is.key.N.Bytes()), wantCode: 401, wantMsg: "malformed jwt"},
		{name: "no expiry", header: "X-Serverless-Authorization",
			value: good("alice@example.com", func(c map[string]any) { delete(c, "exp") }), wantCode: 401, wantMsg: "no expiry"},
		{name: "issued in the future", header: "X-Serverless-Authorization",
			value: good("alice@example.com", func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }), wantCode: 401, wantMsg: "issued in the future"},
		{name: "no email", header: "X-Serverless-Authorization",
			value: good("", nil), wantCode: 401, wantMsg: "carries no email"},
		{name: "email_verified as a string", header: "X-Serverless-Authorization",
			value: good("alice@example.com", func(c map[string]any) { c["email_verified"] = "true" }), wantCode: 200, wantEmail: "alice@example.com"},
		{name: "not on allow-list", header: "X-Serverless-Authorization", value: good("mallory@evil-team.example", nil), wantCode: 403, wantMsg: "allow-list"},
		{name: "suffix of allowed domain", header: "X-Serverless-Authorization", value: good("eve@evilteam.example", nil), wantCode: 403},
		{name: "valid email", header: "X-Serverless-Authorization", value: good("Alice@example.com", nil), wantCode: 200, wantEmail: "alice@example.com"},
		{name: "valid domain via Authorization", header: "Authorization", value: good("bob@team.example", nil), wantCode: 200, wantEmail: "bob@team.example"},
		{name: "aud list", header: "Authorization",
			value: good("bob@team.example", func(c map[string]any) { c["aud"] = []string{"x", testAud} }), wantCode: 200, wantEmail: "bob@team.example"},
		{name: "admin", header: "X-Serverless-Authorization", value: good("root@admins.example", nil), wantCode: 200, wantEmail: "root@admins.example", wantAdmin: true},
		{name: "jobs identity, though its domain is allowed", header: "X-Serverless-Authorization", value: good("Jobs@team.example", nil),
			wantCode: 403, wantMsg: "may not use the Docker API"},
		{name: "ping open", path: "/_ping", wantCode: 200},
		{name: "versioned ping open", path: "/v1.50/_ping", wantCode: 200},
		{name: "ping with forged token still open, no principal", path: "/_ping", header: "X-Serverless-Authorization",
			value: "Bearer " + sign(t, other, is.kid, claimsFor(is.srv.URL, "alice@example.com", nil)), wantCode: 200},
		{name: "ping lookalike closed", path: "/_ping/../containers/json", wantCode: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Principal
			var reached bool
			h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached = true
				got, _ = FromContext(r.Context())
			}))
			path := tt.path
			if path == "" {
				path = "/v1.50/containers/json"
			}
			req := httptest.NewRequest(http.MethodGet, path, nil)
			if tt.header != "" {
				req.Header.Set(tt.header, tt.value)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantCode != 200 {
				if reached {
					t.Fatal("handler reached on refusal")
				}
				var body struct{ Message string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || !strings.Contains(body.Message, tt.wantMsg) {
					t.Fatalf("message = %q (%v), want it to contain %q", body.Message, err, tt.wantMsg)
				}
				return
			}
			if got.Email != tt.wantEmail || got.Admin != tt.wantAdmin {
				t.Fatalf("principal = %+v, want %s admin=%v", got, tt.wantEmail, tt.wantAdmin)
			}
		})
	}
	if n := is.fetches.Load(); n > 2 {
		t.Errorf("JWKS fetched %d times; want it cached", n)
	}
}

func TestUnknownKidRefetchIsBounded(t *testing.T) {
	is := newIssuer(t)
	clk := newClock()
	v := oidcVerifier(t, is, clk)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		tok := sign(t, is.key, "made-up", claimsFor(is.srv.URL, "a@b.c", nil))
		if _, err := v.Verify(ctx, tok); err == nil {
			t.Fatal("unknown kid accepted")
		}
	}
	if n := is.fetches.Load(); n != 1 {
		t.Fatalf("20 unknown kids caused %d fetches, want 1", n)
	}
	// The issuer rotates to the new kid: after the refetch interval the new key is found.
	is.serve("made-up")
	clk.Add(keysMinRefetch)
	if email, err := v.Verify(ctx, sign(t, is.key, "made-up", claimsFor(is.srv.URL, "a@b.c", nil))); err != nil || email != "a@b.c" {
		t.Fatalf("after rotation: %q, %v", email, err)
	}
}

func TestCloudRunMode(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{Mode: ModeCloudRun, Audiences: []string{testAud}})
	if err != nil {
		t.Fatal(err)
	}
	full := sign(t, key, "google", claimsFor(GoogleIssuer, "carol@example.com", nil))
	parts := strings.Split(full, ".")
	tests := []struct {
		name, token, wantEmail, wantErr string
	}{
		{name: "signature removed by Google", token: parts[0] + "." + parts[1] + "." + SignatureRemoved, wantEmail: "carol@example.com"},
		{name: "signature stripped with dot", token: parts[0] + "." + parts[1] + ".", wantEmail: "carol@example.com"},
		{name: "signature stripped", token: parts[0] + "." + parts[1], wantEmail: "carol@example.com"},
		{name: "with signature", token: full, wantEmail: "carol@example.com"},
		{name: "wrong issuer", token: sign(t, key, "k", claimsFor("https://evil.test", "c@e.com", nil)), wantErr: "different provider"},
		{name: "expired", token: sign(t, key, "k", claimsFor(GoogleIssuer, "c@e.com", func(c map[string]any) { c["exp"] = 1 })), wantErr: "expired"},
		{name: "wrong audience", token: sign(t, key, "k", claimsFor(GoogleIssuer, "c@e.com", func(c map[string]any) { c["aud"] = "x" })), wantErr: "audience"},
		{name: "garbage", token: "a.b", wantErr: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email, err := v.Verify(context.Background(), tt.token)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || email != tt.wantEmail {
				t.Fatalf("Verify = %q, %v", email, err)
			}
		})
	}
}

func TestCloudRunModeWithConfiguredIssuer(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const gcpsim = "http://172.31.213.1:18092"
	v, err := NewVerifier(Config{Mode: ModeCloudRun, Issuer: gcpsim, Audiences: []string{testAud}})
	if err != nil {
		t.Fatal(err)
	}
	strip := func(tok string) string { return tok[:strings.LastIndexByte(tok, '.')+1] + SignatureRemoved }
	if email, err := v.Verify(context.Background(), strip(sign(t, key, "k", claimsFor(gcpsim, "dev@example.com", nil)))); err != nil || email != "dev@example.com" {
		t.Errorf("gcpsim's token: %q, %v", email, err)
	}
	if _, err := v.Verify(context.Background(), strip(sign(t, key, "k", claimsFor(GoogleIssuer, "dev@example.com", nil)))); err == nil {
		t.Error("a token of another issuer than the configured one was accepted")
	}
}

func TestNewVerifierReportsEveryProblem(t *testing.T) {
	_, err := NewVerifier(Config{Mode: ModeOIDC})
	if err == nil || !strings.Contains(err.Error(), "issuer") || !strings.Contains(err.Error(), "audience") {
		t.Fatalf("err = %v", err)
	}
}
