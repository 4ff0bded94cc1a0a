package sessions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/runsock/runsock/agent/internal/mainproc"
	"github.com/runsock/runsock/agent/internal/netns"
	"github.com/runsock/runsock/agent/internal/pid1"
	"github.com/runsock/runsock/linkproto"
)

// execDrainGrace bounds how long output is read after the exec'd process exits.
const execDrainGrace = 2 * time.Second

// execProc is a started exec'd process and the parent's ends of its stdio.
type execProc struct {
	pid     int
	wait    <-chan syscall.WaitStatus
	stdin   *os.File // nil without stdin
	outputs []*os.File
	streams []uint8
	pty     *os.File
}

func (s *Server) exec(ctx context.Context, spec linkproto.ExecSpec, st linkproto.FrameStream, out *sender) error {
	p, err := s.startExec(spec, false)
	if err != nil {
		return err
	}
	if err := out.send(&linkproto.Frame{Type: linkproto.FrameStarted, Code: int64(p.pid)}); err != nil {
		p.closeStdin()
		return nil
	}
	go s.execInput(st, p)
	var wg sync.WaitGroup
	for i, f := range p.outputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := io.Copy(&dataWriter{out: out, stream: p.streams[i]}, f); err != nil {
				// The client is gone (a detach leaves the process running): keep reading, or the process would
				// block once its pipe or terminal is full.
				_, _ = io.Copy(io.Discard, f)
			}
		}()
	}
	ws := <-p.wait
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(execDrainGrace):
		for _, f := range p.outputs {
			f.Close()
		}
		<-drained
	}
	for _, f := range p.outputs {
		f.Close()
	}
	p.closeStdin()
	return out.result(pid1.ExitCode(ws), nil)
}

func (p *execProc) closeStdin() {
	if p.stdin != nil && p.pty == nil {
		p.stdin.Close()
	}
}

// execInput feeds stdin, resizes and signals until the stream ends. A half-close (or a broken stream) closes stdin.
func (s *Server) execInput(st linkproto.FrameStream, p *execProc) {
	var f linkproto.Frame
	for {
		if err := st.Recv(&f); err != nil {
			if p.pty != nil {
				return // a TTY process keeps running; its pty closes with it
			}
			p.closeStdin()
			return
		}
		switch f.Type {
		case linkproto.FrameData:
			if p.stdin != nil {
				_, _ = p.stdin.Write(f.Data)
			}
		case linkproto.FrameClose:
			if p.pty == nil { // as Docker: a terminal's input stays open when the client's ends
				p.closeStdin()
			}
		case linkproto.FrameResize:
			if p.pty != nil {
				_ = pty.Setsize(p.pty, &pty.Winsize{Rows: uint16(f.Seq), Cols: uint16(f.Code)})
			}
		case linkproto.FrameSignal:
			_ = syscall.Kill(p.pid, syscall.Signal(f.Code))
		}
	}
}

// startExec starts spec's process. group puts it in a process group of its own, so that it can be killed with its
// children (a probe past its timeout).
func (s *Server) startExec(spec linkproto.ExecSpec, group bool) (*execProc, error) {
	if len(spec.Cmd) == 0 {
		return nil, &linkproto.Error{Kind: linkproto.ErrKindInvalid, Message: "No exec command specified"}
	}
	cmd := exec.Command(spec.Cmd[0], spec.Cmd[1:]...)
	cmd.Env = append(mainproc.UserEnv(), spec.Env...)
	cmd.Dir = spec.WorkingDir
	if spec.WorkingDir != "" {
		// runc fails the exec before anything runs; without this check the failure would read as a missing command.
		if fi, err := os.Stat(spec.WorkingDir); err != nil || !fi.IsDir() {
			reason := "no such file or directory"
			if err == nil {
				reason = "not a directory"
			}
			return nil, &linkproto.Error{Kind: linkproto.ErrKindInternal, Message: fmt.Sprintf(
				"OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd (%q) set in config.json failed: %s: unknown",
				spec.WorkingDir, reason)}
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: group}
	cred, home, err := mainproc.Credential(spec.User, spec.GroupAdd)
	if err != nil {
		return nil, &linkproto.Error{Kind: linkproto.ErrKindInvalid, Message: err.Error()}
	}
	cmd.SysProcAttr.Credential = cred
	if home != "" && spec.User != "" {
		cmd.Env = append(cmd.Env, "HOME="+home)
	}
	if s.NoNetwork {
		if err := netns.Wrap(cmd, "/proc/self/exe"); err != nil && !errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("exec: %w", err)
		}
	}
	p := &execProc{}
	var childEnds []*os.File
	if spec.Tty {
		master, slave, err := pty.Open()
		if err != nil {
			return nil, fmt.Errorf("open pty: %w", err)
		}
		if spec.Height > 0 && spec.Width > 0 {
			_ = pty.Setsize(master, &pty.Winsize{Rows: spec.Height, Cols: spec.Width})
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty = true, true
		p.pty, p.stdin = master, master
		p.outputs, p.streams = []*os.File{master}, []uint8{linkproto.StreamStdout}
		childEnds = []*os.File{slave}
	} else {
		if spec.Stdin {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			cmd.Stdin, p.stdin = r, w
			childEnds = append(childEnds, r)
		}
		for _, stream := range []uint8{linkproto.StreamStdout, linkproto.StreamStderr} {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			if stream == linkproto.StreamStdout {
				cmd.Stdout = w
			} else {
				cmd.Stderr = w
			}
			p.outputs, p.streams, childEnds = append(p.outputs, r), append(p.streams, stream), append(childEnds, w)
		}
	}
	pid, wait, err := s.Reaper.Start(cmd)
	for _, f := range childEnds {
		f.Close()
	}
	if err != nil {
		for _, f := range p.outputs {
			f.Close()
		}
		p.closeStdin()
		_, msg := pid1.StartError(err)
		kind := linkproto.ErrKindInternal
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			kind = linkproto.ErrKindNotFound
		}
		return nil, &linkproto.Error{Kind: kind, Message: "OCI runtime exec failed: " + msg}
	}
	p.pid, p.wait = pid, wait
	return p, nil
}
