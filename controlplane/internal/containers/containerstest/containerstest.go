package containerstest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// Store is an in-memory containers.Store with the Firestore store's contract: every method is one atomic step,
// records are copied in and out (a caller never shares memory with the store), names are unique per owner.
type Store struct {
	mu     sync.Mutex
	byID   map[string]*containers.Container
	names  map[[2]string]string // (owner, name) → ID
	events []containers.Event
}

var _ containers.Store = (*Store)(nil)

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{byID: map[string]*containers.Container{}, names: map[[2]string]string{}}
}

// clone deep-copies c the way the Firestore store does: through its stored form.
func clone(c *containers.Container) *containers.Container {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // a Container always encodes
	}
	var out containers.Container
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return &out
}

func notFound(id string) error { return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound) }

func (m *Store) CreateContainer(ctx context.Context, c *containers.Container) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.names[[2]string{c.Owner, c.Name}]; ok {
		return fmt.Errorf("name %q: %w", c.Name, errdefs.ErrConflict)
	}
	if _, ok := m.byID[c.ID]; ok {
		return fmt.Errorf("container %s: %w", c.ID, errdefs.ErrConflict)
	}
	m.byID[c.ID] = clone(c)
	m.names[[2]string{c.Owner, c.Name}] = c.ID
	return nil
}

func (m *Store) GetContainer(ctx context.Context, id string) (*containers.Container, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.byID[id]
	if !ok {
		return nil, notFound(id)
	}
	return clone(c), nil
}

func (m *Store) ContainerIDByName(ctx context.Context, owner, name string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.names[[2]string{owner, name}]
	if !ok {
		return "", fmt.Errorf("name %q: %w", name, errdefs.ErrNotFound)
	}
	return id, nil
}

func (m *Store) list(keep func(*containers.Container) bool) []*containers.Container {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*containers.Container
	for _, c := range m.byID {
		if keep(c) {
			out = append(out, clone(c))
		}
	}
	slices.SortFunc(out, func(a, b *containers.Container) int { return b.Created.Compare(a.Created) })
	return out
}

func (m *Store) ListContainers(ctx context.Context, owner string) ([]*containers.Container, error) {
	return m.list(func(c *containers.Container) bool { return owner == "" || c.Owner == owner }), nil
}

func (m *Store) ListRunning(ctx context.Context) ([]*containers.Container, error) {
	return m.list((*containers.Container).Active), nil
}

func (m *Store) UpdateContainer(ctx context.Context, id string, fn func(*containers.Container) error) (*containers.Container, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.byID[id]
	if !ok {
		return nil, notFound(id)
	}
	c := clone(old)
	if err := fn(c); err != nil {
		return nil, err
	}
	c.Version++
	m.byID[id] = clone(c)
	return c, nil
}

func (m *Store) RenameContainer(ctx context.Context, id, newName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.byID[id]
	if !ok {
		return notFound(id)
	}
	if _, taken := m.names[[2]string{c.Owner, newName}]; taken {
		return fmt.Errorf("name %q: %w", newName, errdefs.ErrConflict)
	}
	delete(m.names, [2]string{c.Owner, c.Name})
	m.names[[2]string{c.Owner, newName}] = id
	c.Name = newName
	c.Version++
	return nil
}

func (m *Store) DeleteContainer(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.byID[id]
	if !ok {
		return notFound(id)
	}
	delete(m.byID, id)
	delete(m.names, [2]string{c.Owner, c.Name})
	return nil
}

func (m *Store) AddEvent(ctx context.Context, e containers.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}

func (m *Store) ListEvents(ctx context.Context, owner string, since, until time.Time) ([]containers.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []containers.Event
	for _, e := range m.events {
		if (owner == "" || e.Owner == owner) && !e.Time.Before(since) && (until.IsZero() || !e.Time.After(until)) {
			out = append(out, e)
		}
	}
	return out, nil
}

// EventsOf returns the recorded events of container id, oldest first.
func (m *Store) EventsOf(id string) []containers.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []containers.Event
	for _, e := range m.events {
		if e.ActorID == id {
			out = append(out, e)
		}
	}
	return out
}

// Launcher runs executions in memory. An execution named projects/p/locations/r/jobs/j/executions/eN (N counting
// from 1) runs until Finish or Cancel (exit 137, as Cloud Run's cancel); Wait returns how it ended.
type Launcher struct {
	mu      sync.Mutex
	n       int
	done    map[string]chan containers.Outcome // execution → its outcome, once (buffered, one)
	specs   []containers.LaunchSpec
	deleted []string
	calls   int // Launch, Cancel and DeleteExecution: every call that would change Cloud Run
	fail    error
}

var _ containers.Launcher = (*Launcher)(nil)

// NewLauncher returns a Launcher with no executions.
func NewLauncher() *Launcher { return &Launcher{done: map[string]chan containers.Outcome{}} }

// Execution is the name of the nth execution launched.
func Execution(n int) string { return fmt.Sprintf("projects/p/locations/r/jobs/j/executions/e%d", n) }

func (l *Launcher) Launch(ctx context.Context, spec containers.LaunchSpec) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.fail != nil {
		return "", l.fail
	}
	l.n++
	e := Execution(l.n)
	l.done[e] = make(chan containers.Outcome, 1)
	l.specs = append(l.specs, spec)
	return e, nil
}

// SetFail makes every Launch fail with err (nil: launches succeed again).
func (l *Launcher) SetFail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail = err
}

// Specs are the launches so far, in order.
func (l *Launcher) Specs() []containers.LaunchSpec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.specs)
}

// Changes is how many calls would have changed Cloud Run (Launch, Cancel, DeleteExecution).
func (l *Launcher) Changes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// Deleted are the executions deleted so far, in order.
func (l *Launcher) Deleted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.deleted)
}

// Finish ends execution e with o, as if its task ended; an execution ends once (later calls do nothing).
func (l *Launcher) Finish(e string, o containers.Outcome) {
	l.mu.Lock()
	ch := l.done[e]
	l.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- o:
	default:
	}
}

func (l *Launcher) Cancel(ctx context.Context, e string) error {
	l.mu.Lock()
	l.calls++
	l.mu.Unlock()
	l.Finish(e, containers.Outcome{ExitCode: 137, Error: "cancelled", FinishedAt: time.Now()})
	return nil
}

func (l *Launcher) DeleteExecution(ctx context.Context, e string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	l.deleted = append(l.deleted, e)
	return nil
}

func (l *Launcher) Wait(ctx context.Context, e string) (containers.Outcome, error) {
	l.mu.Lock()
	ch := l.done[e]
	l.mu.Unlock()
	if ch == nil {
		return containers.Outcome{}, fmt.Errorf("execution %s: %w", e, errdefs.ErrNotFound)
	}
	select {
	case o := <-ch:
		ch <- o // later waits see it too
		return o, nil
	case <-ctx.Done():
		return containers.Outcome{}, ctx.Err()
	}
}

// Images resolves alpine (and alpine:latest) only; any other reference is not found.
type Images struct{}

var _ containers.ImageResolver = Images{}

func (Images) Resolve(ctx context.Context, owner, ref string) (containers.ResolvedImage, error) {
	if ref != "alpine" && ref != "alpine:latest" {
		return containers.ResolvedImage{}, fmt.Errorf("image %s: %w", ref, errdefs.ErrNotFound)
	}
	return containers.ResolvedImage{ID: "sha256:" + strings.Repeat("a", 64), Reference: "reg/p/runsock/alpine@sha256:" + strings.Repeat("b", 64),
		Config: containers.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin", "A=1"}, Labels: map[string]string{"img": "yes"}, ExposedPorts: []string{"80/tcp"}}}, nil
}
