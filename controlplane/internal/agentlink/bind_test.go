package agentlink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/linkproto"
)

// openControl dials the Hub as an agent would, with md, says hello on a control stream and returns the answer.
func (e *env) openControl(md ...string) error {
	e.t.Helper()
	u, err := url.Parse(e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	creds := insecure.NewCredentials()
	if u.Scheme == "https" {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(e.caPEM))
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: u.Hostname()})
	}
	cc, err := grpc.NewClient("passthrough:///"+u.Host, grpc.WithTransportCredentials(creds))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := linkproto.Open(metadata.AppendToOutgoingContext(ctx, md...), cc, linkproto.MethodControl)
	if err != nil {
		return err
	}
	_ = st.Send(&linkproto.Frame{Type: linkproto.FrameHello, Meta: linkproto.EncodeMeta(linkproto.Hello{})})
	var f linkproto.Frame
	return st.Recv(&f)
}

const otherKey = "a-key-of-32-random-bytes-base64-encoded-00000"

// The bootstrap in the environment (which project viewers can read) binds the agent's own key on its first link and
// is spent: opened again with another key it is refused, while the agent keeps its link and its sessions.
func TestBootstrapBindsTheAgentsKeyOnce(t *testing.T) {
	e := newEnv(t, true, nil)
	id := uniqueID(t)
	bootstrap := e.container(id, "")
	e.startAgent(id, bootstrap, nil, "sleep", "30")
	e.waitConnected(id)

	e.creds.mu.Lock()
	cr := e.creds.m[id]
	e.creds.mu.Unlock()
	if len(cr.KeyHash) == 0 || cr.BootstrapHash != nil || matches(cr.KeyHash, bootstrap) {
		t.Fatalf("after the first link the credentials are %+v", cr)
	}
	for _, tc := range []struct{ name, key string }{
		{"another key", otherKey},
		{"the bootstrap as the key", bootstrap},
	} {
		err := e.openControl(linkproto.MDContainerID, id, linkproto.MDExecution, "j-abc12",
			linkproto.MDKey, tc.key, linkproto.MDBootstrap, bootstrap)
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("a second link with the bootstrap and %s: %v", tc.name, err)
		}
	}
	var out strings.Builder
	if code, err := e.hub.Exec(context.Background(), id, ExecSpec{Cmd: []string{"echo", "mine"}}, Streams{Stdout: &out}, nil); err != nil || code != 0 || out.String() != "mine\n" {
		t.Fatalf("exec through the real agent: %q %d %v", out.String(), code, err)
	}
}

// An agent is accepted only for the container's current execution: an orphan's (a start that lost, a run that was
// replaced) is refused even with the right bootstrap, and spends nothing.
func TestOtherExecutionsAgentIsRefused(t *testing.T) {
	e := newEnv(t, false, nil)
	id := uniqueID(t)
	bootstrap := e.container(id, "")
	e.startAgent(id, bootstrap, []string{"CLOUD_RUN_EXECUTION=j-orphn"}, "sleep", "30")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := e.hub.WaitConnected(ctx, id); err == nil {
		t.Fatal("the orphan execution's agent linked")
	}
	e.startAgent(id, bootstrap, nil, "sleep", "30")
	e.waitConnected(id)
}

// An exit report names its run, and once that run has ended no session reaches its link.
func TestExitReportsAndSessionsAreBoundToTheRun(t *testing.T) {
	e := newEnv(t, false, nil)
	id := uniqueID(t)
	p := e.startAgent(id, e.container(id, ""), nil, "sh", "-c", "sleep 1; exit 5")
	e.waitConnected(id)
	got := <-e.exits
	if got.id != id || got.code != 5 || got.execution != testExecution {
		t.Fatalf("exit report %+v", got)
	}
	p.wait(t, 10*time.Second)

	id2 := uniqueID(t)
	e.startAgent(id2, e.container(id2, ""), nil, "sleep", "30")
	e.waitConnected(id2)
	e.hub.EndRun(id2, "j-other") // another run's end leaves this one alone
	if !e.hub.Connected(id2) {
		t.Fatal("another run's end dropped the link")
	}
	e.hub.EndRun(id2, "j-abc12")
	_, err := e.hub.Exec(context.Background(), id2, ExecSpec{Cmd: []string{"true"}}, Streams{}, nil)
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "its execution has ended") {
		t.Fatalf("exec in an ended run: %v", err)
	}
}

// The agent of a run whose exit is already recorded (its ack lost to a control-plane restart) redials with its key:
// it delivers its exit and has it acknowledged, so it does not linger, but it is nobody's link for sessions.
func TestEndedRunsAgentFinishesWithoutSessions(t *testing.T) {
	e := newEnv(t, false, nil)
	id := uniqueID(t)
	p := e.startAgent(id, e.container(id, ""), nil, "sh", "-c", "echo started; sleep 3; exit 4")
	e.waitConnected(id)
	e.waitOutput(id, "started\n")
	addr := e.stop()
	e.creds.mu.Lock()
	cr := e.creds.m[id]
	cr.Ended = true // the record says the run has ended
	e.creds.m[id] = cr
	e.creds.mu.Unlock()
	e.start(false, addr)
	select {
	case got := <-e.exits:
		if got.id != id || got.code != 4 {
			t.Fatalf("exit report %+v", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit report; agent stderr: %s", p.stderr.String())
	}
	if code := p.wait(t, 20*time.Second); code != 4 {
		t.Fatalf("agent exit %d", code)
	}
	if e.hub.Connected(id) {
		t.Fatal("an ended run's agent became the container's link")
	}
}
