package agentlink

import (
	"bufio"
	"context"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func TestExec(t *testing.T) {
	e := newEnv(t, true, nil)
	id := uniqueID(t)
	e.startAgent(id, e.container(id, ""), nil, "sleep", "60")
	e.waitConnected(id)
	tests := []struct {
		name     string
		spec     ExecSpec
		want     string
		wantCode int
	}{
		{"ls /", ExecSpec{Cmd: []string{"ls", "/"}}, "etc\n", 0},
		{"env and workdir", ExecSpec{Cmd: []string{"sh", "-c", "echo $X; pwd"}, Env: []string{"X=1"}, WorkingDir: "/tmp"}, "1\n/tmp\n", 0},
		{"exit code", ExecSpec{Cmd: []string{"sh", "-c", "echo out; exit 3"}}, "out\n", 3},
		{"no agent secret leaks", ExecSpec{Cmd: []string{"sh", "-c", "env | grep -c RUNSOCK_ || true"}}, "0\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			code, err := e.hub.Exec(context.Background(), id, tt.spec, Streams{Stdout: &out, Stderr: &out}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || !strings.Contains(out.String(), tt.want) {
				t.Fatalf("exit %d output %q; want %d containing %q", code, out.String(), tt.wantCode, tt.want)
			}
		})
	}
	_, err := e.hub.Exec(context.Background(), id, ExecSpec{Cmd: []string{"/no/such/binary"}}, Streams{}, nil)
	if !errdefs.IsNotFound(err) {
		t.Fatalf("exec of a missing binary: %v, want not found", err)
	}
}

func TestExecTTY(t *testing.T) {
	e := newEnv(t, true, nil)
	id := uniqueID(t)
	e.startAgent(id, e.container(id, ""), nil, "sleep", "60")
	e.waitConnected(id)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	resize := make(chan Size, 1)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := e.hub.Exec(context.Background(), id, ExecSpec{Cmd: []string{"sh"}, Tty: true, Height: 24, Width: 80, Env: []string{"PS1=prompt$ "}},
			Streams{Stdin: inR, Stdout: outW, Resize: resize}, nil)
		outW.Close()
		done <- result{code, err}
	}()
	rd := bufio.NewReader(outR)
	expect := func(want string) {
		t.Helper()
		var seen strings.Builder
		deadline := time.AfterFunc(10*time.Second, func() { outW.CloseWithError(io.ErrUnexpectedEOF) })
		defer deadline.Stop()
		for !strings.Contains(seen.String(), want) {
			b, err := rd.ReadByte()
			if err != nil {
				t.Fatalf("waiting for %q: %v; saw %q", want, err, seen.String())
			}
			seen.WriteByte(b)
		}
	}
	expect("prompt$ ")
	_, _ = io.WriteString(inW, "echo hi-$((1+2))\n")
	expect("hi-3")
	resize <- Size{Height: 40, Width: 100}
	time.Sleep(100 * time.Millisecond)
	_, _ = io.WriteString(inW, "stty size\n")
	expect("40 100")
	_, _ = io.WriteString(inW, "exit 5\n")
	go func() { _, _ = io.Copy(io.Discard, rd) }()
	r := <-done
	if r.err != nil || r.code != 5 {
		t.Fatalf("exit %d err %v, want 5", r.code, r.err)
	}
}

func TestAttachStdinHalfCloseEndsProcess(t *testing.T) {
	e := newEnv(t, true, nil)
	id := uniqueID(t)
	secret := e.container(id, "")
	// docker run -i: the client attaches before the container (and its agent) exists.
	var out strings.Builder
	attached := make(chan error, 1)
	go func() {
		attached <- e.hub.Attach(context.Background(), id, AttachOptions{Stream: true, NextRun: true},
			Streams{Stdin: strings.NewReader("hello\nworld\n"), Stdout: &out})
	}()
	time.Sleep(200 * time.Millisecond)
	p := e.startAgent(id, secret, []string{"RUNSOCK_STDIN=1", "RUNSOCK_STDIN_ONCE=1"}, "cat")
	if err := <-attached; err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello\nworld\n" {
		t.Fatalf("attach output %q", out.String())
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("agent exit %d", code)
	}
	if got := <-e.exits; got.id != id || got.code != 0 {
		t.Fatalf("exit report %+v", got)
	}
	if p.stdout.String() != "hello\nworld\n" {
		t.Fatalf("output not teed to the agent's stdout (Cloud Logging): %q", p.stdout.String())
	}
}

func TestSignalsReachTraps(t *testing.T) {
	e := newEnv(t, true, nil)
	id := uniqueID(t)
	p := e.startAgent(id, e.container(id, ""), nil, "sh", "-c",
		`trap 'echo got-usr1' USR1; trap 'echo bye; exit 7' TERM; echo ready; while true; do sleep 0.05; done`)
	e.waitConnected(id)
	e.waitOutput(id, "ready")
	ctx := context.Background()
	top, err := e.hub.Top(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Titles) == 0 || top.Titles[len(top.Titles)-1] != "CMD" || !strings.Contains(joinRows(top.Processes), "sh -c trap") {
		t.Fatalf("top: %+v", top)
	}
	if err := e.hub.Signal(ctx, id, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	e.waitOutput(id, "got-usr1")
	if err := e.hub.Signal(ctx, id, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 10*time.Second); code != 7 {
		t.Fatalf("agent exit %d, want the trap's 7", code)
	}
	if got := <-e.exits; got.code != 7 {
		t.Fatalf("exit report %+v", got)
	}
	e.waitOutput(id, "bye\n")
	if _, err := e.hub.Stats(ctx, id, nil); !errdefs.IsConflict(err) {
		t.Fatalf("stats after exit: %v, want a conflict (no agent)", err)
	}
}

func joinRows(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, " ") + "\n")
	}
	return b.String()
}
