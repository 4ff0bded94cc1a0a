package agentlink

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/runsock/runsock/linkproto"
)

// allowTable is an Overlay that allows the pairs it holds and records the ports agents report.
type allowTable struct {
	mu    sync.Mutex
	pairs map[[2]string]bool
	ports map[string][]int
}

func (a *allowTable) Linked(string)   {}
func (a *allowTable) Unlinked(string) {}
func (a *allowTable) Ports(id string, p []int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ports[id] = p
}
func (a *allowTable) Allowed(from, to string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pairs[[2]string{from, to}]
}

// keys are the fake callers' agent keys, bound on their first dial.
var (
	keysMu sync.Mutex
	keys   = map[string]string{}
)

// dialAs opens a relayed connection as the agent of caller would (linkproto.Dial on a Session stream) and returns
// the stream after the control plane's first answer.
func dialAs(t *testing.T, e *env, caller, secret, peer string, port int) (linkproto.ClientStream, *linkproto.Frame) {
	t.Helper()
	return dialSpecAs(t, e, caller, secret, linkproto.Dial{Ref: peer, Port: port})
}

// dialSpecAs opens a Session stream with spec as the agent of caller would.
func dialSpecAs(t *testing.T, e *env, caller, secret string, spec linkproto.Dial) (linkproto.ClientStream, *linkproto.Frame) {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(e.url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	keysMu.Lock()
	key, ok := keys[caller]
	if !ok {
		b := make([]byte, 32)
		rand.Read(b)
		key = base64.RawURLEncoding.EncodeToString(b)
		keys[caller] = key
	}
	keysMu.Unlock()
	kv := []string{linkproto.MDContainerID, caller, linkproto.MDExecution, "j-abc12", linkproto.MDKey, key}
	if !ok {
		kv = append(kv, linkproto.MDBootstrap, secret) // the first link binds the key; later ones prove it alone
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), kv...)
	st, err := linkproto.Open(ctx, cc, linkproto.MethodSession)
	if err != nil {
		t.Fatal(err)
	}
	meta := linkproto.EncodeMeta(spec)
	if err := st.Send(&linkproto.Frame{Type: linkproto.FrameSession, Code: linkproto.Window, Meta: meta}); err != nil {
		t.Fatal(err)
	}
	var f linkproto.Frame
	if err := st.Recv(&f); err != nil {
		t.Fatal(err)
	}
	return st, &f
}

func TestDialRelaysToThePeersPortWhenAllowed(t *testing.T) {
	allow := &allowTable{pairs: map[[2]string]bool{}, ports: map[string][]int{}}
	e := newEnvWith(t, allow)
	peer, caller, stranger := uniqueID(t), uniqueID(t)+"c", uniqueID(t)+"s"
	e.startAgent(peer, e.container(peer, ""), nil, "sleep", "60")
	e.waitConnected(peer)
	callerSecret, strangerSecret := e.container(caller, ""), e.container(stranger, "")
	allow.pairs[[2]string{caller, peer}] = true

	// "Inside the peer" (this machine, for the test agent), a server that answers what it reads, upper-cased.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write([]byte(strings.ToUpper(string(b))))
			}()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	// Not a peer: refused before anything moves.
	if _, f := dialAs(t, e, stranger, strangerSecret, peer, port); f.Type != linkproto.FrameError {
		t.Fatalf("a container not on the peer's networks got frame %d", f.Type)
	}
	st, f := dialAs(t, e, caller, callerSecret, peer, port)
	if f.Type != linkproto.FrameStarted {
		t.Fatalf("dial answered frame %d (%s)", f.Type, f.Meta)
	}
	st.Send(&linkproto.Frame{Type: linkproto.FrameData, Data: []byte("hello over the overlay")})
	st.Send(&linkproto.Frame{Type: linkproto.FrameClose})
	var got strings.Builder
	deadline := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case <-deadline:
			t.Fatalf("no result; got %q", got.String())
		default:
		}
		if err := st.Recv(f); err != nil {
			t.Fatalf("recv: %v (got %q)", err, got.String())
		}
		switch f.Type {
		case linkproto.FrameData:
			got.Write(f.Data)
		case linkproto.FrameResult:
			done = true
		}
	}
	if got.String() != "HELLO OVER THE OVERLAY" {
		t.Fatalf("relayed answer %q", got.String())
	}

	// A port nothing listens on: an error, not a hang.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln2.Addr().(*net.TCPAddr).Port
	ln2.Close()
	if _, f := dialAs(t, e, caller, callerSecret, peer, closed); f.Type != linkproto.FrameError {
		t.Fatalf("dial of a closed port answered frame %d", f.Type)
	}

	// The peer's agent reports its ports: its listening server is among them.
	waitForPorts := time.Now().Add(10 * time.Second)
	for {
		allow.mu.Lock()
		ports := allow.ports[peer]
		allow.mu.Unlock()
		found := false
		for _, p := range ports {
			found = found || p == port
		}
		// The test server listens on 127.0.0.1 only, which peers cannot reach on Docker: it is not reported. The
		// report itself is what this checks (any list, once).
		if ports != nil && !found {
			break
		}
		if time.Now().After(waitForPorts) {
			t.Fatalf("the peer's agent reported no ports (got %v)", ports)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
