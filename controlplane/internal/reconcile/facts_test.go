package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/executiondoc"
)

func firestoreClient(t *testing.T) *firestore.Client {
	t.Helper()
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		t.Skip("FIRESTORE_EMULATOR_HOST not set (source .dev/env)")
	}
	fs, err := firestore.NewClient(context.Background(), testProject)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	return fs
}

func uniqueID(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// recordingEnder records what Facts asks for.
type recordingEnder struct {
	mu    sync.Mutex
	calls []applied
	ch    chan applied
}

type applied struct {
	id, execution string
	out           containers.Outcome
	enrich        bool
}

func (r *recordingEnder) ApplyOutcome(ctx context.Context, id, execution string, out containers.Outcome, enrich bool) (bool, error) {
	a := applied{id, execution, out, enrich}
	r.mu.Lock()
	r.calls = append(r.calls, a)
	r.mu.Unlock()
	r.ch <- a
	return true, nil
}

func (r *recordingEnder) Announce(context.Context, containers.Event) {}
func (r *recordingEnder) RestartDue(context.Context, []*containers.Container, time.Duration) (int, error) {
	return 0, nil
}

func TestFactsReachTheirContainerWithinASecond(t *testing.T) {
	fs := firestoreClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ender := &recordingEnder{ch: make(chan applied, 16)}
	f := NewFacts(fs, ender, time.Now().Add(-time.Minute), nil)
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	defer func() { cancel(); <-done }()

	exec, id := uniqueID("rs-test-"), uniqueID("c")
	doc := fs.Collection(executiondoc.Collection).Doc(exec)
	// The function's fact lands before the launch record: nothing to apply until the containerId arrives.
	at := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := doc.Set(ctx, map[string]any{executiondoc.FieldSystemOutcome: executiondoc.Outcome{Kind: executiondoc.KindOOM, ExitCode: 137, Signal: 9, Time: at}}, firestore.MergeAll); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if _, err := doc.Set(ctx, executiondoc.Launch(id, "a@x", time.Now()), firestore.MergeAll); err != nil {
		t.Fatal(err)
	}
	for {
		var a applied
		select {
		case a = <-ender.ch:
		case <-time.After(5 * time.Second):
			t.Fatal("fact never applied")
		}
		if a.execution != exec {
			continue // another test's or the stack's execution
		}
		t.Logf("applied %s after %s", a.execution, time.Since(start))
		if a.id != id || a.execution != exec || !a.out.OOMKilled || a.out.ExitCode != 137 || !a.enrich {
			t.Fatalf("applied %+v", a)
		}
		if time.Since(start) > time.Second {
			t.Fatalf("fact applied after %s, want within a second", time.Since(start))
		}
		return
	}
}

func TestToOutcome(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		in     executiondoc.Outcome
		want   containers.Outcome
		enrich bool
	}{
		{executiondoc.Outcome{Kind: "exit", ExitCode: 3, Time: at}, containers.Outcome{ExitCode: 3, FinishedAt: at}, false},
		{executiondoc.Outcome{Kind: "oom", ExitCode: 137, Signal: 9, Time: at}, containers.Outcome{ExitCode: 137, Signal: 9, OOMKilled: true, FinishedAt: at}, true},
		{executiondoc.Outcome{Kind: "timeout", ExitCode: 137, Signal: 9, Time: at}, containers.Outcome{ExitCode: 137, Signal: 9, Error: "task timed out: the configured task timeout was reached", FinishedAt: at}, true},
		{executiondoc.Outcome{Kind: "signal", Signal: 15, ExitCode: 143, Time: at}, containers.Outcome{ExitCode: 143, Signal: 15, FinishedAt: at}, false},
		{executiondoc.Outcome{Kind: "cancelled", ExitCode: 137, Signal: 9, Time: at}, containers.Outcome{ExitCode: 137, Signal: 9, Error: containers.ErrorCancelled, FinishedAt: at}, false},
	} {
		t.Run(string(c.in.Kind), func(t *testing.T) {
			got, enrich := toOutcome(c.in)
			if got != c.want || enrich != c.enrich {
				t.Fatalf("got %+v %v, want %+v %v", got, enrich, c.want, c.enrich)
			}
		})
	}
}

// testProject keeps these tests' documents apart from the dev stack's (the emulator isolates projects): the
// reconciler lists every container of its project.
const testProject = "runsock-reconcile-test"
