package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runsock/runsock/integration/testimages"
)

// The machine's Docker Engine (gcpsim's, GCPSIM_DOCKER_HOST) is the reference for Docker's behaviour: tests that
// settle what Docker does run the same steps on it and on runsock. It is reached only through GCPSIM_DOCKER_HOST,
// never DOCKER_HOST (runsock).

var reference struct {
	once sync.Once
	host string
	err  error
}

// referenceHost returns the reference engine's host with the test images (alpine, busybox, httpd) loaded, as
// runsock's tests see them.
func referenceHost(t *testing.T) string {
	t.Helper()
	reference.once.Do(func() {
		reference.host = os.Getenv("GCPSIM_DOCKER_HOST")
		if reference.host == "" {
			reference.err = errString("GCPSIM_DOCKER_HOST not set: source .dev/env")
			return
		}
		dir, err := os.MkdirTemp("", "runsock-e2e-reference")
		if err != nil {
			reference.err = err
			return
		}
		defer os.RemoveAll(dir)
		paths, err := testimages.Save(dir)
		if err != nil {
			reference.err = err
			return
		}
		for _, p := range paths {
			if r := dockerAs(t, reference.host, "", "load", "-q", "-i", p); r.code != 0 {
				reference.err = errString("load " + p + " into the reference engine: " + r.String())
				return
			}
		}
	})
	if reference.err != nil {
		t.Fatal(reference.err)
	}
	return reference.host
}

type errString string

func (e errString) Error() string { return string(e) }

// engine is one Docker API to run the same steps on: runsock, or the reference engine.
type engine struct {
	name string
	host string
}

func (e engine) docker(t *testing.T, args ...string) result {
	t.Helper()
	return dockerAs(t, e.host, "", args...)
}

func (e engine) must(t *testing.T, args ...string) string {
	t.Helper()
	r := e.docker(t, args...)
	if r.code != 0 {
		t.Fatalf("%s: docker %s: %s", e.name, strings.Join(args, " "), r)
	}
	return r.stdout
}

// api sends one request to the engine's API (no version prefix) and returns the status and body.
func (e engine) api(t *testing.T, method, path string) (int, string) {
	t.Helper()
	sock := strings.TrimPrefix(e.host, "unix://")
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	req, err := http.NewRequest(method, "http://docker"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", e.name, method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// run starts a detached container and removes it at the end of the test; on runsock it waits until the agent
// answers an exec (sessions go through it).
func (e engine) run(t *testing.T, prefix string, args ...string) string {
	t.Helper()
	name := uniqueName(prefix)
	t.Cleanup(func() { e.docker(t, "rm", "-f", name) })
	e.must(t, append([]string{"run", "-d", "--name", name}, args...)...)
	if e.host == stack.dockerHost {
		waitFor(t, 60*time.Second, "the agent of "+name, func() bool { return e.docker(t, "exec", name, "true").code == 0 })
	}
	return name
}

// waitLogs waits until the container's output has want.
func (e engine) waitLogs(t *testing.T, name, want string) {
	t.Helper()
	waitFor(t, 60*time.Second, want+" in the logs of "+name, func() bool {
		return strings.Contains(e.docker(t, "logs", name).stdout, want)
	})
}

// engines are runsock and the reference engine, for tests that run the same steps on both.
func engines(t *testing.T) []engine {
	return []engine{{"runsock", stack.dockerHost}, {"docker", referenceHost(t)}}
}
