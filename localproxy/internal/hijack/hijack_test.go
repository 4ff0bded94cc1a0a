package hijack

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/proxyproto"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		hijack                   bool
		wantBody                 string
	}{
		{"attach", "POST", "/v1.50/containers/web/attach", "", true, ""},
		{"attach without a version", "POST", "/containers/web/attach", "", true, ""},
		{"attach by GET", "GET", "/v1.50/containers/web/attach", "", false, ""},
		{"exec start", "POST", "/v1.50/exec/abc/start", `{"Detach":false,"Tty":true}`, true, `{"Detach":false,"Tty":true}`},
		{"exec start with no body", "POST", "/v1.50/exec/abc/start", "", true, ""},
		{"detached exec start", "POST", "/v1.50/exec/abc/start", `{"Detach":true}`, false, `{"Detach":true}`},
		{"exec start with bad JSON", "POST", "/v1.50/exec/abc/start", `{`, false, `{`},
		{"container start", "POST", "/v1.50/containers/web/start", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			hijack, body, err := Match(r)
			if err != nil || hijack != tt.hijack || string(body) != tt.wantBody {
				t.Errorf("Match = %v, %q, %v; want %v, %q", hijack, body, err, tt.hijack, tt.wantBody)
			}
		})
	}
}

// upstreamFunc is an Upstream from a function.
type upstreamFunc func(*http.Request) (*http.Response, error)

func (f upstreamFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// echo answers with what the request carried: its stdin offset header, then its whole body.
func echo(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	body := r.Header.Get(proxyproto.StdinOffsetHeader) + "|" + string(b)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/vnd.docker.raw-stream"}},
		Body: io.NopCloser(strings.NewReader(body))}, nil
}

// serve runs h behind a local HTTP/1.1 server, as localproxy does, and returns its address.
func serve(t *testing.T, h *Handler) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, prefix, err := Match(r)
		if err != nil || !ok {
			http.Error(w, "not a hijack", http.StatusBadRequest)
			return
		}
		h.Serve(w, r, prefix)
	}))
	t.Cleanup(func() { h.Close(); srv.Close() })
	return srv.Listener.Addr().String()
}

// session dials addr, sends the request head and body, then stdin and a half-close, and returns everything read.
func session(t *testing.T, addr, head, body, stdin string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if body != "" {
		head += "Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"+body+stdin); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read: %v (got %q)", err, out)
	}
	return string(out)
}

func TestServe(t *testing.T) {
	tests := []struct {
		name                string
		up                  upstreamFunc
		head, body, stdin   string
		wantStatus, wantOut string
	}{
		{name: "attach with upgrade", up: echo,
			head:       "POST /v1.50/containers/web/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n",
			stdin:      "hello",
			wantStatus: "HTTP/1.1 101 UPGRADED", wantOut: "0|hello"},
		{name: "exec start without upgrade", up: echo,
			head: "POST /v1.50/exec/abc/start HTTP/1.1\r\nHost: docker\r\n", body: `{"Tty":true}`, stdin: "ls\n",
			wantStatus: "HTTP/1.1 200 OK", wantOut: `12|{"Tty":true}ls` + "\n"},
		{name: "an upstream error is relayed",
			up: func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{"Content-Type": {"application/json"}},
					Body: io.NopCloser(strings.NewReader(`{"message":"No such container: web"}`))}, nil
			},
			head:       "POST /v1.50/containers/web/attach HTTP/1.1\r\nHost: docker\r\n",
			wantStatus: "HTTP/1.1 404 Not Found", wantOut: `{"message":"No such container: web"}`},
		{name: "an unreachable control plane is a 502",
			up:         func(r *http.Request) (*http.Response, error) { return nil, errors.New("dial: refused") },
			head:       "POST /v1.50/containers/web/attach HTTP/1.1\r\nHost: docker\r\n",
			wantStatus: "HTTP/1.1 502 Bad Gateway", wantOut: "dial: refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandler(tt.up, func(path, q string) string { return "https://control-plane.example" + path + "?" + q }, nil)
			out := session(t, serve(t, h), tt.head, tt.body, tt.stdin)
			if !strings.HasPrefix(out, tt.wantStatus) {
				t.Fatalf("answer %q; want it to start with %q", out, tt.wantStatus)
			}
			if _, got, _ := strings.Cut(out, "\r\n\r\n"); !strings.Contains(got, tt.wantOut) {
				t.Errorf("body %q; want %q in it", got, tt.wantOut)
			}
		})
	}
}

// Close ends the hijacked streams still open and waits for them.
func TestCloseEndsStreams(t *testing.T) {
	entered := make(chan struct{})
	up := upstreamFunc(func(r *http.Request) (*http.Response, error) {
		close(entered)
		<-r.Context().Done() // a control plane that never answers
		return nil, r.Context().Err()
	})
	h := NewHandler(up, func(path, q string) string { return "https://control-plane.example" + path }, nil)
	addr := serve(t, h)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /containers/web/attach HTTP/1.1\r\nHost: docker\r\n\r\n")
	<-entered
	done := make(chan struct{})
	go func() { h.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the open stream")
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Error("the client's connection stayed open after Close")
		}
	}
}
