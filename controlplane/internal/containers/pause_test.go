package containers

import (
	"context"
	"path"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// pauseAgent records what the Service asks of the agent; a SIGKILL ends the run as the agent would report it.
type pauseAgent struct {
	bootAgent
	s     *Service
	mu    sync.Mutex
	calls []string
}

func (a *pauseAgent) record(call string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, call)
}

func (a *pauseAgent) Signal(_ context.Context, id string, sig syscall.Signal) error {
	a.record("signal " + sig.String())
	if sig == syscall.SIGKILL {
		c, _ := a.s.store.GetContainer(context.Background(), id)
		go a.s.AgentExited(id, path.Base(c.State.Execution), 137, false, time.Now())
	}
	return nil
}
func (a *pauseAgent) Pause(context.Context, string) error   { a.record("pause"); return nil }
func (a *pauseAgent) Unpause(context.Context, string) error { a.record("unpause"); return nil }

func (a *pauseAgent) took() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// pauseID is the container's ID (a full ID resolves without a name index).
const pauseID = "c0ffee0000000000000000000000000000000000000000000000000000000001"

// newPauseService is a Service whose container "c" runs (through the barrier launcher, one start at a time).
func newPauseService(t *testing.T) (*Service, *memStore, *pauseAgent) {
	t.Helper()
	st := &memStore{m: map[string]*Container{pauseID: {ID: pauseID, Name: "c", Owner: "o", ImageRef: "img"}}}
	l := &barrierLauncher{together: 1, all: make(chan struct{})}
	a := &pauseAgent{}
	s := New(Options{Store: st, Launcher: l, Agent: a})
	a.s = s
	t.Cleanup(func() { s.Close() })
	c, _ := st.GetContainer(context.Background(), pauseID)
	if err := s.start(context.Background(), c, startManual); err != nil {
		t.Fatal(err)
	}
	return s, st, a
}

func (s *memStore) actions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.events {
		out = append(out, e.Action)
	}
	return out
}

// Docker's rules for pause and unpause, and what they refuse, in order on one running container.
func TestPauseRules(t *testing.T) {
	s, st, a := newPauseService(t)
	bg, o := context.Background(), identity.Principal{Email: "o"}
	step := func(what string, err error, want error) {
		t.Helper()
		if (want == nil && err != nil) || (want != nil && !errorIs(err, want)) {
			t.Fatalf("%s: %v, want %v", what, err, want)
		}
	}
	paused := func() bool { c, _ := st.GetContainer(bg, pauseID); return c.State.Paused }

	step("unpause a running container", s.Unpause(bg, o, pauseID), errdefs.ErrConflict)
	step("pause", s.Pause(bg, o, pauseID), nil)
	if c, _ := st.GetContainer(bg, pauseID); !c.State.Paused || c.DockerStatus() != "paused" || !c.Running() {
		t.Fatalf("after pause: Paused %v, status %s, running %v", c.State.Paused, c.DockerStatus(), c.Running())
	}
	step("pause again", s.Pause(bg, o, pauseID), errdefs.ErrConflict)
	step("remove a paused container", s.Remove(bg, o, pauseID, false), errdefs.ErrConflict)
	step("start a paused container", s.Start(bg, o, pauseID), errdefs.ErrConflict)
	step("unpause", s.Unpause(bg, o, pauseID), nil)
	if paused() {
		t.Fatal("still paused after unpause")
	}
	step("unpause again", s.Unpause(bg, o, pauseID), errdefs.ErrConflict)

	// A signal other than SIGKILL to a paused container: sent, then the container is unpaused (Docker's kill).
	step("pause", s.Pause(bg, o, pauseID), nil)
	step("kill -s USR1", s.Kill(bg, o, pauseID, "USR1"), nil)
	if paused() {
		t.Fatal("still paused after kill -s USR1")
	}
	// A stop of a paused container: SIGTERM, unpause, and the kill at the timeout ends it.
	step("pause", s.Pause(bg, o, pauseID), nil)
	zero := 0
	step("stop", s.Stop(bg, o, pauseID, &zero, ""), nil)
	c, _ := st.GetContainer(bg, pauseID)
	if c.Running() || c.State.Paused || c.State.ExitCode != 137 {
		t.Fatalf("after stop of a paused container: status %s, paused %v, exit %d; want exited, not paused, 137", c.State.Status, c.State.Paused, c.State.ExitCode)
	}
	step("pause an exited container", s.Pause(bg, o, pauseID), errdefs.ErrConflict)

	wantCalls := []string{"pause", "unpause", "pause", "signal user defined signal 1", "unpause", "pause", "signal terminated", "unpause", "signal killed"}
	if got := a.took(); !slices.Equal(got, wantCalls) {
		t.Errorf("the agent was asked %q, want %q", got, wantCalls)
	}
	var pauses []string
	for _, act := range st.actions() {
		if act == "pause" || act == "unpause" || act == "die" {
			pauses = append(pauses, act)
		}
	}
	if want := []string{"pause", "unpause", "pause", "unpause", "pause", "unpause", "die"}; !slices.Equal(pauses, want) {
		t.Errorf("events %q, want %q", pauses, want)
	}
}

func errorIs(err, kind error) bool {
	switch kind {
	case errdefs.ErrConflict:
		return errdefs.IsConflict(err)
	}
	return false
}
