package agentlink

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/mount"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/dockersock"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/linkproto"
)

// recordTable is the store's GetContainer over a map.
type recordTable map[string]*containers.Container

func (r recordTable) GetContainer(_ context.Context, id string) (*containers.Container, error) {
	if c, ok := r[id]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
}

// whoAmI answers who a request acts as, and upgrades POST /echo as the Docker API upgrades attach: 101, then every
// byte read comes back upper-cased, and the client's half-close ends the output.
func whoAmI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		p, _ := identity.FromContext(r.Context())
		fmt.Fprintf(w, "%s admin=%v", p.Email, p.Admin)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		buf.Flush()
		b, _ := io.ReadAll(buf)
		conn.Write([]byte(strings.ToUpper(string(b))))
		conn.(interface{ CloseWrite() error }).CloseWrite()
	})
	return mux
}

// unixClient is an HTTP client of the socket at path.
func unixClient(path string) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
}

// A container created with the Docker socket gets its owner's API (never an admin's) through the socket its agent
// serves, upgrades included; a container without it gets none, though its agent serves the socket and asks.
func TestDockerSocketServesOnlyGrantedContainers(t *testing.T) {
	granted, plain := uniqueID(t)+"g", uniqueID(t)+"p"
	records := recordTable{
		granted: {ID: granted, Owner: "alice@example.com", Mounts: []containers.Mount{{Type: mount.TypeBind, Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock"}}},
		plain:   {ID: plain, Owner: "bob@example.com"},
	}
	api := dockersock.New(dockersock.Options{Records: records, Handler: whoAmI(),
		Authorize: func(email string) (identity.Principal, error) {
			return identity.Principal{Email: email, Admin: true}, nil
		}})
	t.Cleanup(func() { api.Close() })
	e := newEnvOverlay(t, false, nil, nil, func(e *env) { e.dockerAPI = api })

	dir := t.TempDir()
	grantedSock := filepath.Join(dir, "granted", "var", "run", "docker.sock") // parents made by the agent
	plainSock := filepath.Join(dir, "plain.sock")
	e.startAgent(granted, e.container(granted, ""), []string{linkproto.EnvDockerSocket + "=" + grantedSock}, "sleep", "60")
	plainSecret := e.container(plain, "")
	e.startAgent(plain, plainSecret, []string{linkproto.EnvDockerSocket + "=" + plainSock}, "sleep", "60")
	e.waitConnected(granted)
	e.waitConnected(plain)

	fi, err := os.Stat(grantedSock)
	if err != nil {
		t.Fatalf("the agent made no socket: %v", err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v, want a socket usable by every user of the container (0666)", fi.Mode())
	}

	// The owner's identity, not an admin's, on every request of a kept-alive connection.
	c := unixClient(grantedSock)
	for i := 0; i < 3; i++ {
		resp, err := c.Get("http://docker/whoami")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "alice@example.com admin=false" {
			t.Fatalf("whoami = %d %q", resp.StatusCode, b)
		}
	}

	// An upgraded connection, as docker attach and exec use it: both directions, and half-closes both ways.
	conn, err := net.Dial("unix", grantedSock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprint(conn, "POST /echo HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	conn.Write([]byte("hello through the socket"))
	conn.(*net.UnixConn).CloseWrite()
	got, err := io.ReadAll(br)
	if err != nil || string(got) != "HELLO THROUGH THE SOCKET" {
		t.Fatalf("upgraded stream read %q, %v", got, err)
	}

	// No grant: the agent's stream is refused and the client is told so, with nothing served.
	resp, err = unixClient(plainSock).Get("http://docker/whoami")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "no Docker API") || strings.Contains(string(b), "bob@") {
		t.Fatalf("a container without the mount got %d %s", resp.StatusCode, b)
	}
	// The same when a (compromised) agent, with its container's valid credentials, opens the stream itself.
	rogue := uniqueID(t) + "r"
	records[rogue] = &containers.Container{ID: rogue, Owner: "carol@example.com"}
	st, f := dialSpecAs(t, e, rogue, e.container(rogue, ""), linkproto.Dial{DockerAPI: true})
	defer st.CloseSend()
	if f.Type != linkproto.FrameError {
		t.Fatalf("a stream of a container without the mount was answered frame %d", f.Type)
	}
}
