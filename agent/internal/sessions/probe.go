package sessions

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/runsock/runsock/agent/internal/pid1"
	"github.com/runsock/runsock/linkproto"
)

// Prober runs healthcheck probes (agent/internal/health) as Docker runs them: an exec without stdin or terminal,
// as the container's user with its groups, environment and working directory.
type Prober struct {
	Server   *Server
	User     string
	GroupAdd []string
}

// Probe runs cmd until it exits or ctx ends; then its process group is killed (SIGKILL, as Docker kills an exec
// whose probe timed out). Stdout and stderr go to one buffer, kept up to linkproto.HealthOutputMax bytes.
func (p Prober) Probe(ctx context.Context, cmd []string) (int, string, bool, error) {
	proc, err := p.Server.startExec(linkproto.ExecSpec{Cmd: cmd, User: p.User, GroupAdd: p.GroupAdd}, true)
	if err != nil {
		var e *linkproto.Error
		if errors.As(err, &e) {
			return 0, "", false, errors.New(e.Message)
		}
		return 0, "", false, err
	}
	out := &limitedBuffer{}
	var wg sync.WaitGroup
	for _, f := range proc.outputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(out, f)
		}()
	}
	var ws syscall.WaitStatus
	select {
	case ws = <-proc.wait:
	case <-ctx.Done():
		_ = syscall.Kill(-proc.pid, syscall.SIGKILL)
		ws = <-proc.wait
	}
	// A child that outlives the probe and keeps its output open must not hold the result back.
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(execDrainGrace):
	}
	for _, f := range proc.outputs {
		f.Close()
	}
	<-drained
	s, truncated := out.result()
	return pid1.ExitCode(ws), s, truncated, nil
}

// limitedBuffer keeps the first linkproto.HealthOutputMax bytes written to it and notes whether more came.
type limitedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := min(linkproto.HealthOutputMax-b.buf.Len(), len(p))
	if keep > 0 {
		b.buf.Write(p[:keep])
	}
	if keep < len(p) {
		b.truncated = true
	}
	return len(p), nil
}

func (b *limitedBuffer) result() (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String(), b.truncated
}
