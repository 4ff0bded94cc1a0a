package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startLocalProxy runs another localproxy for user email and returns its DOCKER_HOST.
func startLocalProxy(t *testing.T, email string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	token := fmt.Sprintf("curl -fsS '%s/gcpsim/v1/idtoken?email=%s&audience=%s'", stack.issuer, email, stack.controlPlane)
	cmd := exec.Command(filepath.Join(stack.root, ".dev", "bin", "localproxy"),
		"--socket", sock, "--url", stack.controlPlane, "--ca-file", stack.devCA, "--token-command", token)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("localproxy (%s) log:\n%s", email, logs.String())
		}
	})
	waitFor(t, 20*time.Second, "localproxy socket", func() bool { _, err := os.Stat(sock); return err == nil })
	return "unix://" + sock
}

// Two people on one control plane each create a container named db and see only their own.
func TestUsersSeeOnlyTheirOwnContainers(t *testing.T) {
	alice := startLocalProxy(t, uniqueName("alice")+"@example.com")
	bob := startLocalProxy(t, uniqueName("bob")+"@example.com")
	as := func(host string, args ...string) result { return dockerAs(t, host, "", args...) }
	for _, u := range []struct{ host, word string }{{alice, "alice"}, {bob, "bob"}} {
		if r := as(u.host, "run", "-d", "--name", "db", "alpine", "sh", "-c", "echo i-am-"+u.word+"; sleep 600"); r.code != 0 {
			t.Fatalf("%s: run --name db: %s", u.word, r)
		}
		t.Cleanup(func() { as(u.host, "rm", "-f", "db") })
	}
	for _, u := range []struct{ host, word, other string }{{alice, "alice", "bob"}, {bob, "bob", "alice"}} {
		ps := as(u.host, "ps", "-a", "--format", "{{.Names}}")
		if strings.TrimSpace(ps.stdout) != "db" {
			t.Errorf("%s: ps -a lists %q, want only their db", u.word, ps.stdout)
		}
		waitFor(t, 60*time.Second, u.word+"'s logs", func() bool { return strings.Contains(as(u.host, "logs", "db").stdout, "i-am-"+u.word) })
		if logs := as(u.host, "logs", "db").stdout; strings.Contains(logs, "i-am-"+u.other) {
			t.Errorf("%s sees %s's logs: %q", u.word, u.other, logs)
		}
		id := strings.TrimSpace(as(u.host, "inspect", "--format", "{{.Id}}", "db").stdout)
		waitFor(t, 60*time.Second, u.word+"'s exec", func() bool {
			r := as(u.host, "exec", "db", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
			return r.code == 0 && strings.Contains(r.stdout, "i-am-"+u.word)
		})
		otherID := strings.TrimSpace(as(map[string]string{"alice": bob, "bob": alice}[u.word], "inspect", "--format", "{{.Id}}", "db").stdout)
		if r := as(u.host, "inspect", otherID); r.code == 0 || !strings.Contains(r.stderr, "No such") {
			t.Errorf("%s can inspect %s's container %s: %s", u.word, u.other, otherID, r)
		}
		if id == otherID {
			t.Fatalf("both users got the same container %s", id)
		}
	}
}

// -p HOSTPORT:CPORT: localproxy listens on the laptop while the container runs and tunnels to the container's port.
func TestPublishedPort(t *testing.T) {
	name := uniqueName("web")
	removeOnCleanup(t, name)
	mustDocker(t, "run", "-d", "--name", name, "-p", "18080:8080", stack.arURL+"/httpd:latest")
	client := &http.Client{Timeout: 5 * time.Second}
	var body string
	waitFor(t, 60*time.Second, "the page on localhost:18080", func() bool {
		resp, err := client.Get("http://127.0.0.1:18080/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if !strings.Contains(strings.ToLower(body), "runsock") {
		t.Errorf("page = %q", body)
	}
	if out := mustDocker(t, "port", name); !strings.Contains(out, "8080/tcp -> 127.0.0.1:18080") && !strings.Contains(out, "8080/tcp -> 0.0.0.0:18080") {
		t.Errorf("docker port = %q", out)
	}
	mustDocker(t, "stop", "-t", "1", name)
	waitFor(t, 20*time.Second, "the listener to close", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:18080/", nil)
		_, err := client.Do(req)
		return err != nil
	})
}
