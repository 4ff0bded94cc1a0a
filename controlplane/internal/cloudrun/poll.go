package cloudrun

import (
	"context"
	"sync"
	"time"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// Wait's poll schedule: fast (50 ms doubling to 1 s) for Config.PollFastFor after the wait starts or a cancel, so
// short containers and `docker stop` end promptly even before the execution-events function's fact lands; then
// doubling to Config.PollSlowMax. For long-running executions the facts listener (reconcile) is the fast path and
// this poll only a safety net.
const (
	pollStart       = 50 * time.Millisecond
	pollFast        = time.Second
	defaultFastFor  = 5 * time.Second
	defaultSlowPoll = 30 * time.Second
)

// poller is the one loop that waits for executions to end: it reads an execution with inspect until it is terminal,
// and polls quickly again when poked (a cancel).
type poller struct {
	inspect func(ctx context.Context, execution string) (Status, error)
	fastFor time.Duration
	slowMax time.Duration

	mu    sync.Mutex
	pokes map[string]map[chan struct{}]struct{}
}

func newPoller(inspect func(ctx context.Context, execution string) (Status, error), fastFor, slowMax time.Duration) *poller {
	if fastFor <= 0 {
		fastFor = defaultFastFor
	}
	if slowMax <= 0 {
		slowMax = defaultSlowPoll
	}
	return &poller{inspect: inspect, fastFor: fastFor, slowMax: slowMax, pokes: map[string]map[chan struct{}]struct{}{}}
}

// wait polls until the execution is terminal or ctx ends. Its reads are background reads (Background): when the
// read quota runs low a poll is skipped (deferred), never queued ahead of users' requests; with many containers
// running, each one's poll thus stretches to fit the quota.
func (p *poller) wait(ctx context.Context, execution string) (containers.Outcome, error) {
	poke := p.register(execution)
	defer p.unregister(execution, poke)
	start, delay := time.Now(), pollStart
	for {
		st, err := p.inspect(Background(ctx), execution)
		if IsDeferred(err) {
			st, err = Status{Running: true}, nil
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
			start, delay = time.Now(), pollStart
			continue
		case <-t.C:
		}
		limit := p.slowMax
		if time.Since(start) < p.fastFor {
			limit = pollFast
		}
		delay = min(delay*2, limit)
	}
}

// poke makes the execution's waits poll quickly again.
func (p *poller) poke(execution string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ch := range p.pokes[execution] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (p *poller) register(execution string) chan struct{} {
	ch := make(chan struct{}, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pokes[execution] == nil {
		p.pokes[execution] = map[chan struct{}]struct{}{}
	}
	p.pokes[execution][ch] = struct{}{}
	return ch
}

func (p *poller) unregister(execution string, ch chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pokes[execution], ch)
	if len(p.pokes[execution]) == 0 {
		delete(p.pokes, execution)
	}
}
