package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"golang.org/x/net/websocket"
)

// onBoth runs args on runsock and on the reference engine.
func onBoth(t *testing.T, args ...string) (runsock, docker result) {
	t.Helper()
	return dockerAs(t, stack.dockerHost, "", args...), dockerAs(t, referenceHost(t), "", args...)
}

// runBoth starts the same long-running container, named name, on runsock and on the reference engine.
func runBoth(t *testing.T, name string, args ...string) {
	t.Helper()
	ref := referenceHost(t)
	t.Cleanup(func() {
		docker(t, "rm", "-f", name)
		dockerAs(t, ref, "", "rm", "-f", name)
	})
	for _, host := range []string{stack.dockerHost, ref} {
		all := append(append([]string{"run", "-d", "--name", name}, args...), "alpine", "sleep", "600")
		if r := dockerAs(t, host, "", all...); r.code != 0 {
			t.Fatalf("%s: docker %s: %s", host, strings.Join(all, " "), r)
		}
	}
	waitFor(t, 60*time.Second, "the agent of "+name, func() bool { return docker(t, "exec", name, "true").code == 0 })
}

// exec's user, groups and working directory, and the main process's groups, as Docker gives them: the same
// commands print the same on both engines, errors (status and message) included.
func TestExecUserGroupsAndWorkdirAsDocker(t *testing.T) {
	name := uniqueName("groups")
	runBoth(t, name, "--group-add", "1234", "--group-add", "99")
	for _, args := range [][]string{
		{"exec", name, "id"},
		{"exec", "-u", "nobody", name, "id"},
		{"exec", "-u", "1234", name, "id"},
		{"exec", "-u", "1234:5678", name, "id"},
		{"exec", "-u", "nobody:root", name, "id"},
		{"exec", "-w", "/nonexistent", name, "true"},
		{"exec", "-u", "nosuchuser", name, "true"},
		{"exec", "-w", "/tmp", name, "pwd"},
		{"run", "--rm", "--group-add", "1234", "--group-add", "99", "alpine", "id"},
		{"run", "--rm", "-u", "nobody", "--group-add", "1234", "alpine", "id"},
		{"run", "--rm", "alpine", "id"},
	} {
		got, want := onBoth(t, args...)
		if got != want {
			t.Errorf("docker %s\nrunsock: %s\nDocker:  %s", strings.Join(args, " "), got, want)
		}
	}
}

// sdk is a Go SDK client of host, negotiating the API version (the reference engine speaks an older one).
func sdk(t *testing.T, host string) *client.Client {
	t.Helper()
	c, err := client.New(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// execOutput creates an exec of cmd with createTTY, starts it with startTTY (and size), and returns its output
// as a client reads it: raw with startTTY, else taken apart with stdcopy (as docker-py and the SDK do).
func execOutput(ctx context.Context, t *testing.T, c *client.Client, name string, cmd []string, createTTY, startTTY bool, createSize, startSize *[2]uint) (string, error) {
	t.Helper()
	opts := client.ExecCreateOptions{Cmd: cmd, TTY: createTTY, AttachStdout: true, AttachStderr: true}
	if createSize != nil {
		opts.ConsoleSize = client.ConsoleSize{Height: createSize[0], Width: createSize[1]}
	}
	created, err := c.ExecCreate(ctx, name, opts)
	if err != nil {
		return "", err
	}
	start := client.ExecAttachOptions{TTY: startTTY}
	if startSize != nil {
		start.ConsoleSize = client.ConsoleSize{Height: startSize[0], Width: startSize[1]}
	}
	att, err := c.ExecAttach(ctx, created.ID, start)
	if err != nil {
		return "", err
	}
	defer att.Close()
	var out bytes.Buffer
	if startTTY {
		_, err = io.Copy(&out, att.Reader)
	} else {
		_, err = stdcopy.StdCopy(&out, &out, att.Reader)
	}
	return out.String(), err
}

// With a TTY, output printed the moment the exec starts arrives whole; the stream is raw or multiplexed as the
// start's Tty says, whatever the create's (docker-py starts with tty=False by default); ConsoleSize of the create,
// and of the start when it asks for a TTY, sizes the terminal.
func TestExecTTYStreamsAsDocker(t *testing.T) {
	name := uniqueName("exectty")
	runBoth(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, eng := range []struct{ name, host string }{{"runsock", stack.dockerHost}, {"Docker", referenceHost(t)}} {
		c := sdk(t, eng.host)
		for i := range 10 {
			for _, startTTY := range []bool{true, false} {
				want := fmt.Sprintf("first-bytes-%d\r\n", i)
				got, err := execOutput(ctx, t, c, name, []string{"echo", strings.TrimSpace(want)}, true, startTTY, nil, nil)
				if err != nil || got != want {
					t.Errorf("%s: exec -t echo, start Tty %v: %q, %v; want %q", eng.name, startTTY, got, err, want)
				}
			}
		}
		got, err := execOutput(ctx, t, c, name, []string{"echo", "plain"}, false, false, nil, nil)
		if err != nil || got != "plain\n" {
			t.Errorf("%s: exec echo without a TTY: %q, %v", eng.name, got, err)
		}
	}
	// ConsoleSize needs API 1.42, newer than the reference engine's: Docker's rule (moby's exec start router and
	// daemon: the start's size when the start asks for a TTY, else the create's) is checked on runsock alone.
	c := sdk(t, stack.dockerHost)
	for _, tt := range []struct {
		name                  string
		createSize, startSize *[2]uint
		startTTY              bool
		want                  string
	}{
		{"create's size", &[2]uint{33, 101}, nil, true, "33 101\r\n"},
		{"start's size wins", &[2]uint{33, 101}, &[2]uint{44, 55}, true, "44 55\r\n"},
	} {
		got, err := execOutput(ctx, t, c, name, []string{"stty", "size"}, true, tt.startTTY, tt.createSize, tt.startSize)
		if err != nil || got != tt.want {
			t.Errorf("%s: stty size = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	// A start without Tty ignores its ConsoleSize (the SDK will not send one: plain HTTP, as other clients may).
	created, err := c.ExecCreate(ctx, name, client.ExecCreateOptions{Cmd: []string{"stty", "size"}, TTY: true, AttachStdout: true,
		ConsoleSize: client.ConsoleSize{Height: 33, Width: 101}})
	if err != nil {
		t.Fatal(err)
	}
	code, body := apiPost(t, stack.dockerHost, "/exec/"+created.ID+"/start", `{"Tty":false,"ConsoleSize":[44,55]}`)
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, strings.NewReader(body)); code != http.StatusOK || err != nil || out.String() != "33 101\r\n" {
		t.Errorf("start without Tty, with a size: %d %q (%v); want the create's size, multiplexed", code, body, err)
	}
}

// apiPost posts a JSON body to host's unix socket and returns the status and the whole body.
func apiPost(t *testing.T, host, path, body string) (int, string) {
	t.Helper()
	sock := strings.TrimPrefix(host, "unix://")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 30 * time.Second}
	resp, err := hc.Post("http://docker"+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// apiCall sends one request to host's unix socket and returns the status and body.
func apiCall(t *testing.T, host, method, path string) (int, string) {
	t.Helper()
	sock := strings.TrimPrefix(host, "unix://")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 30 * time.Second}
	req, err := http.NewRequest(method, "http://docker"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// Resizes are validated with Docker's rules and words (moby's Uint32Value: missing, not a number, negative or past
// 2^32-1 is 400); resizing an exec that has ended is a conflict.
func TestResizeValidationAsDocker(t *testing.T) {
	name := runDetached(t, "resize", "sleep", "600")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := sdk(t, stack.dockerHost)
	running, err := c.ExecCreate(ctx, name, client.ExecCreateOptions{Cmd: []string{"sleep", "60"}, TTY: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecStart(ctx, running.ID, client.ExecStartOptions{Detach: true, TTY: true}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		query string
		code  int
		msg   string
	}{
		{"", 400, `invalid resize height "": invalid syntax`},
		{"h=10", 400, `invalid resize width "": invalid syntax`},
		{"h=x&w=10", 400, `invalid resize height "x": invalid syntax`},
		{"h=-1&w=10", 400, `invalid resize height "-1": value out of range`},
		{"h=10&w=4294967296", 400, `invalid resize width "4294967296": value out of range`},
		{"h=10&w=10", 200, ""},
		{"h=70000&w=10", 200, ""},
	} {
		for _, path := range []string{"/exec/" + running.ID + "/resize?", "/containers/" + name + "/resize?"} {
			if tt.code == 200 && strings.HasPrefix(path, "/containers/") {
				continue // the container has no TTY: only the validation is Docker's to compare
			}
			code, body := apiCall(t, stack.dockerHost, "POST", path+tt.query)
			if code != tt.code || (tt.msg != "" && body != `{"message":"`+strings.ReplaceAll(tt.msg, `"`, `\"`)+`"}`) {
				t.Errorf("POST %s%s: %d %s; want %d %q", path, tt.query, code, body, tt.code, tt.msg)
			}
		}
	}
	ended, err := c.ExecCreate(ctx, name, client.ExecCreateOptions{Cmd: []string{"true"}, TTY: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecStart(ctx, ended.ID, client.ExecStartOptions{Detach: true, TTY: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the exec to end", func() bool {
		in, err := c.ExecInspect(ctx, ended.ID, client.ExecInspectOptions{})
		return err == nil && !in.Running
	})
	if code, body := apiCall(t, stack.dockerHost, "POST", "/exec/"+ended.ID+"/resize?h=10&w=10"); code != http.StatusConflict {
		t.Errorf("resize of an ended exec: %d %s; want 409", code, body)
	}
}

// The Go SDK's attach (Connection: Upgrade, Upgrade: tcp) streams; a TTY attach's detach keys end it and leave the
// container running with its stdin open; invalid detach keys are refused as Docker refuses them.
func TestGoSDKAttachAndDetachKeys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := sdk(t, stack.dockerHost)
	name := uniqueName("sdkattach")
	removeOnCleanup(t, name)
	mustDocker(t, "run", "-d", "-it", "--name", name, "alpine", "sh")
	waitFor(t, 60*time.Second, "the agent of "+name, func() bool { return docker(t, "exec", name, "true").code == 0 })

	att, err := c.ContainerAttach(ctx, name, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true, DetachKeys: "ctrl-a,b"})
	if err != nil {
		t.Fatalf("ContainerAttach: %v", err)
	}
	screen := &screenReader{r: att.Reader}
	io.WriteString(att.Conn, "echo sum=$((40+2))\n")
	screen.waitFor(t, "sum=42")
	for _, key := range []string{"\x01", "b"} { // typed one at a time, as a person does
		io.WriteString(att.Conn, key)
		time.Sleep(100 * time.Millisecond)
	}
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, att.Reader); ended <- err }()
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the detach keys did not end the attach")
	}
	att.Close()
	if got := inspectField(t, name, "{{.State.Running}}"); got != "true" {
		t.Fatalf("after the detach the container is not running: %q", got)
	}
	// Its shell still reads its terminal: a new attach drives it.
	again, err := c.ContainerAttach(ctx, name, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	screen = &screenReader{r: again.Reader}
	io.WriteString(again.Conn, "echo again-$((2+3))\n")
	screen.waitFor(t, "again-5")

	// An exec with a TTY detaches too: its start's stream ends, the exec'd shell runs on.
	ex, err := c.ExecCreate(ctx, name, client.ExecCreateOptions{Cmd: []string{"sh"}, TTY: true, AttachStdin: true,
		AttachStdout: true, DetachKeys: "ctrl-a,b"})
	if err != nil {
		t.Fatal(err)
	}
	execAtt, err := c.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{TTY: true})
	if err != nil {
		t.Fatal(err)
	}
	screen = &screenReader{r: execAtt.Reader}
	io.WriteString(execAtt.Conn, "echo exec-$((3+4))\n")
	screen.waitFor(t, "exec-7")
	for _, key := range []string{"\x01", "b"} {
		io.WriteString(execAtt.Conn, key)
		time.Sleep(100 * time.Millisecond)
	}
	execEnded := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, execAtt.Reader); execEnded <- err }()
	select {
	case <-execEnded:
	case <-time.After(20 * time.Second):
		t.Fatal("the detach keys did not end the exec's stream")
	}
	execAtt.Close()
	if in, err := c.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{}); err != nil || !in.Running {
		t.Errorf("after the detach the exec is not running: %+v, %v", in, err)
	}

	for _, host := range []string{stack.dockerHost, referenceHost(t)} {
		code, body := apiCall(t, host, "POST", "/v1.41/containers/"+name+"/attach?stream=1&stdout=1&detachKeys=foo")
		if host != stack.dockerHost {
			if code == http.StatusNotFound { // the reference has no such container: Docker checks the keys first
				t.Logf("reference: %d %s", code, body)
			}
			continue
		}
		if code != http.StatusBadRequest || body != `{"message":"Invalid detach keys (foo) provided"}` {
			t.Errorf("attach with invalid detach keys: %d %s", code, body)
		}
	}
	got, want := onBoth(t, "exec", "--detach-keys", "foo", "no-such-container-for-keys", "true")
	t.Logf("exec --detach-keys foo: runsock %s; Docker %s", got, want)
	if r := docker(t, "exec", "--detach-keys", "foo", name, "true"); r.code == 0 || !strings.Contains(r.stderr, "Invalid escape keys (foo) provided") {
		t.Errorf("exec with invalid detach keys: %s", r)
	}
}

// The Go SDK's attach without Stream or Logs (a slip Docker forgives) upgrades and ends at once, as on Docker.
func TestGoSDKAttachWithoutStreamAsDocker(t *testing.T) {
	name := uniqueName("nostream")
	runBoth(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, eng := range []struct{ name, host string }{{"runsock", stack.dockerHost}, {"Docker", referenceHost(t)}} {
		att, err := sdk(t, eng.host).ContainerAttach(ctx, name, client.ContainerAttachOptions{Stdout: true, Stderr: true})
		if err != nil {
			t.Errorf("%s: ContainerAttach without Stream: %v", eng.name, err)
			continue
		}
		done := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, att.Reader); done <- err }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the attach without Stream did not end", eng.name)
		}
		att.Close()
	}
}

// The docker CLI's default ctrl-p,ctrl-q detaches `run -it`, `attach` and `exec -it` and leaves the container
// (and the exec'd shell's container) running; the CLI exits as it does with Docker.
func TestDetachKeysOfTheDockerCLI(t *testing.T) {
	name := uniqueName("detach")
	ref := referenceHost(t)
	t.Cleanup(func() {
		docker(t, "rm", "-f", name)
		dockerAs(t, ref, "", "rm", "-f", name)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	detach := func(host, what string, args ...string) int {
		t.Helper()
		cmd := dockerCmd(ctx, t, host, args...)
		term, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
		if err != nil {
			t.Fatal(err)
		}
		defer term.Close()
		screen := &screenReader{r: term}
		// What is typed before the CLI is attached is lost (on Docker too): type until the shell answers.
		deadline := time.Now().Add(30 * time.Second)
		for {
			io.WriteString(term, "echo ready-$((1+1))\r")
			if screen.waitForWithin("ready-2", 2*time.Second) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s: the shell never answered; screen: %q", host, what, screen.text())
			}
		}
		term.Write([]byte{16})
		time.Sleep(100 * time.Millisecond)
		term.Write([]byte{17})
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		go io.Copy(io.Discard, term)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s %s: ctrl-p ctrl-q did not end the CLI", host, what)
		}
		time.Sleep(time.Second) // what the engine does once the client has gone
		if r := dockerAs(t, host, "", "inspect", "-f", "{{.State.Running}}", name); r.stdout != "true\n" {
			t.Fatalf("%s %s: after the detach the container is not running: %s", host, what, r)
		}
		return cmd.ProcessState.ExitCode()
	}
	for _, tt := range []struct {
		what string
		args []string
	}{
		{"run -it", []string{"run", "-it", "--name", name, "alpine", "sh"}},
		{"attach", []string{"attach", name}},
		{"exec -it", []string{"exec", "-it", name, "sh"}},
	} {
		got, want := detach(stack.dockerHost, tt.what, tt.args...), detach(ref, tt.what, tt.args...)
		if got != want {
			t.Errorf("%s: the CLI exited %d after the detach; with Docker %d", tt.what, got, want)
		}
	}
	if out := mustDocker(t, "exec", name, "echo", "still-here"); out != "still-here\n" {
		t.Fatalf("exec after the detaches: %q", out)
	}
}

// An exec right after start succeeds: it waits for the run's agent to link (bounded) instead of failing.
func TestExecRightAfterStart(t *testing.T) {
	name := uniqueName("startexec")
	removeOnCleanup(t, name)
	mustDocker(t, "create", "--name", name, "alpine", "sleep", "600")
	mustDocker(t, "start", name)
	if r := docker(t, "exec", name, "echo", "at-once"); r.code != 0 || r.stdout != "at-once\n" {
		t.Fatalf("exec right after start: %s", r)
	}
}

// Docker's WebSocket attach (GET /containers/{id}/attach/ws): stdin in messages, output out, on both engines.
func TestAttachWebSocketAsDocker(t *testing.T) {
	name := uniqueName("wsattach")
	ref := referenceHost(t)
	t.Cleanup(func() {
		docker(t, "rm", "-f", name)
		dockerAs(t, ref, "", "rm", "-f", name)
	})
	for _, host := range []string{stack.dockerHost, ref} {
		if r := dockerAs(t, host, "", "run", "-d", "-i", "--name", name, "alpine", "sh", "-c", "echo ready; while read l; do echo got-$l; echo err-$l >&2; done"); r.code != 0 {
			t.Fatalf("%s: %s", host, r)
		}
	}
	waitFor(t, 60*time.Second, "the agent of "+name, func() bool { return docker(t, "exec", name, "true").code == 0 })
	for _, eng := range []struct{ name, host string }{{"runsock", stack.dockerHost}, {"Docker", ref}} {
		conn, err := net.Dial("unix", strings.TrimPrefix(eng.host, "unix://"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := websocket.NewConfig("ws://docker/v1.41/containers/"+name+"/attach/ws?stream=1&stdin=1&stdout=1&stderr=1", "http://localhost")
		if err != nil {
			t.Fatal(err)
		}
		ws, err := websocket.NewClient(cfg, conn)
		if err != nil {
			t.Fatalf("%s: websocket attach: %v", eng.name, err)
		}
		if _, err := ws.Write([]byte("one\n")); err != nil {
			t.Fatal(err)
		}
		var seen strings.Builder
		ws.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 4096)
		for !strings.Contains(seen.String(), "got-one\n") || !strings.Contains(seen.String(), "err-one\n") {
			n, err := ws.Read(buf)
			if err != nil {
				t.Fatalf("%s: reading the websocket: %v; saw %q", eng.name, err, seen.String())
			}
			seen.Write(buf[:n])
		}
		if strings.ContainsRune(seen.String(), 0) || strings.ContainsRune(seen.String(), 1) {
			t.Errorf("%s: the websocket output is multiplexed: %q", eng.name, seen.String())
		}
		ws.Close()
	}
}
