package containers_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/containers/containerstest"
)

// policyContainer creates and starts alice's "web" with policy.
func policyContainer(t *testing.T, s *containers.Service, policy container.RestartPolicy, stopSignal string) *containers.Container {
	t.Helper()
	c, err := s.Create(context.Background(), alice, containers.CreateRequest{Name: "web",
		Config: container.Config{Image: "alpine", StopSignal: stopSignal}, HostConfig: container.HostConfig{RestartPolicy: policy}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), alice, "web"); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitState polls the store until the container is in status with n launches, or fails.
func waitState(t *testing.T, st *containerstest.Store, l *containerstest.Launcher, id string, status container.ContainerState, launches int) *containers.Container {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := st.GetContainer(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State.Status == status && len(l.Specs()) == launches {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %s after %d launches; want %s after %d", c.State.Status, len(l.Specs()), status, launches)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// holdRestarts keeps every restart backoff of s waiting until s closes, so a container stays "restarting".
func holdRestarts(s *containers.Service) {
	containers.SetSleep(s, func(ctx context.Context, d time.Duration) error {
		<-ctx.Done()
		return ctx.Err()
	})
}

// on-failure:2 of a command that exits 3 (Docker: RestartCount 2, exit 3, exited), with the backoff's die → start
// events and Docker's 100 ms then 200 ms between them.
func TestOnFailureRestartsUpToTheMaximum(t *testing.T) {
	s, st, l := testService(t)
	c := policyContainer(t, s, container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 2}, "")
	for n := 1; n <= 3; n++ {
		l.Finish(containerstest.Execution(n), containers.Outcome{ExitCode: 3, FinishedAt: time.Now()})
		if n < 3 {
			got := waitState(t, st, l, c.ID, container.StateRunning, n+1)
			if got.RestartCount != n || got.RestartDelay != time.Duration(n)*100*time.Millisecond {
				t.Fatalf("after exit %d: RestartCount %d, delay %s; want %d, %d00ms", n, got.RestartCount, got.RestartDelay, n, n)
			}
		}
	}
	got := waitState(t, st, l, c.ID, container.StateExited, 3)
	if got.RestartCount != 2 || got.State.ExitCode != 3 {
		t.Errorf("RestartCount %d exit %d; want 2, 3", got.RestartCount, got.State.ExitCode)
	}
	var actions []string
	for _, e := range st.EventsOf(c.ID) {
		actions = append(actions, e.Action)
	}
	want := []string{"create", "start", "die", "start", "die", "start", "die"}
	if !slices.Equal(actions, want) {
		t.Errorf("events %v; want %v", actions, want)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(l.Specs()); n != 3 {
		t.Errorf("%d launches; want no more after the maximum", n)
	}
}

// on-failure does not restart a clean exit; always does; unless-stopped does, but not after a kill.
func TestPolicyDecisions(t *testing.T) {
	tests := []struct {
		name    string
		policy  container.RestartPolicy
		exit    int
		kill    string // a kill before the exit ("" = none)
		stopSig string
		restart bool
	}{
		{name: "on-failure, exit 0", policy: container.RestartPolicy{Name: container.RestartPolicyOnFailure}, exit: 0},
		{name: "on-failure, exit 1", policy: container.RestartPolicy{Name: container.RestartPolicyOnFailure}, exit: 1, restart: true},
		{name: "always, exit 0", policy: container.RestartPolicy{Name: container.RestartPolicyAlways}, exit: 0, restart: true},
		{name: "no, exit 1", policy: container.RestartPolicy{Name: container.RestartPolicyDisabled}, exit: 1},
		{name: "unless-stopped, exit 0", policy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}, restart: true},
		// Docker's kill: SIGKILL cancels the policy of any container.
		{name: "always, killed", policy: container.RestartPolicy{Name: container.RestartPolicyAlways}, kill: "KILL"},
		{name: "unless-stopped, killed", policy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}, kill: "KILL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, st, l := testService(t)
			c := policyContainer(t, s, tt.policy, tt.stopSig)
			if tt.kill != "" {
				if err := s.Kill(context.Background(), alice, "web", tt.kill); err != nil {
					t.Fatal(err)
				}
			} else {
				l.Finish(containerstest.Execution(1), containers.Outcome{ExitCode: tt.exit, FinishedAt: time.Now()})
			}
			if tt.restart {
				waitState(t, st, l, c.ID, container.StateRunning, 2)
				return
			}
			waitState(t, st, l, c.ID, container.StateExited, 1)
			time.Sleep(300 * time.Millisecond)
			if n := len(l.Specs()); n != 1 {
				t.Errorf("%d launches; want no restart", n)
			}
		})
	}
}

// docker stop ends the loop of an always container, running or restarting; wait returns with the last exit; docker
// start begins it afresh.
func TestStopEndsTheRestartLoop(t *testing.T) {
	bg := context.Background()
	t.Run("running", func(t *testing.T) {
		s, st, l := testService(t)
		c := policyContainer(t, s, container.RestartPolicy{Name: container.RestartPolicyAlways}, "")
		if err := s.Stop(bg, alice, "web", nil, ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		got := waitState(t, st, l, c.ID, container.StateExited, 1)
		if !got.RestartCancelled || !got.ManuallyStopped {
			t.Errorf("record %+v; want the policy cancelled by a manual stop", got)
		}
	})
	t.Run("restarting", func(t *testing.T) {
		s, st, l := testService(t)
		holdRestarts(s)
		c := policyContainer(t, s, container.RestartPolicy{Name: container.RestartPolicyAlways}, "")
		l.Finish(containerstest.Execution(1), containers.Outcome{ExitCode: 7, FinishedAt: time.Now()})
		got := waitState(t, st, l, c.ID, container.StateRestarting, 1)
		if got.RestartCount != 1 || got.State.ExitCode != 7 || got.State.Execution != "" {
			t.Fatalf("restarting record %+v; want RestartCount 1, exit 7, no execution", got)
		}
		if err := s.Start(bg, alice, "web"); !errdefs.IsNotModified(err) {
			t.Errorf("start of a restarting container: %v; want not modified, as Docker", err)
		}
		if err := s.Remove(bg, alice, "web", false, false); !errdefs.IsConflict(err) {
			t.Errorf("rm of a restarting container: %v; want a conflict", err)
		}
		ch, _, err := s.Wait(bg, alice, "web", container.WaitConditionNotRunning, nil)
		if err != nil {
			t.Fatal(err)
		}
		skip := len(st.EventsOf(c.ID))
		if err := s.Stop(bg, alice, "web", nil, ""); err != nil {
			t.Fatal(err)
		}
		select {
		case res := <-ch:
			if res.ExitCode != 7 {
				t.Errorf("wait = %+v; want the last exit, 7", res)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("wait did not return when the restarting container was stopped")
		}
		got = waitState(t, st, l, c.ID, container.StateExited, 1)
		if got.State.ExitCode != 7 || got.RestartCount != 1 {
			t.Errorf("after stop: exit %d RestartCount %d; want 7, 1", got.State.ExitCode, got.RestartCount)
		}
		var actions []string
		for _, e := range st.EventsOf(c.ID)[skip:] {
			actions = append(actions, e.Action)
		}
		if !slices.Equal(actions, []string{"stop"}) {
			t.Errorf("events %v; want [stop]", actions)
		}
		if err := s.Stop(bg, alice, "web", nil, ""); !errdefs.IsNotModified(err) {
			t.Errorf("second stop: %v; want not modified", err)
		}
		if err := s.Start(bg, alice, "web"); err != nil {
			t.Fatal(err)
		}
		got = waitState(t, st, l, c.ID, container.StateRunning, 2)
		if got.RestartCount != 0 || got.RestartCancelled || got.ManuallyStopped {
			t.Errorf("after docker start: %+v; want the policy afresh", got)
		}
	})
}

// A kill with a signal other than the container's own stop signal leaves an always policy on: Docker restarts it.
func TestKillWithAnotherSignalKeepsThePolicy(t *testing.T) {
	s, st, l := testService(t)
	holdRestarts(s)
	c := policyContainer(t, s, container.RestartPolicy{Name: container.RestartPolicyAlways}, "SIGINT")
	l.Finish(containerstest.Execution(1), containers.Outcome{ExitCode: 1, FinishedAt: time.Now()})
	waitState(t, st, l, c.ID, container.StateRestarting, 1)
	if err := s.Kill(context.Background(), alice, "web", "SIGUSR1"); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, st, l, c.ID, container.StateRestarting, 1)
	if got.RestartCancelled || !got.ManuallyStopped {
		t.Errorf("record %+v; want the policy on, the container marked manually stopped", got)
	}
	if err := s.Kill(context.Background(), alice, "web", "SIGINT"); err != nil {
		t.Fatal(err)
	}
	waitState(t, st, l, c.ID, container.StateExited, 1)
}

// The restart policy's state is in the store: a new Service (a control-plane restart) starts a restarting container
// again, and the reconciler's backstop starts one whose moment has passed.
func TestRestartingSurvivesTheControlPlane(t *testing.T) {
	bg := context.Background()
	for _, how := range []string{"resume", "backstop"} {
		t.Run(how, func(t *testing.T) {
			st, l := containerstest.NewStore(), containerstest.NewLauncher()
			first := containers.New(containers.Options{Store: st, Launcher: l, Images: containerstest.Images{}})
			holdRestarts(first)
			c := policyContainer(t, first, container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}, "")
			l.Finish(containerstest.Execution(1), containers.Outcome{ExitCode: 0, FinishedAt: time.Now()})
			waitState(t, st, l, c.ID, container.StateRestarting, 1)
			first.Close()

			second := containers.New(containers.Options{Store: st, Launcher: l, Images: containerstest.Images{}})
			t.Cleanup(func() { second.Close() })
			switch how {
			case "resume":
				if err := second.Resume(bg); err != nil {
					t.Fatal(err)
				}
			case "backstop":
				list, err := st.ListContainers(bg, "")
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(150 * time.Millisecond) // past the 100 ms backoff
				if n, err := second.RestartDue(bg, list, 0); n != 1 || err != nil {
					t.Fatalf("RestartDue = %d, %v; want 1 started", n, err)
				}
			}
			got := waitState(t, st, l, c.ID, container.StateRunning, 2)
			if got.RestartCount != 1 {
				t.Errorf("RestartCount %d; want 1", got.RestartCount)
			}
		})
	}
}

// Docker's checks of a restart policy at create.
func TestCreateChecksThePolicy(t *testing.T) {
	tests := []struct {
		hc   container.HostConfig
		want string
	}{
		{container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "sometimes"}},
			"invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"},
		{container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "always", MaximumRetryCount: 2}},
			"invalid restart policy: maximum retry count can only be used with 'on-failure'"},
		{container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: -1}},
			"invalid restart policy: maximum retry count cannot be negative"},
		{container.HostConfig{AutoRemove: true, RestartPolicy: container.RestartPolicy{Name: "always"}},
			"can't create 'AutoRemove' container with restart policy"},
	}
	s, st, _ := testService(t)
	for _, tt := range tests {
		_, err := s.Create(context.Background(), alice, containers.CreateRequest{Config: container.Config{Image: "alpine"}, HostConfig: tt.hc})
		if !errdefs.IsInvalidArgument(err) || err.Error() != tt.want {
			t.Errorf("create with %+v: %v; want invalid argument %q", tt.hc.RestartPolicy, err, tt.want)
		}
	}
	if list, _ := st.ListContainers(context.Background(), ""); len(list) != 0 {
		t.Errorf("%d containers stored; a refused create changes nothing", len(list))
	}
	c, err := s.Create(context.Background(), alice, containers.CreateRequest{Config: container.Config{Image: "alpine"}})
	if err != nil || c.HostConfig.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("default policy %q (%v); want %q as Docker records it", c.HostConfig.RestartPolicy.Name, err, container.RestartPolicyDisabled)
	}
}

// docker update: the policy of a created container, Docker's refusals, and resources of a running one with a
// warning that they apply from the next start.
func TestUpdate(t *testing.T) {
	bg := context.Background()
	s, st, l := testService(t)
	c := mustCreate(t, s, alice, "web", nil)
	warnings, err := s.Update(bg, alice, "web", container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 1}})
	if err != nil || len(warnings) != 0 {
		t.Fatalf("update: %v %v", warnings, err)
	}
	got, _ := st.GetContainer(bg, c.ID)
	if p := got.HostConfig.RestartPolicy; p.Name != "on-failure" || p.MaximumRetryCount != 1 {
		t.Errorf("policy %+v; want on-failure:1", p)
	}
	if _, err := s.Update(bg, alice, "web", container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: "sometimes"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad policy: %v; want invalid argument", err)
	}
	if _, err := s.Update(bg, bob, "web", container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: "always"}}); !errdefs.IsNotFound(err) {
		t.Errorf("bob's update of alice's container: %v; want not found", err)
	}
	if err := s.Start(bg, alice, "web"); err != nil {
		t.Fatal(err)
	}
	warnings, err = s.Update(bg, alice, "web", container.UpdateConfig{Resources: container.Resources{NanoCPUs: 2e9, Memory: 1 << 30}})
	if err != nil || !slices.Equal(warnings, []string{containers.WarningResourcesNextStart}) {
		t.Fatalf("update of a running container's resources: %v %v; want the next-start warning", warnings, err)
	}
	got, _ = st.GetContainer(bg, c.ID)
	if got.CPU != "2" || got.MemoryBytes != 1<<30 || got.HostConfig.NanoCPUs != 2e9 || got.HostConfig.RestartPolicy.Name != "on-failure" {
		t.Errorf("record CPU %s memory %d nano %d policy %v; want 2, 1GiB, the policy kept", got.CPU, got.MemoryBytes, got.HostConfig.NanoCPUs, got.HostConfig.RestartPolicy)
	}
	if _, err := s.Update(bg, alice, "web", container.UpdateConfig{Resources: container.Resources{NanoCPUs: 9e9}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("9 CPUs: %v; want invalid argument (Cloud Run has at most 8)", err)
	}
	if err := s.Restart(bg, alice, "web", nil, ""); err != nil {
		t.Fatal(err)
	}
	if specs := l.Specs(); specs[len(specs)-1].CPU != "2" || specs[len(specs)-1].MemoryBytes != 1<<30 {
		t.Errorf("next launch %+v; want the updated resources", specs[len(specs)-1])
	}

	rm, err := s.Create(bg, alice, containers.CreateRequest{Name: "rm", Config: container.Config{Image: "alpine"}, HostConfig: container.HostConfig{AutoRemove: true}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Update(bg, alice, "rm", container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: "always"}})
	want := "Cannot update container " + rm.ID + ": Restart policy cannot be updated because AutoRemove is enabled for the container"
	if !errors.Is(err, errdefs.ErrConflict) || err.Error() != want {
		t.Errorf("always on an --rm container: %v; want conflict %q", err, want)
	}
}
