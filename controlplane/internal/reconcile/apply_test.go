package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/store"
)

// idleLauncher is a Launcher whose executions never end by themselves: in these tests only ApplyOutcome ends them.
type idleLauncher struct{}

func (idleLauncher) Launch(context.Context, containers.LaunchSpec) (string, error) { return "", nil }
func (idleLauncher) Cancel(context.Context, string) error                          { return nil }
func (idleLauncher) DeleteExecution(context.Context, string) error                 { return nil }
func (idleLauncher) Wait(ctx context.Context, _ string) (containers.Outcome, error) {
	<-ctx.Done()
	return containers.Outcome{}, ctx.Err()
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	firestoreClient(t) // skips without the emulator
	st, err := store.Open(context.Background(), testProject, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// runningContainer stores a container running execution exec and returns its ID.
func runningContainer(t *testing.T, st *store.Store, exec string) string {
	t.Helper()
	c := &containers.Container{ID: uniqueID("c") + "0000000000000000000000000000000000000000000000000000", Owner: "apply@test",
		Name: uniqueID("n"), Created: time.Now(), Image: "alpine",
		State:      containers.State{Status: container.StateRunning, StartedAt: time.Now(), Execution: exec},
		Executions: []string{exec}}
	if err := st.CreateContainer(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.DeleteContainer(context.Background(), c.ID) })
	return c.ID
}

type step struct {
	out         containers.Outcome
	enrich      bool
	wantChanged bool
}

func TestApplyOutcomeKeepsTheFirstHandExit(t *testing.T) {
	st := openStore(t)
	svc := containers.New(containers.Options{Store: st, Launcher: idleLauncher{}})
	defer svc.Close()
	at := time.Now().UTC().Truncate(time.Microsecond)
	exit3 := containers.Outcome{ExitCode: 3, FinishedAt: at}
	sig9 := containers.Outcome{ExitCode: 137, Signal: 9, FinishedAt: at}
	oom := containers.Outcome{ExitCode: 137, Signal: 9, OOMKilled: true, FinishedAt: at.Add(time.Second)}
	timeout := containers.Outcome{ExitCode: 137, Signal: 9, Error: "task timed out", FinishedAt: at.Add(time.Second)}
	cancelled := containers.Outcome{ExitCode: 137, Signal: 9, Error: containers.ErrorCancelled, FinishedAt: at.Add(time.Second)}
	for _, c := range []struct {
		name  string
		steps []step
		want  containers.State
	}{
		{"same exit twice", []step{{exit3, false, true}, {exit3, false, false}},
			containers.State{ExitCode: 3}},
		{"less precise after precise", []step{{exit3, false, true}, {cancelled, false, false}, {sig9, false, false}},
			containers.State{ExitCode: 3}},
		{"oom enriches a 137", []step{{sig9, false, true}, {oom, true, true}, {oom, true, false}},
			containers.State{ExitCode: 137, OOMKilled: true}},
		{"oom never rewrites another exit code", []step{{exit3, false, true}, {oom, true, false}},
			containers.State{ExitCode: 3}},
		{"timeout enriches a 137", []step{{sig9, false, true}, {timeout, true, true}, {sig9, false, false}},
			containers.State{ExitCode: 137, Error: "task timed out"}},
		{"timeout explains a first-hand SIGTERM exit", []step{{containers.Outcome{ExitCode: 143, FinishedAt: at}, false, true}, {timeout, true, true}, {timeout, true, false}},
			containers.State{ExitCode: 143, Error: "task timed out"}},
		{"oom first, then the exit", []step{{oom, true, true}, {sig9, false, false}},
			containers.State{ExitCode: 137, OOMKilled: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			exec := "projects/p/locations/r/jobs/j/executions/" + uniqueID("e-")
			id := runningContainer(t, st, exec)
			_, live, err := svc.Events(ctx, "", time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range c.steps {
				changed, err := svc.ApplyOutcome(ctx, id, exec[len(exec)-14:], s.out, s.enrich)
				if err != nil || changed != s.wantChanged {
					t.Fatalf("step %d: changed %v, %v; want %v", i, changed, err, s.wantChanged)
				}
			}
			got, err := st.GetContainer(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			s := got.State
			if s.Status != container.StateExited || s.ExitCode != c.want.ExitCode || s.OOMKilled != c.want.OOMKilled || s.Error != c.want.Error {
				t.Fatalf("state %+v, want exit %d oom %v error %q", s, c.want.ExitCode, c.want.OOMKilled, c.want.Error)
			}
			dies := 0
			for len(live) > 0 || dies == 0 {
				select {
				case e := <-live:
					if e.ActorID == id && e.Action == "die" {
						dies++
						if e.Exit == nil || e.Exit.ExitCode != c.want.ExitCode {
							t.Fatalf("die event carries %+v, want exit %d", e.Exit, c.want.ExitCode)
						}
					}
				case <-time.After(time.Second):
					t.Fatalf("%d die events", dies)
				}
			}
			if dies != 1 {
				t.Fatalf("%d die events, want 1", dies)
			}
		})
	}
}
