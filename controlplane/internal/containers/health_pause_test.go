package containers

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// A pause leaves the health unhealthy (Docker's, without an event) with the latest results; the first report after
// the unpause announces its status again.
func TestHealthAcrossPause(t *testing.T) {
	ctx := context.Background()
	st := &memStore{m: map[string]*Container{pauseID: {ID: pauseID, Name: "c", Owner: "o", ImageRef: "img",
		Config: container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD", "true"}}}}}}
	l := &barrierLauncher{together: 1, all: make(chan struct{})}
	a := &pauseAgent{}
	s := New(Options{Store: st, Launcher: l, Agent: a})
	a.s = s
	t.Cleanup(func() { s.Close() })
	c, _ := st.GetContainer(ctx, pauseID)
	if err := s.start(ctx, c, startManual); err != nil {
		t.Fatal(err)
	}
	c, _ = st.GetContainer(ctx, pauseID)
	exec := c.State.Execution
	t0 := time.Now()
	result := func(i int) ProbeResult {
		return ProbeResult{ExecID: string(rune('a' + i)), HealthResult: HealthResult{Start: t0.Add(time.Duration(i) * time.Second)}}
	}
	s.RecordHealth(ctx, pauseID, exec, HealthReport{Status: container.Healthy, Log: []ProbeResult{result(0)}})
	s.RecordHealth(ctx, pauseID, exec, HealthReport{Status: container.Healthy, Log: []ProbeResult{result(0), result(1)}})
	p := identity.Principal{Email: "o"}
	if err := s.Pause(ctx, p, pauseID); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Resolve(ctx, p, pauseID)
	if h := c.State.Health; h.Status != container.Unhealthy || len(h.Log) != 2 {
		t.Errorf("paused: %+v; want unhealthy with both results (the one kept in memory written)", h)
	}
	if err := s.Unpause(ctx, p, pauseID); err != nil {
		t.Fatal(err)
	}
	s.RecordHealth(ctx, pauseID, exec, HealthReport{Status: container.Healthy, Log: []ProbeResult{result(0), result(1), result(2)}})
	c, _ = s.Resolve(ctx, p, pauseID)
	if h := c.State.Health; h.Status != container.Healthy || len(h.Log) != 3 {
		t.Errorf("after the unpause's first probe: %+v; want healthy", h)
	}
	var health []string
	for _, a := range st.actions() {
		if len(a) > 13 && a[:13] == "health_status" {
			health = append(health, a)
		}
	}
	if want := []string{"health_status: healthy", "health_status: healthy"}; !slices.Equal(health, want) {
		t.Errorf("health events %q, want %q (none at the pause)", health, want)
	}
}
