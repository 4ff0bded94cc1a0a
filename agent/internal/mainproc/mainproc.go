package mainproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/runsock/runsock/agent/internal/netns"
	"github.com/runsock/runsock/agent/internal/output"
	"github.com/runsock/runsock/agent/internal/pid1"
	"github.com/runsock/runsock/linkproto"
)

// DrainGrace is how long output is still read after the process exits.
const DrainGrace = 2 * time.Second

// Options describe how the main process is wired.
type Options struct {
	Stdin     bool // OpenStdin: a pipe attach sessions write to
	StdinOnce bool // the first attach's end of stdin closes it
	TTY       bool
	Tee       bool   // copy output to the agent's own stdout/stderr
	User      string // Docker's user[:group] to run as ("" = the agent's own)
	// GroupAdd are the container's --group-add groups (names or IDs), supplementary groups on top of the user's.
	GroupAdd []string
	// Init is Docker's --init: an init process (tini) is PID 1 and the command its child, so every signal reaches
	// the command as it reaches any process. Without it the command is PID 1 on Docker, and Signal delivers only
	// what PID 1 would receive (pid1.ReachesInit).
	Init bool
	// NoNetwork is Docker's --network none: the process runs in its own network namespace with only lo (netns).
	NoNetwork bool
	// WorkDir is Docker's working directory (-w, the image's WORKDIR), absolute; "" = the agent's own. Created when
	// missing, root's and mode 0755, as Docker creates it at start (checked on the reference engine, with -u too).
	WorkDir string
}

// Main is the running main process.
type Main struct {
	pid   int
	opts  Options
	stdin *os.File // pipe write end or pty master; nil without stdin
	pty   *os.File

	mu        sync.Mutex
	stdinDone bool
	exitCode  int
	exitedAt  time.Time
	done      chan struct{}
}

// UserEnv is the agent's environment without runsock's own variables (secrets must not reach user processes).
func UserEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, linkproto.EnvPrefix) {
			env = append(env, kv)
		}
	}
	return env
}

// MakeWorkDir creates dir if it is missing, as Docker does at start, with Docker's message when it cannot.
func MakeWorkDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("Cannot mkdir: %s is not a directory", dir)
		}
		return fmt.Errorf("working directory %s: %w", dir, err)
	}
	return nil
}

// Start starts args and pumps its output into buf. A start failure is reported like a shell would (message on
// stderr, exit code 127 or 126) rather than as an error, so the container still exits with Docker's code.
func Start(ctx context.Context, r *pid1.Reaper, args []string, opts Options, buf *output.Buffer) *Main {
	m := &Main{opts: opts, done: make(chan struct{})}
	if len(args) == 0 {
		m.fail(ctx, buf, 127, "runsock agent: no command given")
		return m
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = UserEnv()
	if opts.WorkDir != "" {
		if err := MakeWorkDir(opts.WorkDir); err != nil {
			m.fail(ctx, buf, 126, "runsock agent: "+err.Error())
			return m
		}
		cmd.Dir = opts.WorkDir
	}
	// Always resolved, root included: the process gets the supplementary groups Docker gives it, not the agent's.
	cred, home, err := Credential(opts.User, opts.GroupAdd)
	if err != nil {
		m.fail(ctx, buf, 126, "runsock agent: "+err.Error())
		return m
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if home != "" && opts.User != "" {
		cmd.Env = append(cmd.Env, "HOME="+home)
	}
	if opts.NoNetwork {
		if err := netns.Wrap(cmd, "/proc/self/exe"); err != nil {
			code, msg := pid1.StartError(err)
			m.fail(ctx, buf, code, "runsock agent: "+msg)
			return m
		}
	}
	var pumps []*os.File
	var streams []uint8
	var closeAfter []*os.File
	if opts.TTY {
		master, slave, err := pty.Open()
		if err != nil {
			m.fail(ctx, buf, 126, fmt.Sprintf("runsock agent: open pty: %v", err))
			return m
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty = true, true
		m.pty, m.stdin = master, master
		pumps, streams, closeAfter = []*os.File{master}, []uint8{linkproto.StreamStdout}, []*os.File{slave}
	} else {
		if opts.Stdin {
			pr, pw, err := os.Pipe()
			if err != nil {
				m.fail(ctx, buf, 126, err.Error())
				return m
			}
			cmd.Stdin, m.stdin = pr, pw
			closeAfter = append(closeAfter, pr)
		}
		for _, s := range []uint8{linkproto.StreamStdout, linkproto.StreamStderr} {
			pr, pw, err := os.Pipe()
			if err != nil {
				m.fail(ctx, buf, 126, err.Error())
				return m
			}
			if s == linkproto.StreamStdout {
				cmd.Stdout = pw
			} else {
				cmd.Stderr = pw
			}
			pumps, streams, closeAfter = append(pumps, pr), append(streams, s), append(closeAfter, pw)
		}
	}
	pid, wait, err := r.Start(cmd)
	for _, f := range closeAfter {
		f.Close()
	}
	if err != nil {
		for _, f := range pumps {
			f.Close()
		}
		code, msg := pid1.StartError(err)
		if opts.NoNetwork && errors.Is(err, syscall.EPERM) {
			msg = "network mode none: this sandbox does not let the agent create a user and network namespace: " + err.Error()
		}
		m.fail(ctx, buf, code, "runsock agent: "+msg)
		return m
	}
	m.pid = pid
	go m.run(ctx, buf, wait, pumps, streams)
	return m
}

// Failed is a main process that could not start: msg goes to stderr (the user's output) and it has exited with code.
func Failed(ctx context.Context, buf *output.Buffer, opts Options, code int, msg string) *Main {
	m := &Main{opts: opts, done: make(chan struct{})}
	m.fail(ctx, buf, code, msg)
	return m
}

func (m *Main) fail(ctx context.Context, buf *output.Buffer, code int, msg string) {
	fmt.Fprintln(os.Stderr, msg)
	_ = buf.Write(ctx, linkproto.StreamStderr, []byte(msg+"\n"))
	m.exitCode, m.exitedAt = code, time.Now()
	close(m.done)
}

func (m *Main) run(ctx context.Context, buf *output.Buffer, wait <-chan syscall.WaitStatus, pumps []*os.File, streams []uint8) {
	var wg sync.WaitGroup
	for i, f := range pumps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.pump(ctx, buf, f, streams[i])
		}()
	}
	ws := <-wait
	at := time.Now()
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(DrainGrace):
		for _, f := range pumps {
			f.Close() // unblocks the pumps' reads
		}
		<-drained
	}
	m.mu.Lock()
	m.exitCode, m.exitedAt = pid1.ExitCode(ws), at
	m.mu.Unlock()
	close(m.done)
}

func (m *Main) pump(ctx context.Context, buf *output.Buffer, f *os.File, stream uint8) {
	var tee io.Writer = io.Discard
	if m.opts.Tee {
		tee = os.Stdout
		if stream == linkproto.StreamStderr {
			tee = os.Stderr
		}
	}
	b := make([]byte, linkproto.MaxChunk)
	for {
		n, err := f.Read(b)
		if n > 0 {
			_, _ = tee.Write(b[:n])
			if buf.Write(ctx, stream, b[:n]) != nil {
				return
			}
		}
		if err != nil {
			return // EOF, or EIO on a pty whose slave side has closed
		}
	}
}

// PID is the process ID, 0 if it never started.
func (m *Main) PID() int { return m.pid }

// Done is closed when the process has exited and its output is drained.
func (m *Main) Done() <-chan struct{} { return m.done }

// Exit returns the exit code and time; valid after Done.
func (m *Main) Exit() (int, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exitCode, m.exitedAt
}

// ErrNoStdin is returned when the container was not started with an open stdin.
var ErrNoStdin = errors.New("the container's stdin is not open (start it with -i)")

// WriteStdin writes attach input to the process.
func (m *Main) WriteStdin(p []byte) error {
	m.mu.Lock()
	f, closed := m.stdin, m.stdinDone
	m.mu.Unlock()
	if f == nil {
		return ErrNoStdin
	}
	if closed {
		return nil
	}
	_, err := f.Write(p)
	return err
}

// EndStdin reports an attach session's end of input: with StdinOnce the process's stdin is closed, otherwise nothing
// happens and later attaches can still write. A terminal's input is never closed (as Docker: a detach, or a client
// going away, leaves it for the next attach).
func (m *Main) EndStdin() {
	if !m.opts.StdinOnce {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stdin == nil || m.stdinDone || m.pty != nil {
		return
	}
	m.stdinDone = true
	m.stdin.Close()
}

// Resize sets the TTY size; without a TTY it does nothing.
func (m *Main) Resize(h, w uint16) error {
	if m.pty == nil {
		return nil
	}
	return pty.Setsize(m.pty, &pty.Winsize{Rows: h, Cols: w})
}

// Signal sends sig to the process as Docker would deliver it: with Init, as tini forwards it to its child; without,
// only if the process would receive it as the container's PID 1 (a signal it has no handler for is dropped, as the
// kernel drops it for PID 1). SIGKILL ends the whole container, as the death of PID 1 does on Docker: when the
// agent is PID 1 every other process in it is killed too.
func (m *Main) Signal(sig syscall.Signal) error {
	if m.pid == 0 {
		return errors.New("the main process is not running")
	}
	select {
	case <-m.done:
		return errors.New("the main process has exited")
	default:
	}
	if sig == syscall.SIGKILL && os.Getpid() == 1 {
		_ = syscall.Kill(-1, syscall.SIGKILL) // every process but PID 1 (kill(2)): the namespace's end
	}
	if !m.opts.Init && !pid1.ReachesInit(m.pid, sig) {
		return nil
	}
	return syscall.Kill(m.pid, sig)
}
