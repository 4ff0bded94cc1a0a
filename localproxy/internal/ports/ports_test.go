package ports

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/localproxy/internal/upstream"
)

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
func (s staticToken) Invalidate()                           {}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// tunnelServer stands in for the control plane: the list shows id running with hostPort published, inspect reports hostPort for 8080/tcp, /events emits "die" when
// die is closed, and the tunnel route echoes "PORT:" + the uploaded bytes.
func tunnelServer(t *testing.T, id, hostPort string, die chan struct{}) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"Id":%q,"State":{"Running":true},"NetworkSettings":{"Ports":{"8080/tcp":[{"HostIp":"0.0.0.0","HostPort":%q}],"53/udp":[{"HostPort":"5353"}]}}}`, id, hostPort)
	})
	mux.HandleFunc("GET /containers/json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `[{"Id":%q,"Names":["/web"],"Ports":[{"PrivatePort":8080,"PublicPort":%s,"Type":"tcp"}]},`+
			`{"Id":%q,"Names":["/quiet"],"Ports":[]}]`, id, hostPort, strings.Repeat("34", 32))
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		var f map[string][]string
		json.Unmarshal([]byte(r.URL.Query().Get("filters")), &f)
		if len(f["container"]) != 1 || f["container"][0] != id {
			http.Error(w, "bad filter", 400)
			return
		}
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-die:
			fmt.Fprintf(w, `{"Type":"container","Action":"die","Actor":{"ID":%q}}`+"\n", id)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("POST /runsock/v1/containers/{id}/tunnel", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != id || r.Header.Get(upstream.TokenHeader) != "Bearer tok" {
			http.Error(w, "refused", 403)
			return
		}
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		io.WriteString(w, r.URL.Query().Get("port")+":")
		io.Copy(w, r.Body)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestPublishTunnelAndCloseOnDie(t *testing.T) {
	id := strings.Repeat("ab", 32)
	hostPort := freePort(t)
	die := make(chan struct{})
	up, err := upstream.New(tunnelServer(t, id, hostPort, die).URL, "", staticToken("tok"))
	if err != nil {
		t.Fatal(err)
	}
	p := New(up, nil)
	defer p.Close()

	p.Started(context.Background(), "other") // not created here: nothing opens
	p.Created(id, "web", []byte(`{"HostConfig":{"PortBindings":{"8080/tcp":[{"HostPort":"`+hostPort+`"}]}}}`))
	p.Created(strings.Repeat("cd", 32), "plain", []byte(`{"HostConfig":{}}`))
	p.Started(context.Background(), "web")

	if got := p.Published(id); len(got) != 1 || got[0] != "127.0.0.1:"+hostPort {
		t.Fatalf("published %v, want only 127.0.0.1:%s (udp skipped)", got, hostPort)
	}
	for i := 0; i < 2; i++ { // two connections, each its own tunnel
		conn, err := net.Dial("tcp", "127.0.0.1:"+hostPort)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET / %d", i)
		conn.(*net.TCPConn).CloseWrite()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(conn)
		conn.Close()
		if want := fmt.Sprintf("8080:GET / %d", i); err != nil || string(b) != want {
			t.Fatalf("tunnel %d read %q, %v; want %q", i, b, err, want)
		}
	}

	close(die)
	deadline := time.Now().Add(5 * time.Second)
	for len(p.Published(id)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.Published(id); len(got) != 0 {
		t.Fatalf("still published after die: %v", got)
	}
	if c, err := net.Dial("tcp", "127.0.0.1:"+hostPort); err == nil {
		c.Close()
		t.Fatal("listener still accepts after the container died")
	}
}

func TestCloseEndsEverything(t *testing.T) {
	id := strings.Repeat("ef", 32)
	hostPort := freePort(t)
	up, _ := upstream.New(tunnelServer(t, id, hostPort, make(chan struct{})).URL, "", staticToken("tok"))
	p := New(up, nil)
	p.Created(id, "", []byte(`{"HostConfig":{"PublishAllPorts":true}}`))
	p.Started(context.Background(), id[:12])
	if len(p.Published(id)) != 1 {
		t.Fatal("not published by ID prefix")
	}
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: goroutines left running")
	}
	if c, err := net.Dial("tcp", "127.0.0.1:"+hostPort); err == nil {
		c.Close()
		t.Fatal("listener open after Close")
	}
}

// A proxy that restarts publishes again the ports of its user's running containers.
func TestReopenAfterRestart(t *testing.T) {
	id := strings.Repeat("12", 32)
	hostPort := freePort(t)
	up, err := upstream.New(tunnelServer(t, id, hostPort, make(chan struct{})).URL, "", staticToken("tok"))
	if err != nil {
		t.Fatal(err)
	}
	p := New(up, nil)
	defer p.Close()
	if err := p.Reopen(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := p.Published(id); len(got) != 1 || got[0] != "127.0.0.1:"+hostPort {
		t.Fatalf("published after restart %v, want 127.0.0.1:%s", got, hostPort)
	}
	if got := p.Published(strings.Repeat("34", 32)); len(got) != 0 {
		t.Errorf("a container without published ports got listeners: %v", got)
	}
}
