package dockersock

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/linkproto"
)

// refusingLink is a link whose control plane refuses every Docker API stream, as it does for a container without
// the mount.
type refusingLink struct{ err error }

func (l refusingLink) DialDockerAPI(context.Context, time.Duration) (linkproto.FrameStream, func(), error) {
	return nil, nil, l.err
}

func get(t *testing.T, sock string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://docker/v1.50/containers/json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The socket is made where the owner asked (parents too, a stale socket replaced, usable by every user); a path
// held by something else is left alone; a refused connection gets Docker's error shape with the reason.
func TestSocketsAndRefusals(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, "var", "run", "docker.sock")
	stale := filepath.Join(dir, "stale.sock")
	old, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	old.(*net.UnixListener).SetUnlinkOnClose(false)
	old.Close()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep"), 0o644)

	s := Listen(Options{Paths: []string{deep, stale, file}, Link: refusingLink{&linkproto.Error{Kind: linkproto.ErrKindPermission, Message: "no mount"}}})
	defer s.Close()
	for _, p := range []string{deep, stale} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
			t.Errorf("%s: %v %v, want a 0666 socket", p, fi, err)
		}
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Errorf("a file in the way was changed: %q", b)
	}
	status, body := get(t, deep)
	if status != http.StatusForbidden || !strings.Contains(body, `"message":"runsock: this container has no Docker API: no mount"`) {
		t.Errorf("refused connection: %d %s", status, body)
	}

	s2 := Listen(Options{Paths: []string{filepath.Join(dir, "nolink.sock")}, Link: refusingLink{context.DeadlineExceeded}})
	defer s2.Close()
	if status, body := get(t, filepath.Join(dir, "nolink.sock")); status != http.StatusServiceUnavailable || !strings.Contains(body, "not reachable") {
		t.Errorf("no link: %d %s", status, body)
	}
}
