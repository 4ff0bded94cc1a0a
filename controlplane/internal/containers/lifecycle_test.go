package containers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/containers/containerstest"
)

// lifecycleEnv is one test's Service with alice's container "web" in the state the case asked for.
type lifecycleEnv struct {
	s  *containers.Service
	st *containerstest.Store
	l  *containerstest.Launcher
	id string
}

// actions returns the actions of the container's events recorded after the first skip.
func (e *lifecycleEnv) actions(skip int) []string {
	var out []string
	for _, ev := range e.st.EventsOf(e.id)[skip:] {
		out = append(out, ev.Action)
	}
	return out
}

// The lifecycle rules, each from a known state, on the in-memory store and launcher: state after, error kind,
// exit code and the events recorded, in order.
func TestLifecycle(t *testing.T) {
	bg := context.Background()
	ten := 10
	tests := []struct {
		name       string
		autoRemove bool
		running    bool // started before the action
		act        func(e *lifecycleEnv) error
		wantErr    error                    // the error's kind (nil = success)
		wantStatus container.ContainerState // "" = removed
		wantExit   int
		wantEvents []string // the container's events from the action on
		racyDie    bool     // a die may or may not come before wantEvents (the watcher races the action)
		check      func(t *testing.T, e *lifecycleEnv, c *containers.Container)
	}{
		{name: "start a created container",
			act:        func(e *lifecycleEnv) error { return e.s.Start(bg, alice, "web") },
			wantStatus: container.StateRunning, wantEvents: []string{"start"},
			check: func(t *testing.T, e *lifecycleEnv, c *containers.Container) {
				if c.State.Execution != containerstest.Execution(1) || !slices.Equal(c.Executions, []string{containerstest.Execution(1)}) {
					t.Errorf("execution %q, executions %v; want the one launched", c.State.Execution, c.Executions)
				}
				if specs := e.l.Specs(); len(specs) != 1 || specs[0].ContainerID != e.id || specs[0].Owner != alice.Email {
					t.Errorf("launches %+v; want one for the container and its owner", specs)
				}
			}},
		{name: "start a running container", running: true,
			act:     func(e *lifecycleEnv) error { return e.s.Start(bg, alice, "web") },
			wantErr: errdefs.ErrNotModified, wantStatus: container.StateRunning},
		{name: "start when Cloud Run refuses",
			act: func(e *lifecycleEnv) error {
				e.l.SetFail(fmt.Errorf("run job: %w", errdefs.ErrResourceExhausted))
				return e.s.Start(bg, alice, "web")
			},
			wantErr: errdefs.ErrResourceExhausted, wantStatus: container.StateCreated},
		{name: "an --rm container that fails to start is removed", autoRemove: true,
			act: func(e *lifecycleEnv) error {
				e.l.SetFail(fmt.Errorf("run job: %w", errdefs.ErrInvalidArgument))
				return e.s.Start(bg, alice, "web")
			},
			wantErr: errdefs.ErrInvalidArgument, wantStatus: "", wantEvents: []string{"destroy"}},
		{name: "stop a running container", running: true,
			act:        func(e *lifecycleEnv) error { return e.s.Stop(bg, alice, "web", &ten, "") },
			wantStatus: container.StateExited, wantExit: 137, wantEvents: []string{"die", "stop"},
			check: func(t *testing.T, e *lifecycleEnv, c *containers.Container) {
				if !c.State.StopRequested || c.State.Execution != "" || c.State.FinishedAt.IsZero() {
					t.Errorf("state %+v; want a requested stop, no execution, a finish time", c.State)
				}
			}},
		{name: "stop a stopped container",
			act:     func(e *lifecycleEnv) error { return e.s.Stop(bg, alice, "web", nil, "") },
			wantErr: errdefs.ErrNotModified, wantStatus: container.StateCreated},
		{name: "stop with a bad signal", running: true,
			act:     func(e *lifecycleEnv) error { return e.s.Stop(bg, alice, "web", nil, "NOPE") },
			wantErr: errdefs.ErrInvalidArgument, wantStatus: container.StateRunning},
		{name: "kill a running container", running: true,
			act:        func(e *lifecycleEnv) error { return e.s.Kill(bg, alice, "web", "") },
			wantStatus: container.StateExited, wantExit: 137, wantEvents: []string{"kill", "die"}},
		{name: "kill a stopped container",
			act:     func(e *lifecycleEnv) error { return e.s.Kill(bg, alice, "web", "") },
			wantErr: errdefs.ErrConflict, wantStatus: container.StateCreated},
		{name: "restart a running container", running: true,
			act:        func(e *lifecycleEnv) error { return e.s.Restart(bg, alice, "web", &ten, "") },
			wantStatus: container.StateRunning, wantEvents: []string{"die", "start", "restart"},
			check: func(t *testing.T, e *lifecycleEnv, c *containers.Container) {
				// As Docker's: docker restart starts the restart policy afresh; RestartCount counts only its restarts.
				if c.RestartCount != 0 || len(c.Executions) != 2 || c.State.Execution != containerstest.Execution(2) {
					t.Errorf("restart count %d, executions %v, current %q; want 0, two, the second", c.RestartCount, c.Executions, c.State.Execution)
				}
			}},
		{name: "restart a created container",
			act:        func(e *lifecycleEnv) error { return e.s.Restart(bg, alice, "web", nil, "") },
			wantStatus: container.StateRunning, wantEvents: []string{"start", "restart"}},
		{name: "remove a running container without force", running: true,
			act:     func(e *lifecycleEnv) error { return e.s.Remove(bg, alice, "web", false) },
			wantErr: errdefs.ErrConflict, wantStatus: container.StateRunning},
		{name: "force-remove a running container", running: true,
			act:        func(e *lifecycleEnv) error { return e.s.Remove(bg, alice, "web", true) },
			wantStatus: "", wantEvents: []string{"destroy"}, racyDie: true,
			check: func(t *testing.T, e *lifecycleEnv, _ *containers.Container) {
				if got := e.l.Deleted(); !slices.Contains(got, containerstest.Execution(1)) {
					t.Errorf("deleted executions %v; want the container's", got)
				}
				if _, err := e.s.Create(bg, alice, containers.CreateRequest{Name: "web", Config: container.Config{Image: "alpine"}}); err != nil {
					t.Errorf("the name is not free after rm: %v", err)
				}
			}},
		{name: "remove an unknown container",
			act:     func(e *lifecycleEnv) error { return e.s.Remove(bg, alice, "nope", false) },
			wantErr: errdefs.ErrNotFound, wantStatus: container.StateCreated},
		{name: "an exit is recorded with its code", running: true,
			act: func(e *lifecycleEnv) error {
				ch, _, err := e.s.Wait(bg, alice, "web", container.WaitConditionNextExit, nil)
				if err != nil {
					return err
				}
				e.l.Finish(containerstest.Execution(1), containers.Outcome{ExitCode: 3, Error: "task timed out", FinishedAt: time.Now()})
				if res := <-ch; res.ExitCode != 3 || res.Error != "task timed out" {
					return fmt.Errorf("wait = %+v; want exit 3, the outcome's error", res)
				}
				return nil
			},
			wantStatus: container.StateExited, wantExit: 3, wantEvents: []string{"die"},
			check: func(t *testing.T, e *lifecycleEnv, c *containers.Container) {
				if c.State.Error != "task timed out" || c.State.StopRequested {
					t.Errorf("state %+v; want the outcome's error and no requested stop", c.State)
				}
			}},
		{name: "an --rm container is removed when it exits", autoRemove: true, running: true,
			act: func(e *lifecycleEnv) error {
				ch, _, err := e.s.Wait(bg, alice, "web", container.WaitConditionRemoved, nil)
				if err != nil {
					return err
				}
				e.l.Finish(containerstest.Execution(1), containers.Outcome{ExitCode: 0, FinishedAt: time.Now()})
				<-ch
				return nil
			},
			wantStatus: "", wantEvents: []string{"die", "destroy"}},
		{name: "a late outcome of an earlier execution leaves the current run alone", running: true,
			act: func(e *lifecycleEnv) error {
				if err := e.s.Restart(bg, alice, "web", nil, ""); err != nil {
					return err
				}
				changed, err := e.s.ApplyOutcome(bg, e.id, "e1", containers.Outcome{ExitCode: 9, FinishedAt: time.Now()}, true)
				if changed {
					return errors.New("the earlier execution's outcome changed the container")
				}
				return err
			},
			wantStatus: container.StateRunning, wantEvents: []string{"die", "start", "restart"}},
		{name: "the current execution's outcome ends it", running: true,
			act: func(e *lifecycleEnv) error {
				_, err := e.s.ApplyOutcome(bg, e.id, "e1", containers.Outcome{ExitCode: 2, OOMKilled: true, FinishedAt: time.Now()}, true)
				return err
			},
			wantStatus: container.StateExited, wantExit: 2, wantEvents: []string{"oom", "die"},
			check: func(t *testing.T, e *lifecycleEnv, c *containers.Container) {
				if !c.State.OOMKilled {
					t.Errorf("state %+v; want OOMKilled", c.State)
				}
			}},
		{name: "rename", act: func(e *lifecycleEnv) error { return e.s.Rename(bg, alice, "web", "api") },
			wantStatus: container.StateCreated, wantEvents: []string{"rename"},
			check: func(t *testing.T, e *lifecycleEnv, c *containers.Container) {
				if c.Name != "api" {
					t.Errorf("name %q, want api", c.Name)
				}
				if _, err := e.s.Resolve(bg, alice, "web"); !errdefs.IsNotFound(err) {
					t.Errorf("the old name still resolves: %v", err)
				}
			}},
		{name: "rename to a name in use",
			act: func(e *lifecycleEnv) error {
				mustCreate(t, e.s, alice, "db", nil)
				return e.s.Rename(bg, alice, "web", "db")
			},
			wantErr: errdefs.ErrConflict, wantStatus: container.StateCreated},
		{name: "rename to the same name",
			act:     func(e *lifecycleEnv) error { return e.s.Rename(bg, alice, "web", "web") },
			wantErr: errdefs.ErrInvalidArgument, wantStatus: container.StateCreated},
		{name: "create with a name in use",
			act: func(e *lifecycleEnv) error {
				_, err := e.s.Create(bg, alice, containers.CreateRequest{Name: "web", Config: container.Config{Image: "alpine"}})
				return err
			},
			wantErr: errdefs.ErrConflict, wantStatus: container.StateCreated},
		{name: "another user may use the same name",
			act: func(e *lifecycleEnv) error {
				_, err := e.s.Create(bg, bob, containers.CreateRequest{Name: "web", Config: container.Config{Image: "alpine"}})
				return err
			},
			wantStatus: container.StateCreated},
		{name: "create from an unknown image",
			act: func(e *lifecycleEnv) error {
				_, err := e.s.Create(bg, alice, containers.CreateRequest{Config: container.Config{Image: "nope"}})
				return err
			},
			wantErr: errdefs.ErrNotFound, wantStatus: container.StateCreated},
		{name: "prune leaves a running container", running: true,
			act: func(e *lifecycleEnv) error {
				rep, err := e.s.Prune(bg, alice, nil)
				if len(rep.ContainersDeleted) != 0 {
					return fmt.Errorf("pruned %v", rep.ContainersDeleted)
				}
				return err
			},
			wantStatus: container.StateRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, st, l := testService(t)
			c, err := s.Create(bg, alice, containers.CreateRequest{Name: "web",
				Config: container.Config{Image: "alpine"}, HostConfig: container.HostConfig{AutoRemove: tt.autoRemove}})
			if err != nil {
				t.Fatal(err)
			}
			e := &lifecycleEnv{s: s, st: st, l: l, id: c.ID}
			if tt.running {
				if err := s.Start(bg, alice, c.ID); err != nil {
					t.Fatal(err)
				}
			}
			skip := len(st.EventsOf(c.ID))
			err = tt.act(e)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v; want %v", err, tt.wantErr)
			}
			got, gerr := st.GetContainer(bg, c.ID)
			switch {
			case tt.wantStatus == "" && !errdefs.IsNotFound(gerr):
				t.Errorf("the container is still there (%v); want it removed", gerr)
			case tt.wantStatus != "" && gerr != nil:
				t.Fatalf("the container: %v", gerr)
			case tt.wantStatus != "" && (got.State.Status != tt.wantStatus || got.State.ExitCode != tt.wantExit):
				t.Errorf("state %s exit %d; want %s exit %d", got.State.Status, got.State.ExitCode, tt.wantStatus, tt.wantExit)
			}
			ev := e.actions(skip)
			if tt.racyDie && len(ev) > 0 && ev[0] == "die" {
				ev = ev[1:]
			}
			if !slices.Equal(ev, tt.wantEvents) {
				t.Errorf("events %v; want %v", ev, tt.wantEvents)
			}
			if tt.check != nil {
				tt.check(t, e, got)
			}
		})
	}
}

// Starts at once: one runs the container, the others are told it already runs, and an execution a loser launched is
// an orphan, cancelled and deleted — the container keeps the winner's.
func TestConcurrentStarts(t *testing.T) {
	bg := context.Background()
	for range 20 {
		s, st, l := testService(t)
		c := mustCreate(t, s, alice, "web", nil)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = s.Start(bg, alice, "web") })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errdefs.IsNotModified(err):
				t.Fatalf("a concurrent start: %v", err)
			}
		}
		got, err := st.GetContainer(bg, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ok != 1 || len(got.Executions) != 1 || !got.Running() {
			t.Fatalf("%d starts succeeded, executions %v, status %s; want one", ok, got.Executions, got.State.Status)
		}
		// A start that saw the container running launched nothing; one that lost the race after launching deleted its own.
		if orphans := l.Deleted(); len(orphans) != len(l.Specs())-1 || slices.Contains(orphans, got.State.Execution) {
			t.Fatalf("launched %d, deleted %v; want every execution but the container's %s", len(l.Specs()), orphans, got.State.Execution)
		}
	}
}

// A restarted control plane re-attaches a watcher to each running container, so an exit is not lost.
func TestResumeWatchesRunningContainers(t *testing.T) {
	bg := context.Background()
	st, l := containerstest.NewStore(), containerstest.NewLauncher()
	first := containers.New(containers.Options{Store: st, Launcher: l, Images: containerstest.Images{}})
	c := mustCreate(t, first, alice, "web", nil)
	if err := first.Start(bg, alice, "web"); err != nil {
		t.Fatal(err)
	}
	first.Close()

	second := containers.New(containers.Options{Store: st, Launcher: l, Images: containerstest.Images{}})
	t.Cleanup(func() { second.Close() })
	if err := second.Resume(bg); err != nil {
		t.Fatal(err)
	}
	ch, _, err := second.Wait(bg, alice, "web", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Finish(containerstest.Execution(1), containers.Outcome{ExitCode: 5, FinishedAt: time.Now()})
	select {
	case res := <-ch:
		if res.ExitCode != 5 {
			t.Errorf("wait = %+v; want exit 5", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the resumed Service did not record %s's exit", c.ID)
	}
}
