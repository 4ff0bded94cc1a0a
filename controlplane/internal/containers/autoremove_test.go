package containers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/identity"
)

// memStore is the part of a Store these tests use, in memory.
type memStore struct {
	mu     sync.Mutex
	m      map[string]*Container
	events []Event
}

func (s *memStore) put(c *Container) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[c.ID] = c
}

func (s *memStore) CreateContainer(ctx context.Context, c *Container) error { s.put(c); return nil }
func (s *memStore) GetContainer(ctx context.Context, id string) (*Container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copyOf(id)
}

// copyOf returns a copy of id's record; s.mu is held.
func (s *memStore) copyOf(id string) (*Container, error) {
	c, ok := s.m[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	cp := *c
	return &cp, nil
}
func (s *memStore) ContainerIDByName(ctx context.Context, owner, name string) (string, error) {
	return "", errdefs.ErrNotFound
}
func (s *memStore) ListContainers(ctx context.Context, owner string) ([]*Container, error) {
	return nil, nil
}
func (s *memStore) ListRunning(ctx context.Context) ([]*Container, error) { return nil, nil }

// UpdateContainer is one critical section, as a Firestore transaction is one serialized read-modify-write
// (concurrent starts rely on it).
func (s *memStore) UpdateContainer(ctx context.Context, id string, fn func(*Container) error) (*Container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.copyOf(id)
	if err != nil {
		return nil, err
	}
	if err := fn(c); err != nil {
		return nil, err
	}
	c.Version++
	s.m[id] = c
	return s.copyOf(id)
}
func (s *memStore) RenameContainer(ctx context.Context, id, newName string) error {
	return errdefs.ErrNotImplemented
}
func (s *memStore) DeleteContainer(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; !ok {
		return errdefs.ErrNotFound
	}
	delete(s.m, id)
	return nil
}
func (s *memStore) AddEvent(ctx context.Context, e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}
func (s *memStore) ListEvents(ctx context.Context, owner string, since, until time.Time) ([]Event, error) {
	return nil, nil
}

// flakyLauncher's DeleteExecution fails with failWith, failures times (-1: always).
type flakyLauncher struct {
	mu       sync.Mutex
	failWith error
	failures int
	deletes  int
}

func (l *flakyLauncher) Launch(ctx context.Context, spec LaunchSpec) (string, error) {
	return "", errdefs.ErrNotImplemented
}
func (l *flakyLauncher) Cancel(ctx context.Context, execution string) error { return nil }
func (l *flakyLauncher) Wait(ctx context.Context, execution string) (Outcome, error) {
	<-ctx.Done()
	return Outcome{}, ctx.Err()
}
func (l *flakyLauncher) DeleteExecution(ctx context.Context, execution string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deletes++
	if l.failures != 0 {
		l.failures--
		return l.failWith
	}
	return nil
}

var errAdminAPIDown = fmt.Errorf("delete execution e1: the Cloud Run Admin API (run.googleapis.com) is unavailable: %w", errdefs.ErrUnavailable)

// autoRemoveSetup returns a Service on a fake clock (sleep advances it) with one running --rm container, and a wait
// for its removal.
func autoRemoveSetup(t *testing.T, l *flakyLauncher) (*Service, *memStore, *Container, <-chan WaitResult) {
	t.Helper()
	st := &memStore{m: map[string]*Container{}}
	var mu sync.Mutex
	clock := time.Date(2026, 11, 29, 13, 0, 0, 0, time.UTC)
	s := New(Options{Store: st, Launcher: l, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	s.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(d)
		return ctx.Err()
	}
	t.Cleanup(func() { s.Close() })
	c := &Container{ID: strings.Repeat("ab", 32), Owner: "dev@example.com", Name: "rm",
		HostConfig: container.HostConfig{AutoRemove: true}, Executions: []string{"e1"},
		State: State{Status: container.StateRunning, Execution: "e1"}}
	st.put(c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	wait, _, err := s.Wait(ctx, identity.Principal{Email: c.Owner}, c.ID, container.WaitConditionRemoved, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, st, c, wait
}

func result(t *testing.T, wait <-chan WaitResult) WaitResult {
	t.Helper()
	res, ok := <-wait
	if !ok {
		t.Fatal("the wait for the removal ended without a result")
	}
	return res
}

// The bug of the Admin API outage test: a --rm container exits while the Admin API does not answer yet, its
// removal (DeleteExecution) is refused as unavailable, and `docker run --rm` (waiting for the removal) hung for
// good. The removal is retried until the API answers, and the wait ends with the exit code.
func TestAutoRemoveOutlivesAnAdminAPIOutage(t *testing.T) {
	l := &flakyLauncher{failWith: errAdminAPIDown, failures: 3}
	s, st, c, wait := autoRemoveSetup(t, l)
	s.recordExit(s.ctx, c.ID, "e1", Outcome{ExitCode: 3})
	if res := result(t, wait); res != (WaitResult{ExitCode: 3}) {
		t.Errorf("wait = %+v, want exit code 3 and no error", res)
	}
	if _, err := st.GetContainer(context.Background(), c.ID); !errdefs.IsNotFound(err) {
		t.Errorf("the container outlived its auto-removal: %v", err)
	}
	if l.deletes != 4 {
		t.Errorf("%d DeleteExecution calls, want 4 (3 refused, then the removal)", l.deletes)
	}
}

// When the removal keeps failing past the retries (or fails for good at once), the removal waiters get the error
// with the exit code, as Docker answers them, and the container stays for docker rm; /events carries no such event.
func TestFailedAutoRemoveAnswersRemovalWaiters(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		retried bool
	}{
		{"unavailable past the retries", errAdminAPIDown, true},
		{"refused for good", fmt.Errorf("delete execution e1: %w", errdefs.ErrPermissionDenied), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &flakyLauncher{failWith: tc.err, failures: -1}
			s, st, c, wait := autoRemoveSetup(t, l)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, events, err := s.Events(ctx, "", time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			s.recordExit(s.ctx, c.ID, "e1", Outcome{ExitCode: 3})
			res := result(t, wait)
			if res.ExitCode != 3 || !strings.Contains(res.Error, tc.err.Error()) {
				t.Errorf("wait = %+v, want exit code 3 and the error %q", res, tc.err)
			}
			if _, err := st.GetContainer(context.Background(), c.ID); err != nil {
				t.Errorf("the container whose removal failed is gone: %v", err)
			}
			if retried := l.deletes > 1; retried != tc.retried {
				t.Errorf("%d DeleteExecution calls; retried = %v, want %v", l.deletes, retried, tc.retried)
			}
			s.emit(ctx, c, "marker", nil)
			for e := range events {
				if e.Action == "marker" {
					break
				}
				if e.Action != "die" {
					t.Errorf("/events streamed %q", e.Action)
				}
			}
		})
	}
}
