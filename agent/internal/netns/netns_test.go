package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// The test binary is the helper too, as the agent is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == HelperArg {
		code, msg := RunHelper(os.Args[2:])
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestWrapIsolatesFromTheNetwork(t *testing.T) {
	// Something listening on the host's loopback: outside the namespace it answers, inside it must not.
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
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`cat /proc/net/dev; id -u; id -g
if (exec 3<>/dev/tcp/127.0.0.1/%d) 2>/dev/null; then echo reached-host; else echo unreachable; fi`, port)
	cmd := exec.Command("bash", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1234, Gid: 5678, NoSetGroups: true}}
	if err := Wrap(cmd, self); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := string(out)
	var ifaces []string
	for _, l := range strings.Split(got, "\n") {
		if name, _, ok := strings.Cut(l, ":"); ok && !strings.Contains(l, "|") {
			ifaces = append(ifaces, strings.TrimSpace(name))
		}
	}
	if len(ifaces) != 1 || ifaces[0] != "lo" {
		t.Errorf("interfaces %q, want only lo:\n%s", ifaces, got)
	}
	if !strings.Contains(got, "\n1234\n5678\n") {
		t.Errorf("the process did not run as 1234:5678:\n%s", got)
	}
	if !strings.Contains(got, "unreachable") {
		t.Errorf("the process reached the host's loopback:\n%s", got)
	}
}

// The loopback interface inside is up: a server and a client in the namespace talk over 127.0.0.1.
func TestWrapLoopbackIsUp(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", `python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
c = socket.create_connection(s.getsockname(), timeout=2); print("loopback ok")
PY`)
	if err := Wrap(cmd, self); err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "loopback ok") {
		t.Fatalf("%v: %s", err, out)
	}
}

func TestWrapReportsAMissingCommand(t *testing.T) {
	cmd := exec.Command("/no/such/command")
	cmd.Err = nil // as if found: the helper's exec fails
	self, _ := os.Executable()
	if err := Wrap(cmd, self); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 127 || !strings.Contains(string(out), "/no/such/command") {
		t.Fatalf("%v: %s; want exit 127 naming the command", err, out)
	}
}
