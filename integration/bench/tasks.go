package main

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// gcpsimTaskLabel marks the containers gcpsim runs tasks in on the engine.
const gcpsimTaskLabel = "dev.runsock.gcpsim=true"

// taskWatch records create and die events of gcpsim's task containers on an engine, and which of them ran a
// command carrying one of our tokens (found by inspecting each task container as it is created: other people's
// tasks run on the same engine at the same time).
type taskWatch struct {
	engine *side
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	create map[string]time.Time
	die    map[string]time.Time
	token  map[string]string // token → container ID
}

func watchTasks(ctx context.Context, engine *side) *taskWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &taskWatch{engine: engine, cancel: cancel, done: make(chan struct{}), create: map[string]time.Time{},
		die: map[string]time.Time{}, token: map[string]string{}}
	res := engine.api.Events(ctx, client.EventsListOptions{Filters: client.Filters{}.
		Add("type", "container").Add("label", gcpsimTaskLabel).Add("event", "create", "die")})
	go func() {
		defer close(w.done)
		for {
			select {
			case m := <-res.Messages:
				w.record(ctx, m)
			case <-res.Err:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return w
}

func (w *taskWatch) record(ctx context.Context, m events.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := time.Unix(0, m.TimeNano)
	switch m.Action {
	case events.ActionCreate:
		w.create[m.Actor.ID] = t
		w.wg.Add(1)
		go w.identify(ctx, m.Actor.ID)
	case events.ActionDie:
		w.die[m.Actor.ID] = t
	}
}

// identify inspects a task container and remembers it if its command carries a bench token.
func (w *taskWatch) identify(ctx context.Context, id string) {
	defer w.wg.Done()
	res, err := w.engine.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return
	}
	for _, a := range res.Container.Args {
		if strings.HasPrefix(a, tokenPrefix) {
			w.mu.Lock()
			w.token[a] = id
			w.mu.Unlock()
		}
	}
}

// tokenPrefix starts the argument that marks a benchmark's own `docker run` (given to `true`, which ignores it).
const tokenPrefix = "runsock-bench-"

// stop ends the watch; the recorded events stay readable.
func (w *taskWatch) stop() *taskWatch {
	time.Sleep(500 * time.Millisecond) // the last die event
	w.cancel()
	<-w.done
	w.wg.Wait()
	return w
}

// lifeOf returns die − create of the task container that ran with token.
func (w *taskWatch) lifeOf(token string) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id, ok := w.token[token]
	if !ok {
		return 0, false
	}
	c, d := w.create[id], w.die[id]
	if c.IsZero() || d.IsZero() {
		return 0, false
	}
	return d.Sub(c), true
}
