package containers

import (
	"context"
	"iter"
	"time"

	"github.com/containerd/errdefs"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

// Logs returns the container's output per opts (opts.Done is set here). The container is returned too, for the
// HTTP layer to know whether output is multiplexed (no TTY).
func (s *Service) Logs(ctx context.Context, p identity.Principal, ref string, opts LogOptions) (*Container, iter.Seq2[LogLine, error], error) {
	if s.logs == nil {
		return nil, nil, errorf(errdefs.ErrNotImplemented, "logs are not available on this control plane yet")
	}
	sub, unsubscribe := s.bus.subscribe()
	c, err := s.Resolve(ctx, p, ref)
	if err != nil {
		unsubscribe()
		return nil, nil, err
	}
	target := LogTarget{ContainerID: c.ID, Owner: c.Owner, Executions: c.Executions, Tty: c.Config.Tty, Running: c.Running()}
	if c.Agent.Unavailable == "" {
		target.AgentRun = c.Agent.Run
	}
	if !opts.Follow || !c.Running() {
		unsubscribe()
		opts.Follow = opts.Follow && c.Running()
		return c, s.logs.Logs(ctx, target, opts), nil
	}
	opts.Done = s.doneWhenDies(ctx, sub, unsubscribe, c.ID)
	return c, s.logs.Logs(ctx, target, opts), nil
}

// Attach streams the output of the container's next (or current) execution: when the container has not started
// yet it waits for the start, as `docker run` attaches before it starts. It ends when that execution has ended and
// its output is complete.
func (s *Service) Attach(ctx context.Context, p identity.Principal, ref string, stdout, stderr bool) (*Container, func(context.Context) iter.Seq2[LogLine, error], error) {
	if s.logs == nil {
		return nil, nil, errorf(errdefs.ErrNotImplemented, "attach is not available on this control plane yet")
	}
	sub, unsubscribe := s.bus.subscribe()
	c, err := s.Resolve(ctx, p, ref)
	if err != nil {
		unsubscribe()
		return nil, nil, err
	}
	stream := func(ctx context.Context) iter.Seq2[LogLine, error] {
		return func(yield func(LogLine, error) bool) {
			defer unsubscribe()
			cur := c
			if !cur.Running() {
				if err := s.awaitAction(ctx, sub, c.ID, "start", 24*365*time.Hour); err != nil {
					return
				}
				if cur, err = s.store.GetContainer(ctx, c.ID); err != nil {
					yield(LogLine{}, err)
					return
				}
			}
			exec := cur.State.Execution
			opts := LogOptions{Follow: true, Tail: -1, Stdout: stdout, Stderr: stderr, Since: cur.State.StartedAt,
				Done: s.doneWhenDies(ctx, sub, func() {}, c.ID)}
			if exec == "" { // it already ended again
				opts.Follow, opts.Done = false, nil
			}
			target := LogTarget{ContainerID: c.ID, Owner: c.Owner, Executions: cur.Executions, Tty: cur.Config.Tty, Running: exec != ""}
			for l, err := range s.logs.Logs(ctx, target, opts) {
				if !yield(l, err) || err != nil {
					return
				}
			}
		}
	}
	return c, stream, nil
}

// WhenEnds returns a channel closed when id's current execution dies or id is removed (or ctx ends), watching from
// the moment it is called.
func (s *Service) WhenEnds(ctx context.Context, id string) <-chan struct{} {
	sub, unsubscribe := s.bus.subscribe()
	return s.doneWhenDies(ctx, sub, unsubscribe, id)
}

// doneWhenDies returns a channel closed when id's current execution dies (or ctx ends); it unsubscribes then.
func (s *Service) doneWhenDies(ctx context.Context, sub *subscription, unsubscribe func(), id string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer unsubscribe()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.lost:
				return
			case e := <-sub.ch:
				if e.ActorID == id && (e.Action == "die" || e.Action == "destroy") {
					return
				}
			}
		}
	}()
	return done
}
