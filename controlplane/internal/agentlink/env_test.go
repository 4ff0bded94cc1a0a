package agentlink

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc"

	"github.com/runsock/runsock/controlplane/internal/livelogs"
)

// agentBin is the real agent, built once for the package's tests.
var agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runsock-agent-test")
	if err != nil {
		panic(err)
	}
	agentBin = filepath.Join(dir, "agent")
	build := exec.Command("go", "build", "-o", agentBin, "github.com/runsock/runsock/agent/cmd/agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build agent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// credStore is the test's CredentialStore: agentsessions.Credentials over the container records plays this part in
// the product.
type credStore struct {
	mu sync.Mutex
	m  map[string]AgentCredentials
}

func (c *credStore) AgentCredentials(_ context.Context, id string, _ bool) (AgentCredentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cr, ok := c.m[id]
	if !ok {
		return AgentCredentials{}, errors.New("no such container")
	}
	return cr, nil
}

func (c *credStore) ClaimBootstrap(_ context.Context, id, execution string, bootstrapHash, keyHash []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cr, ok := c.m[id]
	if !ok || cr.Execution != execution || len(cr.KeyHash) != 0 || !bytes.Equal(cr.BootstrapHash, bootstrapHash) {
		return errors.New("bootstrap spent or wrong")
	}
	cr.KeyHash, cr.BootstrapHash = keyHash, nil
	c.m[id] = cr
	return nil
}

// testExecution is the execution every test container runs in unless a test says otherwise; agents are told its short
// name, as Cloud Run's CLOUD_RUN_EXECUTION does.
const testExecution = "projects/p/locations/l/jobs/j/executions/j-abc12"

// tokenTable verifies tokens by table: the identity engineer's OIDC verifier plays this part in the product.
type tokenTable map[string]string

func (t tokenTable) Verify(_ context.Context, token string) (string, error) {
	if e, ok := t[token]; ok {
		return e, nil
	}
	return "", errors.New("bad token")
}

type env struct {
	t      *testing.T
	fs     *firestore.Client
	logs   *livelogs.Store
	creds  *credStore
	tokens TokenVerifier
	hub    *Hub
	srv    *httptest.Server
	url    string
	caPEM  string
	exits  chan exitReport
	// overlay is the Hub's Overlay (nil: none), set before start.
	overlay Overlay
	// dockerAPI is the Hub's DockerAPI (nil: none), set before start.
	dockerAPI DockerAPI
}

type exitReport struct {
	id        string
	code      int
	execution string
}

// newEnv starts a Hub on an httptest HTTP/2 server (TLS, or h2c when tls is false) and Firestore emulator storage.
func newEnv(t *testing.T, tls bool, tokens TokenVerifier) *env {
	t.Helper()
	return newEnvOverlay(t, tls, tokens, nil)
}

// newEnvWith is an h2c env whose Hub has overlay.
func newEnvWith(t *testing.T, overlay Overlay) *env {
	t.Helper()
	return newEnvOverlay(t, false, nil, overlay)
}

func newEnvOverlay(t *testing.T, tls bool, tokens TokenVerifier, overlay Overlay, set ...func(*env)) *env {
	t.Helper()
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		t.Setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:18081")
	}
	fs, err := firestore.NewClient(context.Background(), fmt.Sprintf("agentlink-test-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	e := &env{t: t, fs: fs, logs: livelogs.New(fs, livelogs.Options{Poll: 500 * time.Millisecond}),
		creds: &credStore{m: map[string]AgentCredentials{}}, tokens: tokens, exits: make(chan exitReport, 16), overlay: overlay}
	for _, f := range set {
		f(e)
	}
	e.start(tls, "")
	return e
}

// start (re)starts the control plane side: a fresh Hub on a fresh server, on addr when given.
func (e *env) start(tls bool, addr string) {
	reports := make(chan ExitReport)
	e.hub = New(Options{Credentials: e.creds, Tokens: e.tokens, Logs: e.logs, Exits: reports, Overlay: e.overlay, DockerAPI: e.dockerAPI})
	stop := make(chan struct{})
	e.t.Cleanup(func() { close(stop) })
	go func() {
		for {
			select {
			case r := <-reports:
				e.exits <- exitReport{r.ContainerID, r.Code, r.Execution}
				r.Recorded()
			case <-stop:
				return
			}
		}
	}()
	gs := grpc.NewServer()
	e.hub.Register(gs)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			gs.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
	srv := httptest.NewUnstartedServer(handler)
	if addr != "" {
		var ln net.Listener
		var err error
		for i := 0; i < 50; i++ {
			if ln, err = net.Listen("tcp", addr); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			e.t.Fatal(err)
		}
		srv.Listener.Close()
		srv.Listener = ln
	}
	if tls {
		srv.EnableHTTP2 = true
		srv.StartTLS()
		e.url = srv.URL
		e.caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	} else {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
		e.url = srv.URL
	}
	e.srv = srv
	e.t.Cleanup(srv.Close)
}

// stop kills the control plane side abruptly: every connection is cut mid-stream.
func (e *env) stop() string {
	addr := e.srv.Listener.Addr().String()
	e.srv.CloseClientConnections()
	e.srv.Close()
	return addr
}

// container registers a container's credentials and returns its secret.
func (e *env) container(id, serviceAccount string) string {
	secret, hash, err := IssueSecret()
	if err != nil {
		e.t.Fatal(err)
	}
	e.creds.mu.Lock()
	e.creds.m[id] = AgentCredentials{Execution: testExecution, Run: "run-1", BootstrapHash: hash, ServiceAccount: serviceAccount}
	e.creds.mu.Unlock()
	return secret
}

type agentProc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan int
}

// startAgent runs the real agent as a child process: agent -- args...
func (e *env) startAgent(id, secret string, extraEnv []string, args ...string) *agentProc {
	e.t.Helper()
	p := &agentProc{done: make(chan int, 1)}
	p.cmd = exec.Command(agentBin, append([]string{"--"}, args...)...)
	p.cmd.Env = append(os.Environ(),
		"RUNSOCK_AGENT_URL="+e.url, "RUNSOCK_AGENT_CA="+e.caPEM,
		"RUNSOCK_CONTAINER_ID="+id, "RUNSOCK_AGENT_BOOTSTRAP="+secret, "RUNSOCK_RUN=run-1", "CLOUD_RUN_EXECUTION=j-abc12")
	p.cmd.Env = append(p.cmd.Env, extraEnv...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.done <- p.cmd.ProcessState.ExitCode()
	}()
	e.t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	})
	return p
}

func (p *agentProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case code := <-p.done:
		return code
	case <-time.After(d):
		t.Fatalf("agent did not exit within %v; stderr: %s", d, p.stderr.String())
		return -1
	}
}

func (e *env) waitConnected(id string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := e.hub.WaitConnected(ctx, id); err != nil {
		e.t.Fatal(err)
	}
}

// waitOutput polls the persisted output until it contains want.
func (e *env) waitOutput(id, want string) string {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		chunks, err := e.logs.Read(context.Background(), id, livelogs.ReadOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		var b strings.Builder
		for _, c := range chunks {
			b.Write(c.Data)
		}
		if strings.Contains(b.String(), want) {
			return b.String()
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("output never contained %q; have %q", want, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func uniqueID(t *testing.T) string {
	return fmt.Sprintf("%s-%d", strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-"), time.Now().UnixNano())
}
