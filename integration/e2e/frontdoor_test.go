package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// frontDoorClient speaks HTTP/2 to the control plane's URL, which is gcpsim's front end.
func frontDoorClient(t *testing.T) *http.Client {
	t.Helper()
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: devCAPool(t)}, ForceAttemptHTTP2: true}}
}

// devCAPool holds the dev CA that signed the front ends' certificates.
func devCAPool(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(stack.devCA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return pool
}

// issuerToken asks gcpsim's issuer for a person's token; extra is added to the query (e.g. "&expired=true").
func issuerToken(t *testing.T, email, audience, extra string) string {
	t.Helper()
	resp, err := http.Get(stack.issuer + "/gcpsim/v1/idtoken?email=" + url.QueryEscape(email) + "&audience=" + url.QueryEscape(audience) + extra)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("token: %s: %s", resp.Status, b)
	}
	return strings.TrimSpace(string(b))
}

// forgedToken is shaped like the issuer's tokens but signed with a throwaway key.
func forgedToken(t *testing.T, email, audience string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "forged", "typ": "JWT"})
	p, _ := json.Marshal(map[string]any{"iss": stack.issuer, "aud": audience, "email": email, "email_verified": true,
		"iat": now, "exp": now + 3600, "sub": "1", "azp": "1"})
	in := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + enc.EncodeToString(sig)
}

const outsider = "mallory@outsider.test" // not in RUNSOCK_TEAM_MEMBERS

// Google's front end stands before the control plane: each refusal with Google's status, page and header.
func TestFrontDoorRefusals(t *testing.T) {
	dev := os.Getenv("RUNSOCK_DEV_USER")
	if dev == "" {
		t.Skip("RUNSOCK_DEV_USER not set")
	}
	cp := stack.controlPlane
	tests := []struct {
		name   string
		token  string // "" = none
		status int
	}{
		{"no token", "", 403},
		{"bad signature", forgedToken(t, dev, cp), 401},
		{"wrong audience", issuerToken(t, dev, "https://elsewhere.a.run.app", ""), 401},
		{"expired", issuerToken(t, dev, cp, "&expired=true"), 401},
		{"caller without the invoker role", issuerToken(t, outsider, cp, ""), 403},
		{"team member", issuerToken(t, dev, cp, ""), 200},
	}
	c := frontDoorClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", cp+"/v1.50/_ping", nil)
			if tt.token != "" {
				req.Header.Set("X-Serverless-Authorization", "Bearer "+tt.token)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			switch tt.status {
			case 401:
				if !strings.Contains(string(b), "<title>401 Unauthorized</title>") ||
					resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token" error_description="The access token could not be verified"` {
					t.Errorf("not Google's 401: %s %q", b, resp.Header.Get("WWW-Authenticate"))
				}
			case 403:
				if !strings.Contains(string(b), "<title>403 Forbidden</title>") ||
					!strings.Contains(string(b), "Your client does not have permission to get URL <code>/v1.50/_ping</code> from this server.") {
					t.Errorf("not Google's 403: %s", b)
				}
			case 200:
				if string(b) != "OK" {
					t.Errorf("ping through the front end: %q", b)
				}
			}
		})
	}
}

// A person without roles/run.invoker gets, through localproxy and the docker CLI, a message naming the cause.
func TestFrontDoorRefusalThroughTheDockerCLI(t *testing.T) {
	host := startLocalProxy(t, outsider)
	r := dockerAs(t, host, "", "ps")
	if r.code == 0 {
		t.Fatalf("docker ps by a non-member succeeded: %s", r)
	}
	want := "Google's front end refused the request (403): " + outsider + " lacks roles/run.invoker on the control plane service"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("docker ps: %s\nwant the message to contain %q", r, want)
	}
}
