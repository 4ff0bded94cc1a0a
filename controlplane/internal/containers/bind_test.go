package containers

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// barrierLauncher launches an execution named after the bootstrap its spec carries, once `together` launches have
// begun: concurrent starts all pass Prepare and Launch before any of them commits. Its executions never end.
type barrierLauncher struct {
	together int
	mu       sync.Mutex
	begun    int
	all      chan struct{}
	cancels  []string
}

func (l *barrierLauncher) Launch(ctx context.Context, spec LaunchSpec) (string, error) {
	l.mu.Lock()
	l.begun++
	if l.begun == l.together {
		close(l.all)
	}
	l.mu.Unlock()
	<-l.all
	boot := ""
	for _, kv := range spec.Env {
		if v, ok := strings.CutPrefix(kv, "BOOT="); ok {
			boot = v
		}
	}
	return "projects/p/locations/l/jobs/j/executions/j-" + boot, nil
}

func (l *barrierLauncher) Cancel(_ context.Context, execution string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cancels = append(l.cancels, execution)
	return nil
}

func (l *barrierLauncher) DeleteExecution(context.Context, string) error { return nil }

func (l *barrierLauncher) Wait(ctx context.Context, _ string) (Outcome, error) {
	<-ctx.Done()
	return Outcome{}, ctx.Err()
}

// bootAgent issues a numbered bootstrap per Prepare and records which runs it was told have ended.
type bootAgent struct {
	mu    sync.Mutex
	n     int
	ended []string
}

func (a *bootAgent) Prepare(_ context.Context, _ *Container, spec *LaunchSpec) AgentRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	boot := fmt.Sprint(a.n)
	spec.Env = append(spec.Env, "BOOT="+boot)
	return AgentRecord{BootstrapHash: []byte(boot), Run: "run-" + boot}
}

func (a *bootAgent) WaitConnected(context.Context, string) error          { return nil }
func (a *bootAgent) Signal(context.Context, string, syscall.Signal) error { return nil }
func (a *bootAgent) Pause(context.Context, string) error                  { return nil }
func (a *bootAgent) Unpause(context.Context, string) error                { return nil }
func (a *bootAgent) Forget(string)                                        {}
func (a *bootAgent) Ended(id, execution string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ended = append(a.ended, execution)
}

func newBindService(t *testing.T, together int) (*Service, *memStore, *barrierLauncher, *bootAgent) {
	st := &memStore{m: map[string]*Container{"c": {ID: "c", Name: "c", Owner: "o", ImageRef: "img", State: State{Status: container.StateCreated}}}}
	l := &barrierLauncher{together: together, all: make(chan struct{})}
	a := &bootAgent{}
	s := New(Options{Store: st, Launcher: l, Agent: a})
	t.Cleanup(func() { s.Close() })
	return s, st, l, a
}

// Two starts of one container at once: both prepare and launch, one commits. The record holds the winner's
// execution with the winner's credentials; the loser's execution is cancelled and its bootstrap is nowhere.
func TestConcurrentStartsBindTheWinnersRun(t *testing.T) {
	s, st, l, _ := newBindService(t, 2)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			c, _ := st.GetContainer(context.Background(), "c")
			errs <- s.start(context.Background(), c, startManual)
		}()
	}
	var won, lost int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			won++
		case errdefs.IsNotModified(err):
			lost++
		default:
			t.Fatalf("start: %v", err)
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("%d starts won, %d lost", won, lost)
	}
	c, _ := st.GetContainer(context.Background(), "c")
	boot := strings.TrimPrefix(path.Base(c.State.Execution), "j-")
	if string(c.Agent.BootstrapHash) != boot || c.Agent.Run != "run-"+boot {
		t.Fatalf("the record runs %s with the credentials of start %s (run %s)", c.State.Execution, c.Agent.BootstrapHash, c.Agent.Run)
	}
	if len(l.cancels) != 1 || l.cancels[0] == c.State.Execution {
		t.Fatalf("cancelled %v; the container runs %s", l.cancels, c.State.Execution)
	}
}

// A report from a run that a restart replaced (or from an orphan execution) ends nothing; the current run's own
// report ends it, and the agent's side hears that this run — and only it — ended.
func TestAgentExitReportsApplyOnlyToTheirRun(t *testing.T) {
	s, st, _, a := newBindService(t, 1)
	c, _ := st.GetContainer(context.Background(), "c")
	if err := s.start(context.Background(), c, startManual); err != nil {
		t.Fatal(err)
	}
	c, _ = st.GetContainer(context.Background(), "c")
	current := c.State.Execution

	for _, stale := range []string{"projects/p/locations/l/jobs/j/executions/j-previous", "j-orphan", ""} {
		s.AgentExited("c", stale, 9, false, time.Now())
		if c, _ := st.GetContainer(context.Background(), "c"); !c.Running() || c.State.Execution != current {
			t.Fatalf("a report of %q ended the current run: %+v", stale, c.State)
		}
	}
	if len(a.ended) != 0 {
		t.Fatalf("runs ended: %v", a.ended)
	}
	s.AgentExited("c", path.Base(current), 3, false, time.Now())
	c, _ = st.GetContainer(context.Background(), "c")
	if c.Running() || c.State.ExitCode != 3 {
		t.Fatalf("the run's own report: %+v", c.State)
	}
	if len(a.ended) != 1 || a.ended[0] != current {
		t.Fatalf("runs ended: %v, want [%s]", a.ended, current)
	}
}
