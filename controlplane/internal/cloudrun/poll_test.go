package cloudrun

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// endsOnCancel is an execution that runs until cancelled.
type endsOnCancel struct {
	cancelled atomic.Bool
	inspects  atomic.Int64
}

func (e *endsOnCancel) Inspect(context.Context, string) (Status, error) {
	e.inspects.Add(1)
	if e.cancelled.Load() {
		return Status{Outcome: containers.Outcome{ExitCode: 137}}, nil
	}
	return Status{Running: true}, nil
}

func TestWaitPollsSlowlyUntilACancel(t *testing.T) {
	exec := &endsOnCancel{}
	p := newPoller(exec.Inspect, time.Millisecond, time.Hour)
	got := make(chan containers.Outcome, 1)
	go func() {
		out, err := p.wait(context.Background(), "e")
		if err != nil {
			t.Error(err)
		}
		got <- out
	}()
	time.Sleep(500 * time.Millisecond)
	if n := exec.inspects.Load(); n > 6 {
		t.Fatalf("%d inspections in 500 ms after the fast window, want a slow backoff", n)
	}
	start := time.Now()
	exec.cancelled.Store(true)
	p.poke("e")
	select {
	case out := <-got:
		if out.ExitCode != 137 {
			t.Fatalf("outcome %+v", out)
		}
		t.Logf("wait returned %s after the cancel", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("a cancel did not make the wait poll again")
	}
}
