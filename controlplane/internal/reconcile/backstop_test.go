package reconcile

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runsock/runsock/controlplane/internal/cloudrun"
	"github.com/runsock/runsock/controlplane/internal/containers"
)

// endsOnCancel is an execution that runs until cancelled.
type endsOnCancel struct {
	idleLauncher
	cancelled atomic.Bool
	inspects  atomic.Int64
}

func (e *endsOnCancel) Cancel(context.Context, string) error { e.cancelled.Store(true); return nil }
func (e *endsOnCancel) Inspect(context.Context, string) (cloudrun.Status, error) {
	e.inspects.Add(1)
	if e.cancelled.Load() {
		return cloudrun.Status{Outcome: containers.Outcome{ExitCode: 137}}, nil
	}
	return cloudrun.Status{Running: true}, nil
}

func TestBackstopPollsSlowlyUntilACancel(t *testing.T) {
	exec := &endsOnCancel{}
	b := NewBackstop(exec, exec, time.Millisecond, time.Hour)
	got := make(chan containers.Outcome, 1)
	go func() {
		out, err := b.Wait(context.Background(), "e")
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
	if err := b.Cancel(context.Background(), "e"); err != nil {
		t.Fatal(err)
	}
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
