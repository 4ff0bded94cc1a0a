package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// stack is the local stack's endpoints, from .dev/env.
var stack struct {
	dockerHost   string
	arURL        string
	controlPlane string
	devCA        string
	issuer       string
	root         string
}

func TestMain(m *testing.M) {
	missing := []string{}
	get := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			missing = append(missing, k)
		}
		return v
	}
	stack.dockerHost = get("DOCKER_HOST")
	stack.arURL = get("RUNSOCK_AR_URL")
	stack.controlPlane = get("RUNSOCK_CONTROL_PLANE_URL")
	stack.devCA = get("RUNSOCK_DEV_CA")
	stack.issuer = get("GCPSIM_ISSUER")
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: %s not set: run these tests through scripts/test (or source .dev/env after scripts/dev)\n", strings.Join(missing, ", "))
		os.Exit(1)
	}
	_, file, _, _ := runtime.Caller(0)
	stack.root = filepath.Join(filepath.Dir(file), "..", "..")
	os.Exit(m.Run())
}

// result is what a docker command printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
}

// dockerCmd builds a docker CLI command pointed at host with an empty client config.
func dockerCmd(ctx context.Context, t testing.TB, host string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+dockerConfigDir(t), "DOCKER_CLI_HINTS=false")
	return cmd
}

var dockerConfig string

func dockerConfigDir(t testing.TB) string {
	if dockerConfig == "" && os.Getenv("DOCKER_CONFIG") != "" {
		// An explicit client config (e.g. one carrying the identity token header, to reach the control plane
		// without localproxy) is honoured.
		dockerConfig = os.Getenv("DOCKER_CONFIG")
	}
	if dockerConfig == "" {
		d, err := os.MkdirTemp("", "runsock-e2e-docker-config")
		if err != nil {
			t.Fatal(err)
		}
		dockerConfig = d
	}
	return dockerConfig
}

// docker runs the docker CLI against runsock with a two-minute limit.
func docker(t testing.TB, args ...string) result {
	t.Helper()
	return dockerIn(t, "", args...)
}

// dockerIn runs the docker CLI with stdin.
func dockerIn(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	return dockerAs(t, stack.dockerHost, stdin, args...)
}

func dockerAs(t testing.TB, host, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := dockerCmd(ctx, t, host, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else {
			t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
		}
	}
	return r
}

// mustDocker runs the docker CLI and fails the test unless it exits 0.
func mustDocker(t testing.TB, args ...string) string {
	t.Helper()
	r := docker(t, args...)
	if r.code != 0 {
		t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// uniqueName is a container name no other test uses.
func uniqueName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// removeOnCleanup force-removes the named container when the test ends.
func removeOnCleanup(t *testing.T, name string) {
	t.Cleanup(func() { docker(t, "rm", "-f", name) })
}
