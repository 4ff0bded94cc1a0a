package pid1

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
)

// Reaper starts processes and reaps every child of the agent. Processes must be started through Start: it registers
// the PID under the same lock the reaper holds while it waits, so no exit status is ever lost.
type Reaper struct {
	mu      sync.Mutex
	waiting map[int]chan syscall.WaitStatus

	sigs chan os.Signal
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// NewReaper starts reaping. When the agent is not PID 1 (tests, local runs) it asks the kernel to make it a
// subreaper, so orphaned grandchildren still come back to it.
func NewReaper() *Reaper {
	r := &Reaper{
		waiting: map[int]chan syscall.WaitStatus{},
		sigs:    make(chan os.Signal, 16),
		done:    make(chan struct{}),
	}
	if os.Getpid() != 1 {
		const prSetChildSubreaper = 36
		_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	}
	signal.Notify(r.sigs, syscall.SIGCHLD)
	r.wg.Add(1)
	go r.loop()
	return r
}

// Start starts cmd and returns its PID and a channel that receives its wait status once. cmd.Process is released:
// use the returned PID. cmd's stdio must be *os.File or nil,
// because nobody calls cmd.Wait (which is what would copy other readers and writers).
func (r *Reaper) Start(cmd *exec.Cmd) (int, <-chan syscall.WaitStatus, error) {
	for _, f := range []any{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
		if f != nil {
			if _, ok := f.(*os.File); !ok {
				return 0, nil, errors.New("pid1: stdio must be *os.File")
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	pid := cmd.Process.Pid
	ch := make(chan syscall.WaitStatus, 1)
	r.waiting[pid] = ch
	_ = cmd.Process.Release() // frees the pidfd; the status comes from wait4 in reap
	return pid, ch, nil
}

func (r *Reaper) loop() {
	defer r.wg.Done()
	for {
		select {
		case <-r.done:
			return
		case <-r.sigs:
			r.reap()
		}
	}
}

// reap collects every exited child; statuses of unregistered children (orphans) are dropped.
func (r *Reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if ch, ok := r.waiting[pid]; ok {
			ch <- ws
			delete(r.waiting, pid)
		}
	}
}

// Close stops reaping.
func (r *Reaper) Close() {
	r.once.Do(func() {
		signal.Stop(r.sigs)
		close(r.done)
	})
	r.wg.Wait()
}

// ExitCode is Docker's exit code for a wait status: the exit status, or 128+signal.
func ExitCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	default:
		return 255
	}
}

// StartError describes why a command could not start, with Docker's exit codes: 127 not found, 126 not executable.
func StartError(err error) (code int, msg string) {
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return 127, fmt.Sprintf("exec: %v: no such file or directory", err)
	case errors.Is(err, os.ErrPermission):
		return 126, fmt.Sprintf("exec: %v: permission denied", err)
	default:
		return 126, err.Error()
	}
}
