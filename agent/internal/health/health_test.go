package health

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runsock/runsock/linkproto"
)

// scripted answers probes in turn from its list (the last one repeats); a code of -2 sleeps past the timeout.
type scripted struct {
	mu    sync.Mutex
	codes []int
	calls int
}

func (s *scripted) Probe(ctx context.Context, cmd []string) (int, string, bool, error) {
	s.mu.Lock()
	code := s.codes[min(s.calls, len(s.codes)-1)]
	s.calls++
	s.mu.Unlock()
	switch code {
	case -2:
		<-ctx.Done()
		return 137, "slow", false, nil
	case -3:
		return 0, "", false, errors.New("OCI runtime exec failed: no such file")
	}
	return code, strings.Repeat("x", 3), code == 7, nil
}

func run(t *testing.T, spec linkproto.HealthSpec, codes []int, reports int) []linkproto.Health {
	t.Helper()
	var mu sync.Mutex
	var got []linkproto.Health
	done := make(chan struct{})
	m := New(spec, &scripted{codes: codes}, func(h linkproto.Health) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, h)
		if len(got) == reports {
			close(done)
		}
	}, nil)
	if h := m.Current(); h.Status != linkproto.HealthStarting || h.Log == nil {
		t.Fatalf("before the first probe: %+v, want starting with an empty log", h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx, time.Now())
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d reports, want %d", len(got), reports)
	}
	cancel()
	mu.Lock()
	defer mu.Unlock()
	return append([]linkproto.Health(nil), got...)
}

func statuses(hs []linkproto.Health) string {
	var s []string
	for _, h := range hs {
		s = append(s, h.Status+"/"+string(rune('0'+h.FailingStreak)))
	}
	return strings.Join(s, " ")
}

func TestMonitorTransitions(t *testing.T) {
	base := linkproto.HealthSpec{Cmd: []string{"x"}, Interval: 5 * time.Millisecond, Timeout: time.Second, StartInterval: 5 * time.Millisecond, Retries: 2}
	for _, tc := range []struct {
		name  string
		spec  func(*linkproto.HealthSpec)
		codes []int
		want  string
	}{
		{"failing then healthy", nil, []int{1, 1, 1, 0, 1}, "starting/1 unhealthy/2 unhealthy/3 healthy/0 healthy/1"},
		{"healthy at once", nil, []int{0, 0}, "healthy/0 healthy/0"},
		{"timeout fails", func(s *linkproto.HealthSpec) { s.Timeout = 10 * time.Millisecond }, []int{-2, -2}, "starting/1 unhealthy/2"},
		{"start error fails", nil, []int{-3, -3}, "starting/1 unhealthy/2"},
		{"start period forgives failures before the first success", func(s *linkproto.HealthSpec) { s.StartPeriod = time.Hour }, []int{1, 1, 1, 0, 1, 1},
			"starting/0 starting/0 starting/0 healthy/0 healthy/1 unhealthy/2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := base
			if tc.spec != nil {
				tc.spec(&spec)
			}
			got := run(t, spec, tc.codes, strings.Count(tc.want, " ")+1)
			if s := statuses(got); s != tc.want {
				t.Errorf("statuses %q, want %q", s, tc.want)
			}
		})
	}
}

func TestMonitorLogAndResults(t *testing.T) {
	spec := linkproto.HealthSpec{Cmd: []string{"x"}, Interval: 5 * time.Millisecond, Timeout: 20 * time.Millisecond, StartInterval: time.Millisecond, Retries: 3}
	got := run(t, spec, []int{7, -2, -3, 0, 0, 0, 0}, 7)
	last := got[len(got)-1]
	if len(last.Log) != linkproto.HealthLogMax {
		t.Fatalf("log has %d results, want the last %d", len(last.Log), linkproto.HealthLogMax)
	}
	first := got[0].Log[0]
	if first.ExitCode != 7 || first.Output != "xxx..." || len(first.ExecID) != 64 || first.End.Before(first.Start) {
		t.Errorf("truncated result %+v: want code 7, output marked truncated, a 64-hex exec ID, End after Start", first)
	}
	if r := got[1].Log[1]; r.ExitCode != -1 || r.Output != "Health check exceeded timeout (20ms): xxx" && r.Output != "Health check exceeded timeout (20ms): slow" {
		t.Errorf("timed-out result %+v: want -1 and Docker's timeout message with the output", r)
	}
	if r := got[2].Log[2]; r.ExitCode != -1 || !strings.HasPrefix(r.Output, "OCI runtime exec failed") {
		t.Errorf("failed start %+v: want -1 and the error", r)
	}
	if last.Log[0].ExecID != got[2].Log[2].ExecID {
		t.Errorf("the log should keep the last %d results, oldest first", linkproto.HealthLogMax)
	}
}

// While paused no probe runs and the status reads unhealthy (no report); after the unpause probing resumes and the
// first result is reported.
func TestMonitorPause(t *testing.T) {
	spec := linkproto.HealthSpec{Cmd: []string{"x"}, Interval: 5 * time.Millisecond, Timeout: time.Second, StartInterval: 5 * time.Millisecond, Retries: 1}
	p := &scripted{codes: []int{0}}
	reports := make(chan linkproto.Health, 100)
	m := New(spec, p, func(h linkproto.Health) { reports <- h }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx, time.Now())
	if h := <-reports; h.Status != linkproto.HealthHealthy {
		t.Fatalf("first report %+v, want healthy", h)
	}
	m.SetPaused(true)
	if h := m.Current(); h.Status != linkproto.HealthUnhealthy {
		t.Errorf("paused: %s, want unhealthy", h.Status)
	}
	time.Sleep(20 * time.Millisecond)
	for len(reports) > 0 { // a probe that finished as the pause came
		<-reports
	}
	p.mu.Lock()
	calls := p.calls
	p.mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	p.mu.Lock()
	after := p.calls
	p.mu.Unlock()
	if after != calls || len(reports) > 0 {
		t.Errorf("%d probes and %d reports while paused, want none", after-calls, len(reports))
	}
	m.SetPaused(false)
	select {
	case h := <-reports:
		if h.Status != linkproto.HealthHealthy {
			t.Errorf("after the unpause: %s, want healthy", h.Status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no probe after the unpause")
	}
}
