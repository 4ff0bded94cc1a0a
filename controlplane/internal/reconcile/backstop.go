package reconcile

import (
	"context"
	"sync"
	"time"

	"github.com/runsock/runsock/controlplane/internal/cloudrun"
	"github.com/runsock/runsock/controlplane/internal/containers"
)

// Inspector reads an execution once; *cloudrun.Driver implements it.
type Inspector interface {
	Inspect(ctx context.Context, execution string) (cloudrun.Status, error)
}

// Backstop poll schedule: fast (50 ms doubling to 1 s) for FastFor after the wait starts or a cancel, so short
// containers and `docker stop` end promptly even before the function's fact lands; then doubling to SlowMax.
const (
	backstopStart = 50 * time.Millisecond
	backstopFast  = time.Second
)

// Backstop is a containers.Launcher whose Wait polls Cloud Run lazily: the facts listener is the fast path. Its
// polls are background reads (cloudrun.Background): they keep within the Admin API's read quota.
type Backstop struct {
	containers.Launcher
	inspect Inspector
	fastFor time.Duration
	slowMax time.Duration

	mu    sync.Mutex
	pokes map[string]map[chan struct{}]struct{}
}

// NewBackstop wraps l. fastFor is how long a wait polls quickly (default 5s); slowMax the slow interval's cap
// (default 30s).
func NewBackstop(l containers.Launcher, inspect Inspector, fastFor, slowMax time.Duration) *Backstop {
	if fastFor <= 0 {
		fastFor = 5 * time.Second
	}
	if slowMax <= 0 {
		slowMax = 30 * time.Second
	}
	return &Backstop{Launcher: l, inspect: inspect, fastFor: fastFor, slowMax: slowMax, pokes: map[string]map[chan struct{}]struct{}{}}
}

// Wait polls Inspect until the execution is terminal or ctx ends.
func (b *Backstop) Wait(ctx context.Context, execution string) (containers.Outcome, error) {
	poke := b.register(execution)
	defer b.unregister(execution, poke)
	start, delay := time.Now(), backstopStart
	for {
		// A background read: when the read quota runs low the poll is skipped (deferred), never queued ahead of
		// users' requests; with many containers running, each one's poll thus stretches to fit the quota.
		st, err := b.inspect.Inspect(cloudrun.Background(ctx), execution)
		if cloudrun.IsDeferred(err) {
			st, err = cloudrun.Status{Running: true}, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return containers.Outcome{}, ctx.Err()
			}
			return containers.Outcome{}, err
		}
		if !st.Running {
			return st.Outcome, nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return containers.Outcome{}, ctx.Err()
		case <-poke:
			t.Stop()
			start, delay = time.Now(), backstopStart
			continue
		case <-t.C:
		}
		limit := b.slowMax
		if time.Since(start) < b.fastFor {
			limit = backstopFast
		}
		delay = min(delay*2, limit)
	}
}

// Cancel cancels and makes the execution's waits poll quickly again, so stop/kill return promptly.
func (b *Backstop) Cancel(ctx context.Context, execution string) error {
	err := b.Launcher.Cancel(ctx, execution)
	b.mu.Lock()
	for ch := range b.pokes[execution] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	return err
}

func (b *Backstop) register(execution string) chan struct{} {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pokes[execution] == nil {
		b.pokes[execution] = map[chan struct{}]struct{}{}
	}
	b.pokes[execution][ch] = struct{}{}
	return ch
}

func (b *Backstop) unregister(execution string, ch chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.pokes[execution], ch)
	if len(b.pokes[execution]) == 0 {
		delete(b.pokes, execution)
	}
}
