package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/runsock/runsock/controlplane/internal/containers"
)

// OpenTest opens a Store on the Firestore emulator in a fresh project, skipping when no emulator is configured.
func openTest(t *testing.T) *Store {
	t.Helper()
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		t.Setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:18081")
	}
	b := make([]byte, 6)
	rand.Read(b)
	s, err := Open(context.Background(), "runsock-test-"+hex.EncodeToString(b), "", os.Getenv("FIRESTORE_EMULATOR_HOST"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func TestConcurrentCreateOneName(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateContainer(ctx, &containers.Container{ID: newID(), Owner: "a@x", Name: "web", Created: time.Now()})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, errdefs.ErrConflict):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creates succeeded, want exactly 1", ok)
	}
	list, err := s.ListContainers(ctx, "a@x")
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %d %v", len(list), err)
	}
	// The same name is free for another owner.
	if err := s.CreateContainer(ctx, &containers.Container{ID: newID(), Owner: "b@x", Name: "web"}); err != nil {
		t.Fatalf("other owner: %v", err)
	}
}

func TestLifecycleRoundTrip(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	id := newID()
	c := &containers.Container{ID: id, Owner: "a@x", Name: "n1", Created: time.Now().UTC(),
		Config: container.Config{Cmd: []string{"echo", "hi"}, Labels: map[string]string{"k": "v"}},
		State:  containers.State{Status: container.StateCreated}}
	if err := s.CreateContainer(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateContainer(ctx, id, func(c *containers.Container) error {
		c.State.Status = container.StateRunning
		c.Executions = append(c.Executions, "exec-1")
		return nil
	})
	if err != nil || got.Version != 2 {
		t.Fatalf("update: %v %+v", err, got)
	}
	running, err := s.ListRunning(ctx)
	if err != nil || len(running) != 1 || running[0].Config.Labels["k"] != "v" {
		t.Fatalf("running: %v %+v", err, running)
	}
	// A restarting container (its restart policy about to start it again) is listed too: it resumes after a restart.
	if _, err := s.UpdateContainer(ctx, id, func(c *containers.Container) error {
		c.State.Status = container.StateRestarting
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if running, err := s.ListRunning(ctx); err != nil || len(running) != 1 || running[0].State.Status != container.StateRestarting {
		t.Fatalf("running and restarting: %v %+v", err, running)
	}
	if _, err := s.UpdateContainer(ctx, id, func(c *containers.Container) error {
		c.State.Status = container.StateRunning
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sentinel := fmt.Errorf("nope: %w", errdefs.ErrNotModified)
	if _, err := s.UpdateContainer(ctx, id, func(*containers.Container) error { return sentinel }); !errors.Is(err, errdefs.ErrNotModified) {
		t.Fatalf("fn error not passed through: %v", err)
	}
	if err := s.RenameContainer(ctx, id, "n2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ContainerIDByName(ctx, "a@x", "n1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("old name still held: %v", err)
	}
	if got, err := s.ContainerIDByName(ctx, "a@x", "n2"); err != nil || got != id {
		t.Fatalf("new name: %q %v", got, err)
	}
	if err := s.DeleteContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetContainer(ctx, id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.CreateContainer(ctx, &containers.Container{ID: newID(), Owner: "a@x", Name: "n2"}); err != nil {
		t.Fatalf("name not released: %v", err)
	}
}

func TestEvents(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	t0 := time.Now().UTC()
	for i, owner := range []string{"a@x", "b@x", "a@x"} {
		if err := s.AddEvent(ctx, containers.Event{Owner: owner, Type: "container", Action: "create", ActorID: fmt.Sprint(i), Time: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	reads := s.Ops().Reads
	evs, err := s.ListEvents(ctx, "a@x", t0, time.Time{})
	if err != nil || len(evs) != 2 || evs[1].ActorID != "2" {
		t.Fatalf("events: %v %+v", err, evs)
	}
	if n := s.Ops().Reads - reads; n != 2 {
		t.Errorf("listing a's 2 events read %d documents: the query must select by owner, not scan", n)
	}
	// Every event carries when it expires, for the TTL policy.
	docs, err := s.fs.Collection(colEvents).Where(fieldOwner, "==", "b@x").Documents(ctx).GetAll()
	if err != nil || len(docs) != 1 {
		t.Fatalf("b's event: %v %d", err, len(docs))
	}
	var d eventDoc
	docs[0].DataTo(&d)
	if want := d.Time.Add(EventRetention); !d.ExpireAt.Equal(want) {
		t.Errorf("expireAt %v, want %v", d.ExpireAt, want)
	}
	evs, _ = s.ListEvents(ctx, "", t0.Add(500*time.Millisecond), t0.Add(1500*time.Millisecond))
	if len(evs) != 1 || evs[0].ActorID != "1" {
		t.Fatalf("range: %+v", evs)
	}
}

// A record Firestore could not hold is the caller's error (400), refused before anything is written: the name stays
// free.
func TestRecordTooLargeIsRefused(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	big := &containers.Container{ID: newID(), Owner: "a@x", Name: "big", Created: time.Now(),
		Config: container.Config{Labels: map[string]string{"x": string(make([]byte, maxRecord))}}}
	if err := s.CreateContainer(ctx, big); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("create: %v, want invalid argument", err)
	}
	if err := s.CreateContainer(ctx, &containers.Container{ID: newID(), Owner: "a@x", Name: "big"}); err != nil {
		t.Fatalf("the name was taken by the refused create: %v", err)
	}
}
