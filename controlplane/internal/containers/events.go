package containers

import (
	"context"
	"github.com/moby/moby/api/types/mount"
	"maps"
	"strconv"
	"sync"
	"time"
)

// bus fans events out to in-process subscribers (/events streams, waits). Firestore keeps the history.
type bus struct {
	mu   sync.Mutex
	subs map[*subscription]struct{}
}

type subscription struct {
	ch chan Event
	// lost is closed when the subscriber fell too far behind and events were dropped.
	lost chan struct{}
}

func newBus() *bus { return &bus{subs: map[*subscription]struct{}{}} }

func (b *bus) subscribe() (*subscription, func()) {
	s := &subscription{ch: make(chan Event, 256), lost: make(chan struct{})}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s, func() {
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
	}
}

func (b *bus) publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.ch <- e:
		default: // a subscriber this slow is told so rather than blocking every lifecycle change
			delete(b.subs, s)
			close(s.lost)
		}
	}
}

// Emit records and publishes an event of c's that its sessions cause (exec_create), with Docker's attributes.
func (s *Service) Emit(ctx context.Context, c *Container, action string, extra map[string]string) {
	s.emit(ctx, c, action, extra)
}

// emit records an event and publishes it. A failure to record is logged, not returned: the state change it
// describes has already been committed.
func (s *Service) emit(ctx context.Context, c *Container, action string, extra map[string]string) {
	s.publish(ctx, Event{Owner: c.Owner, Type: "container", Action: action, ActorID: c.ID, Attributes: eventAttributes(c, extra), Time: s.now()})
}

// PublishVolume records and publishes an event of owner's volume name (create, destroy; volumes.Users).
func (s *Service) PublishVolume(ctx context.Context, owner, action, name string, attrs map[string]string) {
	if attrs == nil {
		attrs = map[string]string{}
	}
	s.publish(ctx, Event{Owner: owner, Type: "volume", Action: action, ActorID: name, Attributes: attrs, Time: s.now()})
}

// emitVolumes publishes Docker's volume mount (at start) or unmount (at exit) events of c's volumes.
func (s *Service) emitVolumes(ctx context.Context, c *Container, action string) {
	for _, m := range c.Mounts {
		if m.Type != mount.TypeVolume {
			continue
		}
		attrs := map[string]string{"container": c.ID, "driver": volumeDriver}
		if action == "mount" {
			attrs["destination"], attrs["read/write"], attrs["propagation"] = m.Destination, strconv.FormatBool(!m.ReadOnly), ""
		}
		s.PublishVolume(ctx, c.Owner, action, m.Name, attrs)
	}
}

// emitDie records and publishes c's die event: Docker's exitCode attribute for /events, and the outcome itself.
func (s *Service) emitDie(ctx context.Context, c *Container, execution string, out Outcome) {
	extra := map[string]string{"exitCode": strconv.Itoa(out.ExitCode), "execution": execution}
	s.publish(ctx, Event{Owner: c.Owner, Type: "container", Action: "die", ActorID: c.ID, Attributes: eventAttributes(c, extra),
		Time: s.now(), Exit: &out})
}

func (s *Service) publish(ctx context.Context, e Event) {
	if err := s.store.AddEvent(context.WithoutCancel(ctx), e); err != nil {
		s.log.Warn("record event", "type", e.Type, "action", e.Action, "actor", e.ActorID, "err", err)
	}
	s.bus.publish(e)
}

// Events returns the events visible to the caller (owner "" = all) between since and until from Firestore, then —
// when until is zero or in the future — a channel of live events until ctx ends or until passes. Live events
// are delivered from the moment Events is called, so none fall between history and the stream.
func (s *Service) Events(ctx context.Context, owner string, since, until time.Time) ([]Event, <-chan Event, error) {
	sub, cancel := s.bus.subscribe()
	var history []Event
	if !since.IsZero() {
		h, err := s.store.ListEvents(ctx, owner, since, until)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		history = h
	}
	if !until.IsZero() && !until.After(s.now()) {
		cancel()
		return history, nil, nil
	}
	out := make(chan Event)
	go func() {
		defer close(out)
		defer cancel()
		var deadline <-chan time.Time
		if !until.IsZero() {
			t := time.NewTimer(time.Until(until))
			defer t.Stop()
			deadline = t.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-deadline:
				return
			case <-sub.lost:
				return
			case e := <-sub.ch:
				if e.internal || (owner != "" && e.Owner != owner) {
					continue
				}
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return history, out, nil
}

// eventAttributes are an event's actor attributes as Docker builds them: the container's labels, then its own
// name and image (a label called "name" or "image" never overrides them), then the action's extra attributes.
func eventAttributes(c *Container, extra map[string]string) map[string]string {
	attrs := make(map[string]string, len(c.Config.Labels)+2+len(extra))
	maps.Copy(attrs, c.Config.Labels)
	attrs["name"], attrs["image"] = c.Name, c.Image
	maps.Copy(attrs, extra)
	return attrs
}
