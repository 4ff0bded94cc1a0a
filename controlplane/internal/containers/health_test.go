package containers_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/containers/containerstest"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// countingStore counts the container writes (UpdateContainer) a test causes.
type countingStore struct {
	*containerstest.Store
	n atomic.Int64
}

func (c *countingStore) UpdateContainer(ctx context.Context, id string, fn func(*containers.Container) error) (*containers.Container, error) {
	c.n.Add(1)
	return c.Store.UpdateContainer(ctx, id, fn)
}

func (c *countingStore) writes() int { return int(c.n.Load()) }

func probe(at time.Time, code int) containers.ProbeResult {
	return containers.ProbeResult{ExecID: at.Format("150405.000"), HealthResult: containers.HealthResult{Start: at, End: at.Add(time.Millisecond), ExitCode: code}}
}

// A running container's health as the agent reports it: a status change is written and announced at once; results
// that only add to the log are seen by inspect at once but written only with the next change (or after the flush
// interval); a resent report adds nothing; the log keeps five results; the run's end leaves unhealthy with the log,
// a new start begins at starting with it; each new probe gives Docker's exec events, live only.
func TestRecordHealth(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: containerstest.NewStore()}
	l := containerstest.NewLauncher()
	s := containers.New(containers.Options{Store: st, Launcher: l, Images: containerstest.Images{}})
	t.Cleanup(func() { s.Close() })
	p := identity.Principal{Email: "ann@example.com"}
	hc := &container.HealthConfig{Test: []string{"CMD-SHELL", "test -f /ok"}, Interval: time.Second}
	c, err := s.Create(ctx, p, containers.CreateRequest{Name: "hc", Config: container.Config{Image: "alpine", Healthcheck: hc}})
	if err != nil {
		t.Fatal(err)
	}
	if spec, ok := containers.HealthcheckOf(c); !ok || strings.Join(spec.Cmd, " ") != "/bin/sh -c test -f /ok" || spec.Timeout != 30*time.Second || spec.Retries != 3 || spec.StartInterval != 5*time.Second {
		t.Fatalf("HealthcheckOf = %+v, %v; want the shell form with Docker's defaults", spec, ok)
	}
	if c.State.Health != nil {
		t.Fatalf("a created container has Health %+v, want none", c.State.Health)
	}
	if err := s.Start(ctx, p, "hc"); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Resolve(ctx, p, "hc")
	if c.State.Health == nil || c.State.Health.Status != container.Starting {
		t.Fatalf("after start: Health %+v, want starting", c.State.Health)
	}
	exec := c.State.Execution
	_, live, err := s.Events(ctx, p.Email, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var log []containers.ProbeResult
	report := func(status container.HealthStatus, streak int, r containers.ProbeResult) {
		log = append(log, r)
		if len(log) > 5 {
			log = log[1:]
		}
		s.RecordHealth(ctx, c.ID, exec, containers.HealthReport{Status: status, FailingStreak: streak, Log: append([]containers.ProbeResult(nil), log...)})
	}
	health := func() *containers.Health {
		c, err := s.Resolve(ctx, p, "hc")
		if err != nil {
			t.Fatal(err)
		}
		return c.State.Health
	}
	stored := func() *containers.Health {
		c, _ := st.GetContainer(ctx, c.ID)
		return c.State.Health
	}

	before := st.writes()
	report(container.Starting, 1, probe(t0, 1))
	if st.writes() != before {
		t.Errorf("a result that changes no status wrote the record %d times", st.writes()-before)
	}
	if h := health(); h.FailingStreak != 1 || len(h.Log) != 1 {
		t.Errorf("inspect after a failed probe: %+v, want streak 1 and the result", h)
	}
	report(container.Unhealthy, 2, probe(t0.Add(time.Second), 1))
	if st.writes() != before+1 || stored().Status != container.Unhealthy || len(stored().Log) != 2 {
		t.Errorf("a status change: %d writes, stored %+v; want one write with both results", st.writes()-before, stored())
	}
	for i := 2; i < 8; i++ {
		report(container.Unhealthy, i+1, probe(t0.Add(time.Duration(i)*time.Second), 1))
	}
	report(container.Healthy, 0, probe(t0.Add(8*time.Second), 0))
	h := health()
	if h.Status != container.Healthy || len(h.Log) != 5 || !h.Log[4].Start.Equal(t0.Add(8*time.Second)) || !h.Log[0].Start.Equal(t0.Add(4*time.Second)) {
		t.Errorf("after 9 probes: %+v; want healthy and the last five results, oldest first", h)
	}
	writes := st.writes()
	s.RecordHealth(ctx, c.ID, exec, containers.HealthReport{Status: container.Healthy, Log: append([]containers.ProbeResult(nil), log...)})
	if st.writes() != writes || len(health().Log) != 5 {
		t.Errorf("a resent report wrote or changed the log")
	}
	s.RecordHealth(ctx, c.ID, "projects/p/locations/r/jobs/j/executions/other", containers.HealthReport{Status: container.Unhealthy, Log: []containers.ProbeResult{probe(t0.Add(9*time.Second), 1)}})
	if h := health(); h.Status != container.Healthy || len(h.Log) != 5 || !h.Log[4].Start.Equal(t0.Add(8*time.Second)) {
		t.Errorf("a report of another run changed the health: %+v", h)
	}

	var actions []string
	deadline := time.After(5 * time.Second)
collect:
	for {
		select {
		case e := <-live:
			if e.Action == "health_status: healthy" {
				actions = append(actions, e.Action)
				break collect
			}
			actions = append(actions, e.Action)
		case <-deadline:
			break collect
		}
	}
	got := strings.Join(actions, "\n")
	if strings.Count(got, "exec_create: /bin/sh -c test -f /ok") != 9 || strings.Count(got, "exec_start: /bin/sh -c test -f /ok") != 9 ||
		strings.Count(got, "exec_die") != 9 || !strings.Contains(got, "health_status: unhealthy") || !strings.HasSuffix(got, "health_status: healthy") {
		t.Errorf("events:\n%s\nwant each probe's exec events and health_status at each change", got)
	}
	for _, e := range st.EventsOf(c.ID) {
		if strings.HasPrefix(e.Action, "exec_") {
			t.Errorf("probe event %q recorded; probes' exec events are live only", e.Action)
			break
		}
	}

	if err := s.Stop(ctx, p, "hc", nil, ""); err != nil && !errdefs.IsNotModified(err) {
		t.Fatal(err)
	}
	if h := health(); h == nil || h.Status != container.Unhealthy || len(h.Log) != 5 || !h.Log[4].Start.Equal(t0.Add(8*time.Second)) {
		t.Errorf("after stop: %+v; want unhealthy with the run's last results", h)
	}
	if err := s.Start(ctx, p, "hc"); err != nil {
		t.Fatal(err)
	}
	if h := health(); h.Status != container.Starting || h.FailingStreak != 0 || len(h.Log) != 5 {
		t.Errorf("after a new start: %+v; want starting, no failures, the log kept", h)
	}
}

// Docker's validation of Config.Healthcheck at create, and its merge with the image's.
func TestHealthcheckCreate(t *testing.T) {
	s, _, _ := testService(t)
	p := identity.Principal{Email: "ann@example.com"}
	for _, tc := range []struct {
		hc   container.HealthConfig
		want string
	}{
		{container.HealthConfig{Interval: time.Microsecond}, "Interval in Healthcheck cannot be less than 1ms"},
		{container.HealthConfig{Timeout: -time.Second}, "Timeout in Healthcheck cannot be less than 1ms"},
		{container.HealthConfig{Retries: -1}, "Retries in Healthcheck cannot be negative"},
		{container.HealthConfig{StartPeriod: time.Microsecond}, "StartPeriod in Healthcheck cannot be less than 1ms"},
		{container.HealthConfig{StartInterval: time.Microsecond}, "StartInterval in Healthcheck cannot be less than 1ms"},
	} {
		hc := tc.hc
		_, err := s.Create(context.Background(), p, containers.CreateRequest{Config: container.Config{Image: "alpine", Healthcheck: &hc}})
		if !errdefs.IsInvalidArgument(err) || err.Error() != tc.want {
			t.Errorf("create with %+v: %v, want 400 %q", tc.hc, err, tc.want)
		}
	}
	for _, test := range [][]string{{"NONE"}, {"BOGUS", "x"}, {"CMD"}} {
		c, err := s.Create(context.Background(), p, containers.CreateRequest{Config: container.Config{Image: "alpine", Healthcheck: &container.HealthConfig{Test: test}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := containers.HealthcheckOf(c); ok {
			t.Errorf("test %q gives a healthcheck; Docker runs none", test)
		}
	}
}
