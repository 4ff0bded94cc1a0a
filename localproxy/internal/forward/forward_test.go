package forward

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/localproxy/internal/upstream"
)

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
func (s staticToken) Invalidate()                           {}

// controlPlane is an h2c httptest server standing in for the control plane.
func controlPlane(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// localProxy serves a Proxy to srv on a fresh unix socket and returns the socket path.
func localProxy(t *testing.T, srv *httptest.Server, ports PortPublisher) string {
	t.Helper()
	up, err := upstream.New(srv.URL, "", staticToken("tok-123"))
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	p := New(up, ports, nil)
	hs := &http.Server{Handler: p}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close(); p.Close() })
	return sock
}

func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}

func TestForwardHeadersAndToken(t *testing.T) {
	srv := controlPlane(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"proto": r.Proto, "token": r.Header.Get("X-Serverless-Authorization"), "path": r.URL.Path,
			"query": r.URL.RawQuery, "ua": r.Header.Get("User-Agent"),
		})
	}))
	c := unixClient(localProxy(t, srv, nil))
	req, _ := http.NewRequest("GET", "http://docker/v1.50/containers/json?all=1", nil)
	req.Header.Set("User-Agent", "Docker-Client/28.2.2")
	req.Header.Set("X-Serverless-Authorization", "Bearer from-the-client") // must be replaced
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]string
	json.NewDecoder(resp.Body).Decode(&got)
	want := map[string]string{"proto": "HTTP/2.0", "token": "Bearer tok-123", "path": "/v1.50/containers/json",
		"query": "all=1", "ua": "Docker-Client/28.2.2"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestForwardStreamsBothWays proves the response streams line by line (logs -f) and the request body streams chunk
// by chunk (docker load, cp): each side waits for the other's previous chunk before sending the next.
func TestForwardStreamsBothWays(t *testing.T) {
	srv := controlPlane(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		br := bufio.NewReader(r.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			fmt.Fprintf(w, "got %s", line)
			w.(http.Flusher).Flush()
		}
	}))
	sock := localProxy(t, srv, nil)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://docker/v1.50/images/load", pr)
	resp, err := unixClient(sock).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 3; i++ {
		fmt.Fprintf(pw, "chunk %d\n", i)
		line, err := readLine(br, 5*time.Second)
		if err != nil || line != fmt.Sprintf("got chunk %d\n", i) {
			t.Fatalf("line %d = %q, %v", i, line, err)
		}
	}
	pw.Close()
}

func readLine(br *bufio.Reader, d time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() { s, err := br.ReadString('\n'); ch <- res{s, err} }()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(d):
		return "", fmt.Errorf("no line within %s: not streamed", d)
	}
}

func TestUpstreamErrorsPassThrough(t *testing.T) {
	srv := controlPlane(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := map[string]int{"/v1.50/info": 401, "/v1.50/version": 403}[r.URL.Path]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"message":"runsock: status %d"}`, code)
	}))
	c := unixClient(localProxy(t, srv, nil))
	for path, code := range map[string]int{"/v1.50/info": 401, "/v1.50/version": 403} {
		resp, err := c.Get("http://docker" + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != code || !strings.Contains(string(b), fmt.Sprint(code)) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
}

func TestUnreachableControlPlaneSaysWhatToDo(t *testing.T) {
	srv := controlPlane(t, http.NotFoundHandler())
	sock := localProxy(t, srv, nil)
	srv.Close()
	resp, err := unixClient(sock).Get("http://docker/v1.50/info")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 502 || !strings.Contains(string(b), "RUNSOCK_CONTROL_PLANE_URL") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
