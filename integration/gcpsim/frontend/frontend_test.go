package frontend

import (
	"bufio"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	issuer  = "http://issuer.test"
	alice   = "alice@example.com"
	bob     = "bob@example.com"
	carol   = "carol@team.example"
	jobsSA  = "123-compute@developer.gserviceaccount.com"
	otherSA = "other@p.iam.gserviceaccount.com"
	custom  = "runsock-control-plane"
)

var (
	signingKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	otherKey, _   = rsa.GenerateKey(rand.Reader, 2048)
)

// token signs claims as gcpsim's issuer does; fields of c override the defaults.
func token(t *testing.T, key *rsa.PrivateKey, c map[string]any) string {
	t.Helper()
	now := time.Now().Unix()
	claims := map[string]any{"iss": issuer, "email_verified": true, "iat": now - 10, "exp": now + 3600}
	for k, v := range c {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "k", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	in := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + enc.EncodeToString(sig)
}

// seen is what the backend received.
type seen struct {
	proto  int
	header http.Header
	body   int
}

// stack is a front end (TLS, HTTP/2 and HTTP/1) before a backend (h2c or HTTP/1).
type stack struct {
	url  string
	fe   *httptest.Server
	hits atomic.Int32
	last atomic.Pointer[seen]
}

func newStack(t *testing.T, h2c bool, mod func(*Config), backend http.HandlerFunc) *stack {
	t.Helper()
	s := &stack{}
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if backend != nil {
			s.last.Store(&seen{proto: r.ProtoMajor, header: r.Header.Clone()})
			backend(w, r)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		s.last.Store(&seen{proto: r.ProtoMajor, header: r.Header.Clone(), body: int(n)})
		io.WriteString(w, "ok")
	}))
	scheme := "http://"
	if h2c {
		be.Config.Protocols = new(http.Protocols)
		be.Config.Protocols.SetUnencryptedHTTP2(true)
		scheme = "h2c://"
	}
	be.Start()
	t.Cleanup(be.Close)
	s.fe = httptest.NewUnstartedServer(nil)
	s.fe.EnableHTTP2 = true
	s.fe.StartTLS()
	t.Cleanup(s.fe.Close)
	s.url = s.fe.URL
	cfg := Config{
		Name: "test", URLs: []string{s.url}, Audiences: []string{custom},
		Invokers: []string{"user:" + alice, "serviceAccount:" + jobsSA, "domain:team.example", "group:devs@example.com"},
		Backend:  scheme + strings.TrimPrefix(be.URL, "http://"), Issuer: issuer, Key: &signingKey.PublicKey,
	}
	if mod != nil {
		mod(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	s.fe.Config.Handler = f
	return s
}

// client speaks HTTP/2 (h2 true) or HTTP/1.1 to the front end.
func (s *stack) client(h2 bool) *http.Client {
	c := s.fe.Client()
	tr := c.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.NextProtos = nil // the transport sets them from Protocols
	p := new(http.Protocols)
	if h2 {
		p.SetHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	tr.Protocols = p
	return &http.Client{Transport: tr}
}

func TestRefusals(t *testing.T) {
	s := newStack(t, true, nil, nil)
	good := token(t, signingKey, map[string]any{"aud": s.url, "email": alice})
	tests := []struct {
		name   string
		method string
		path   string
		header map[string][]string
		want   int
	}{
		{"no token", "GET", "/info", nil, 403},
		{"empty Authorization", "GET", "/info", map[string][]string{"Authorization": {""}}, 403},
		{"bad signature", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, otherKey, map[string]any{"aud": s.url, "email": alice})}}, 401},
		{"signature removed", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + stripSignature(good)}}, 401},
		{"expired", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": s.url, "email": alice, "iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()})}}, 401},
		{"wrong audience", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": "https://elsewhere.a.run.app", "email": alice})}}, 401},
		{"audience with a path", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": s.url + "/info", "email": alice})}}, 401},
		{"audience with a trailing slash", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": s.url + "/", "email": alice})}}, 401},
		{"other issuer", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": s.url, "email": alice, "iss": "https://accounts.google.com"})}}, 401},
		{"access token", "GET", "/info", map[string][]string{"Authorization": {"Bearer ya29.a0AfH6SMBx"}}, 401},
		{"malformed", "GET", "/info", map[string][]string{"Authorization": {"Bearer abc.def.ghi"}}, 401},
		{"not Bearer", "GET", "/info", map[string][]string{"Authorization": {"Basic " + good}}, 401},
		{"lower-case bearer", "GET", "/info", map[string][]string{"Authorization": {"bearer " + good}}, 401},
		{"several JWTs", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + good + ", " + good}}, 401},
		{"multiple Authorization headers", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + good, "Bearer " + good}}, 401},
		{"bad X-Serverless-Authorization beside a good Authorization", "GET", "/info", map[string][]string{
			"X-Serverless-Authorization": {"Bearer " + stripSignature(good)}, "Authorization": {"Bearer " + good}}, 401},
		{"not an invoker", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": s.url, "email": bob})}}, 403},
		{"unverified email", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": s.url, "email": alice, "email_verified": false})}}, 403},
		{"service account not an invoker", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": s.url, "email": otherSA})}}, 403},
		{"gcloud audience for a service account", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": GcloudAudience, "email": jobsSA})}}, 401},
		{"TRACE", "TRACE", "/info", map[string][]string{"Authorization": {"Bearer " + good}}, 404},
		{"/healthz", "GET", "/healthz", map[string][]string{"Authorization": {"Bearer " + good}}, 404},
		{"/_ah/start", "GET", "/_ah/start", map[string][]string{"Authorization": {"Bearer " + good}}, 404},
		{"/eventlog", "POST", "/eventlog", map[string][]string{"Authorization": {"Bearer " + good}}, 404},
		{"Upgrade: tcp", "POST", "/containers/x/attach", map[string][]string{"Authorization": {"Bearer " + good}, "Connection": {"Upgrade"}, "Upgrade": {"tcp"}}, 404},

		{"user", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + good}}, 200},
		{"user in X-Serverless-Authorization", "GET", "/info", map[string][]string{"X-Serverless-Authorization": {"Bearer " + good}}, 200},
		{"domain member", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": s.url, "email": carol})}}, 200},
		{"service account", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": s.url, "email": jobsSA})}}, 200},
		{"custom audience", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": custom, "email": alice})}}, 200},
		{"gcloud audience for a person", "GET", "/info", map[string][]string{"Authorization": {"Bearer " + token(t, signingKey, map[string]any{"aud": GcloudAudience, "email": alice})}}, 200},
		{"/healthz/ is delivered", "GET", "/healthz/", map[string][]string{"Authorization": {"Bearer " + good}}, 200},
	}
	for _, h2 := range []bool{true, false} {
		c := s.client(h2)
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/h2=%v", tt.name, h2), func(t *testing.T) {
				if h2 && tt.header["Upgrade"] != nil {
					t.Skip("HTTP/2 has no Upgrade")
				}
				req, _ := http.NewRequest(tt.method, s.url+tt.path, nil)
				for k, vv := range tt.header {
					req.Header[k] = vv
				}
				before := s.hits.Load()
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
				}
				reached := s.hits.Load() != before
				if tt.want != 200 {
					if reached {
						t.Error("a refused request reached the service")
					}
					if string(body) != Page(tt.want, tt.path) {
						t.Errorf("body = %q", body)
					}
					if got := resp.Header.Get("WWW-Authenticate"); (tt.want == 401) != (got == WWWAuthenticate) {
						t.Errorf("WWW-Authenticate = %q", got)
					}
				} else if !reached {
					t.Error("request did not reach the service")
				}
			})
		}
	}
}

func TestGooglePages(t *testing.T) {
	want403 := "<html><head>\n<meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">\n<title>403 Forbidden</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: Forbidden</h1>\n<h2>Your client does not have permission to get URL <code>/PATH</code> from this server.</h2>\n<h2></h2>\n</body></html>"
	want401 := "<html><head>\n<meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">\n<title>401 Unauthorized</title>\n</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: Unauthorized</h1>\n<h2>Your client does not have permission to the requested URL <code>/PATH</code>.</h2>\n<h2></h2>\n</body></html>"
	if got := Page(403, "/PATH"); got != want403 {
		t.Errorf("403 page = %q", got)
	}
	if got := Page(401, "/PATH"); got != want401 {
		t.Errorf("401 page = %q", got)
	}
}

func TestForwardedRequest(t *testing.T) {
	s := newStack(t, true, nil, nil)
	good := token(t, signingKey, map[string]any{"aud": s.url, "email": alice})
	for _, tc := range []struct {
		name      string
		header    map[string]string
		consumed  string
		untouched map[string]string
	}{
		{"Authorization", map[string]string{"Authorization": "Bearer " + good}, "Authorization", nil},
		{"X-Serverless-Authorization", map[string]string{"X-Serverless-Authorization": "Bearer " + good, "Authorization": "Basic dXNlcjpwdw=="},
			"X-Serverless-Authorization", map[string]string{"Authorization": "Basic dXNlcjpwdw=="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.url+"/info", nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := s.client(false).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := s.last.Load()
			if got.proto != 2 {
				t.Errorf("backend got HTTP/%d, want end-to-end HTTP/2", got.proto)
			}
			if want := "Bearer " + good[:strings.LastIndexByte(good, '.')+1] + SignatureRemoved; got.header.Get(tc.consumed) != want {
				t.Errorf("%s = %q, want the token without its signature", tc.consumed, got.header.Get(tc.consumed))
			}
			for k, v := range tc.untouched {
				if got.header.Get(k) != v {
					t.Errorf("%s = %q, want %q untouched", k, got.header.Get(k), v)
				}
			}
			if xff := got.header.Get("X-Forwarded-For"); xff != "127.0.0.1" {
				t.Errorf("X-Forwarded-For = %q", xff)
			}
			if got.header.Get("X-Forwarded-Proto") != "https" {
				t.Errorf("X-Forwarded-Proto = %q", got.header.Get("X-Forwarded-Proto"))
			}
			trace := got.header.Get("X-Cloud-Trace-Context")
			tp := got.header.Get("Traceparent")
			if len(trace) < 34 || !strings.HasPrefix(tp, "00-"+trace[:32]+"-") {
				t.Errorf("X-Cloud-Trace-Context %q, traceparent %q", trace, tp)
			}
		})
	}
}

// streamLines writes a numbered line every 10 ms until the client or the front end goes away.
func streamLines(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Trailer", "X-End")
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestRequestTimeoutCutsStreamsCleanly(t *testing.T) {
	s := newStack(t, true, func(c *Config) { c.RequestTimeout = 300 * time.Millisecond }, streamLines)
	good := token(t, signingKey, map[string]any{"aud": s.url, "email": alice})
	for _, h2 := range []bool{true, false} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.url+"/logs?follow=1", nil)
			req.Header.Set("X-Serverless-Authorization", "Bearer "+good)
			start := time.Now()
			resp, err := s.client(h2).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			lines := 0
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines++
			}
			// A cut looks like a normal end: status 200, no read error, no trailers.
			if err := sc.Err(); err != nil {
				t.Fatalf("read after %d lines: %v (want a clean end of stream)", lines, err)
			}
			if el := time.Since(start); el < 300*time.Millisecond || el > 3*time.Second || lines < 5 {
				t.Errorf("stream ended after %s with %d lines", el, lines)
			}
			if resp.StatusCode != 200 || len(resp.Trailer.Values("X-End")) != 0 {
				t.Errorf("status %d, trailer %v", resp.StatusCode, resp.Trailer)
			}
		})
	}
}

func TestRequestTimeoutBeforeResponse(t *testing.T) {
	s := newStack(t, true, func(c *Config) { c.RequestTimeout = 200 * time.Millisecond }, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	req, _ := http.NewRequest("POST", s.url+"/containers/x/wait", nil)
	req.Header.Set("Authorization", "Bearer "+token(t, signingKey, map[string]any{"aud": s.url, "email": alice}))
	resp, err := s.client(true).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 504 || string(body) != Page(504, "/containers/x/wait") {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}
}

func TestTrailersPass(t *testing.T) {
	s := newStack(t, true, nil, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.WriteHeader(200)
		io.WriteString(w, "frame")
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
	})
	req, _ := http.NewRequest("POST", s.url+"/svc/Method", strings.NewReader("x"))
	req.Header.Set("Authorization", "Bearer "+token(t, signingKey, map[string]any{"aud": s.url, "email": jobsSA}))
	req.Header.Set("Te", "trailers")
	resp, err := s.client(true).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("trailers %v", resp.Trailer)
	}
	if s.last.Load().header.Get("Te") != "trailers" {
		t.Errorf("TE = %q, want trailers passed on", s.last.Load().header.Get("Te"))
	}
}

func TestConcurrencyCap(t *testing.T) {
	release := make(chan struct{})
	s := newStack(t, true, func(c *Config) { c.Concurrency = 1; c.QueueTimeout = 300 * time.Millisecond },
		func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				<-release
			}
		})
	auth := "Bearer " + token(t, signingKey, map[string]any{"aud": s.url, "email": alice})
	do := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", s.url+path, nil)
		req.Header.Set("Authorization", auth)
		resp, err := s.client(true).Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	slow := make(chan int, 1)
	go func() { code, _ := do("/slow"); slow <- code }()
	for s.hits.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if code, body := do("/fast"); code != 429 || body != Page(429, "/fast") {
		t.Errorf("above the cap: %d %q", code, body)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("refused after %s, want it to pend for the queue timeout", el)
	}
	// A request that pends while the slot frees gets through.
	queued := make(chan int, 1)
	go func() { code, _ := do("/fast"); queued <- code }()
	time.Sleep(100 * time.Millisecond)
	close(release)
	if code := <-queued; code != 200 {
		t.Errorf("queued request: %d", code)
	}
	if code := <-slow; code != 200 {
		t.Errorf("slow request: %d", code)
	}
}

func TestHTTP1BodyCap(t *testing.T) {
	for _, tc := range []struct {
		name             string
		h2c, h2, chunked bool
		size             int
		want             int
	}{
		{"HTTP/1 client at the cap", true, false, false, 1024, 200},
		{"HTTP/1 client over the cap", true, false, false, 1025, 413},
		{"HTTP/1 client chunked over the cap", true, false, true, 4096, 413},
		{"HTTP/2 client to an HTTP/2 service", true, true, false, 4096, 200},
		{"HTTP/2 client to an HTTP/1 service", false, true, false, 4096, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, tc.h2c, func(c *Config) { c.MaxHTTP1Body = 1024 }, nil)
			var body io.Reader = strings.NewReader(strings.Repeat("x", tc.size))
			if tc.chunked {
				body = io.MultiReader(body) // unknown length: sent chunked
			}
			req, _ := http.NewRequest("PUT", s.url+"/containers/x/archive", body)
			req.Header.Set("Authorization", "Bearer "+token(t, signingKey, map[string]any{"aud": s.url, "email": alice}))
			resp, err := s.client(tc.h2).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			if tc.want == 413 && string(b) != Page(413, "/containers/x/archive") {
				t.Errorf("body %q", b)
			}
			if tc.want == 200 && s.last.Load().body != tc.size {
				t.Errorf("backend got %d bytes, want %d", s.last.Load().body, tc.size)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := New(Config{URLs: []string{"https://x/path"}, Backend: "ftp://b", Invokers: []string{"bob@example.com"}})
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"service URL", "backend", "invoker members", "issuer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
