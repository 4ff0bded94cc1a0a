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
	"sync"
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

// fakePorts is the control plane's record of one container's published ports (GET/POST PortsPath).
type fakePorts struct {
	mu      sync.Mutex
	ports   []publishedPort
	refuse  bool // answer POSTs 409
	posted  [][]assignment
	running bool
}

func (f *fakePorts) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodPost {
		var body struct {
			Execution string
			Ports     []assignment
		}
		if json.NewDecoder(r.Body).Decode(&body) != nil || body.Execution != "exec-1" {
			http.Error(w, `{"message":"bad body"}`, 400)
			return
		}
		f.posted = append(f.posted, body.Ports)
		if f.refuse {
			http.Error(w, `{"message":"already published"}`, 409)
			return
		}
		for _, a := range body.Ports {
			for i := range f.ports {
				if f.ports[i].Port == a.Port && f.ports[i].Index == a.Index && f.ports[i].HostPort == a.Previous {
					f.ports[i].HostPort = a.HostPort
				}
			}
		}
	}
	json.NewEncoder(w).Encode(published{Execution: "exec-1", Ports: f.ports})
}

// tunnelServer stands in for the control plane: the list shows id running with hostPort published, its ports are
// hostPort for 8080/tcp (and a UDP one), /events emits "die" when die is closed, and the tunnel route echoes
// "PORT:" + the uploaded bytes.
func tunnelServer(t *testing.T, id, hostPort string, die chan struct{}) *httptest.Server {
	return portsServer(t, id, &fakePorts{ports: []publishedPort{{Port: "53/udp", HostPort: "5353"}, {Port: "8080/tcp", HostPort: hostPort}}}, die)
}

func portsServer(t *testing.T, id string, fp *fakePorts, die chan struct{}) *httptest.Server {
	mux := http.NewServeMux()
	hostPort := func() string {
		fp.mu.Lock()
		defer fp.mu.Unlock()
		for _, p := range fp.ports {
			if p.Port == "8080/tcp" && p.HostPort != "" {
				return p.HostPort
			}
		}
		return "0"
	}
	mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"Id":%q,"State":{"Running":true}}`, id)
	})
	mux.HandleFunc("/runsock/v1/containers/{id}/ports", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != id {
			http.Error(w, `{"message":"No such container"}`, 404)
			return
		}
		fp.serve(w, r)
	})
	mux.HandleFunc("GET /containers/json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `[{"Id":%q,"Names":["/web"],"Ports":[{"PrivatePort":8080,"PublicPort":%s,"Type":"tcp"}]},`+
			`{"Id":%q,"Names":["/quiet"],"Ports":[]}]`, id, hostPort(), strings.Repeat("34", 32))
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

// dial sends msg through the published port and returns what came back.
func dial(t *testing.T, addr, msg string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, msg)
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A random host port ("" / "0" / -P) is chosen here, where it is bound, and reported to the control plane; one
// already assigned that this machine cannot bind is left alone; a report refused closes the listener.
func TestRandomHostPorts(t *testing.T) {
	t.Run("assigned", func(t *testing.T) {
		id := strings.Repeat("56", 32)
		fp := &fakePorts{ports: []publishedPort{{Port: "8080/tcp", Random: true}, {Port: "9090/tcp", Index: 0, HostPort: freePort(t)}}}
		up, _ := upstream.New(portsServer(t, id, fp, make(chan struct{})).URL, "", staticToken("tok"))
		p := New(up, nil)
		defer p.Close()
		p.Created(id, "web", []byte(`{"HostConfig":{"PortBindings":{"8080/tcp":[{"HostPort":"0"}]}}}`))
		p.Started(context.Background(), "web")
		got := p.Published(id)
		if len(got) != 2 || len(fp.posted) != 1 || len(fp.posted[0]) != 1 {
			t.Fatalf("published %v, posted %+v; want 2 listeners and one assignment", got, fp.posted)
		}
		a := fp.posted[0][0]
		if a.Port != "8080/tcp" || a.Previous != "" || a.HostPort == "" || a.HostPort == "0" {
			t.Fatalf("assignment %+v; want 8080/tcp from unassigned to a real port", a)
		}
		if !strings.Contains(strings.Join(got, " "), "127.0.0.1:"+a.HostPort) {
			t.Fatalf("published %v; want the reported port %s among them", got, a.HostPort)
		}
		if b := dial(t, "127.0.0.1:"+a.HostPort, "hi"); b != "8080:hi" {
			t.Fatalf("through the random port: %q", b)
		}
	})
	t.Run("taken here: skipped, not moved", func(t *testing.T) {
		id := strings.Repeat("78", 32)
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer taken.Close()
		_, old, _ := net.SplitHostPort(taken.Addr().String())
		fp := &fakePorts{ports: []publishedPort{{Port: "8080/tcp", Random: true, HostPort: old}}}
		up, _ := upstream.New(portsServer(t, id, fp, make(chan struct{})).URL, "", staticToken("tok"))
		p := New(up, nil)
		defer p.Close()
		if err := p.Reopen(context.Background()); err != nil { // e.g. the user's other laptop starting its proxy
			t.Fatal(err)
		}
		if len(fp.posted) != 0 || len(p.Published(id)) != 0 {
			t.Fatalf("posted %+v, published %v; want the assigned port left to the proxy that holds it", fp.posted, p.Published(id))
		}
	})
	t.Run("refused", func(t *testing.T) {
		id := strings.Repeat("9a", 32)
		fp := &fakePorts{refuse: true, ports: []publishedPort{{Port: "8080/tcp", Random: true}}}
		up, _ := upstream.New(portsServer(t, id, fp, make(chan struct{})).URL, "", staticToken("tok"))
		p := New(up, nil)
		defer p.Close()
		p.Created(id, "web", []byte(`{"HostConfig":{"PublishAllPorts":true}}`))
		p.Started(context.Background(), id)
		if got := p.Published(id); len(got) != 0 || len(fp.posted) != 1 {
			t.Fatalf("published %v after a refused assignment (posted %+v); want nothing", got, fp.posted)
		}
		if c, err := net.Dial("tcp", "127.0.0.1:"+fp.posted[0][0].HostPort); err == nil {
			c.Close()
			t.Fatal("the refused port still accepts")
		}
	})
}

// A restart through this proxy publishes the new run's ports even when the old run's die has not been seen yet: the
// control plane forgot the old random port at the new start, so a new one is picked and reported.
func TestRestartRepublishes(t *testing.T) {
	id := strings.Repeat("bc", 32)
	fp := &fakePorts{ports: []publishedPort{{Port: "8080/tcp", Random: true}}}
	up, _ := upstream.New(portsServer(t, id, fp, make(chan struct{})).URL, "", staticToken("tok"))
	p := New(up, nil)
	defer p.Close()
	p.Created(id, "web", []byte(`{"HostConfig":{"PublishAllPorts":true}}`))
	p.Started(context.Background(), "web")
	fp.mu.Lock()
	fp.ports[0].HostPort = "" // the restart's new start
	fp.mu.Unlock()
	p.Started(context.Background(), "web")
	if len(fp.posted) != 2 {
		t.Fatalf("posted %+v; want an assignment for each run", fp.posted)
	}
	port := fp.posted[1][0].HostPort
	if got := p.Published(id); len(got) != 1 || got[0] != "127.0.0.1:"+port {
		t.Fatalf("published %v; want only the new run's 127.0.0.1:%s", got, port)
	}
	if b := dial(t, "127.0.0.1:"+port, "again"); b != "8080:again" {
		t.Fatalf("through the new run's port: %q", b)
	}
}
