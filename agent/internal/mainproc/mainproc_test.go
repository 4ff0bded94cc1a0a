package mainproc

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runsock/runsock/agent/internal/output"
	"github.com/runsock/runsock/agent/internal/pid1"
	"github.com/runsock/runsock/linkproto"
)

// outputOf returns what m wrote to buf, per stream, once m is done.
func outputOf(t *testing.T, m *Main, buf *output.Buffer) (stdout, stderr string) {
	t.Helper()
	select {
	case <-m.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the main process did not end")
	}
	code, at := m.Exit()
	buf.Finish(output.Exit{Code: code, At: at}) // as the agent does: Next then ends after the output
	var out, errb strings.Builder
	for after := uint64(0); ; {
		chunks, exit, err := buf.Next(context.Background(), after)
		if err != nil {
			t.Fatal(err)
		}
		if exit != nil {
			break
		}
		for _, c := range chunks {
			after = c.Seq
			if c.Stream == linkproto.StreamStderr {
				errb.Write(c.Data)
			} else {
				out.Write(c.Data)
			}
		}
	}
	return out.String(), errb.String()
}

// waitCatches waits until process pid has installed a handler for sig (a shell's trap runs after its start).
func waitCatches(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok, _ := pid1.Catches(pid, sig); ok {
			return
		}
	}
	t.Fatalf("process %d never caught %v", pid, sig)
}

func TestMainProcess(t *testing.T) {
	r := pid1.NewReaper()
	defer r.Close()
	wd := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		opts       Options
		drive      func(t *testing.T, m *Main) // while it runs
		wantCode   int
		wantStdout string
		wantStderr string // a substring
	}{
		{name: "output and exit code", args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"},
			wantCode: 3, wantStdout: "out\n", wantStderr: "err\n"},
		{name: "no command", args: nil, wantCode: 127, wantStderr: "no command given"},
		{name: "a missing working directory is created", args: []string{"sh", "-c", "pwd; stat -c %a $PWD"},
			opts: Options{WorkDir: wd + "/missing/dir"}, wantStdout: wd + "/missing/dir\n755\n"},
		{name: "a working directory that is a file", args: []string{"true"}, opts: Options{WorkDir: "/etc/passwd"},
			wantCode: 126, wantStderr: "Cannot mkdir: /etc/passwd is not a directory"},
		{name: "a command that does not exist", args: []string{"/no/such/binary"}, wantCode: 127, wantStderr: "runsock agent:"},
		{name: "an unknown user", args: []string{"true"}, opts: Options{User: "no-such-user-here"},
			wantCode: 126, wantStderr: "unable to find user no-such-user-here"},
		{name: "stdin once", args: []string{"cat"}, opts: Options{Stdin: true, StdinOnce: true},
			drive: func(t *testing.T, m *Main) {
				if err := m.WriteStdin([]byte("hello\n")); err != nil {
					t.Fatal(err)
				}
				m.EndStdin()
				if err := m.WriteStdin([]byte("after the end\n")); err != nil {
					t.Errorf("a write after the end of stdin: %v; want it dropped", err)
				}
			},
			wantStdout: "hello\n"},
		{name: "a terminal's input outlives an attach's end", args: []string{"sh", "-c", "read a; read b; echo $a$b"},
			opts: Options{Stdin: true, StdinOnce: true, TTY: true},
			drive: func(t *testing.T, m *Main) {
				if err := m.WriteStdin([]byte("x\n")); err != nil {
					t.Fatal(err)
				}
				m.EndStdin() // as Docker: no end of input for a TTY; the next attach still types
				if err := m.WriteStdin([]byte("y\n")); err != nil {
					t.Fatal(err)
				}
			},
			wantStdout: "x\r\ny\r\nxy\r\n"},
		{name: "no stdin", args: []string{"true"},
			drive: func(t *testing.T, m *Main) {
				if err := m.WriteStdin([]byte("x")); err != ErrNoStdin {
					t.Errorf("WriteStdin without -i: %v; want ErrNoStdin", err)
				}
			}},
		{name: "a signal PID 1 has no handler for is dropped", args: []string{"sleep", "30"},
			drive: func(t *testing.T, m *Main) {
				if err := m.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				select {
				case <-m.Done():
					t.Fatal("SIGTERM ended a process without a handler for it; as PID 1 it would not")
				case <-time.After(300 * time.Millisecond):
				}
				if err := m.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: 137},
		{name: "a handled signal is delivered", args: []string{"sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.05; done"},
			drive: func(t *testing.T, m *Main) {
				waitCatches(t, m.PID(), syscall.SIGTERM)
				if err := m.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: 7},
		{name: "with --init every signal is delivered", args: []string{"sleep", "30"}, opts: Options{Init: true},
			drive: func(t *testing.T, m *Main) {
				if err := m.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: 143},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := output.New(1<<20, time.Now)
			m := Start(context.Background(), r, tt.args, tt.opts, buf)
			if tt.drive != nil {
				tt.drive(t, m)
			}
			stdout, stderr := outputOf(t, m, buf)
			if code, at := m.Exit(); code != tt.wantCode || at.IsZero() {
				t.Errorf("exit %d at %v; want %d", code, at, tt.wantCode)
			}
			if stdout != tt.wantStdout || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stdout %q stderr %q; want %q and %q in it", stdout, stderr, tt.wantStdout, tt.wantStderr)
			}
			if err := m.Signal(syscall.SIGTERM); err == nil {
				t.Error("Signal after the exit succeeded")
			}
		})
	}
}

func TestCredential(t *testing.T) {
	tests := []struct {
		spec     string
		add      []string
		uid, gid uint32
		groups   []uint32
		bad      bool
	}{
		{spec: "0", uid: 0, gid: 0, groups: []uint32{0}},
		{spec: "", uid: 0, gid: 0, groups: []uint32{0}},
		{spec: "root", uid: 0, gid: 0, groups: []uint32{0}},
		{spec: "0:7", uid: 0, gid: 7, groups: []uint32{7}},
		{spec: "0:7", add: []string{"1234", "99"}, uid: 0, gid: 7, groups: []uint32{7, 99, 1234}},
		{spec: "root", add: []string{"root"}, uid: 0, gid: 0, groups: []uint32{0}},
		{spec: "12345", uid: 12345, gid: 0, groups: []uint32{0}}, // no passwd entry: group 0, as under Docker
		{spec: "12345:5678", uid: 12345, gid: 5678, groups: []uint32{5678}},
		{spec: "no-such-user-here", bad: true},
		{spec: "root:no-such-group-here", bad: true},
		{spec: "root", add: []string{"no-such-group-here"}, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			cred, _, err := Credential(tt.spec, tt.add)
			if tt.bad {
				if err == nil {
					t.Fatalf("Credential(%q) = %+v; want an error", tt.spec, cred)
				}
				return
			}
			if err != nil || cred.Uid != tt.uid || cred.Gid != tt.gid || !slices.Equal(cred.Groups, tt.groups) || cred.NoSetGroups {
				t.Fatalf("Credential(%q) = %+v, %v; want uid %d gid %d", tt.spec, cred, err, tt.uid, tt.gid)
			}
		})
	}
}

func TestUserEnvDropsRunsockVariables(t *testing.T) {
	t.Setenv(linkproto.EnvPrefix+"SECRET", "s")
	t.Setenv("KEEP_ME", "1")
	env := strings.Join(UserEnv(), "\n")
	if strings.Contains(env, linkproto.EnvPrefix) || !strings.Contains(env, "KEEP_ME=1") {
		t.Errorf("UserEnv = %s", env)
	}
}
