package executionevents

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"github.com/runsock/runsock/executiondoc"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
)

// newFirestore returns a client on the Firestore emulator in a project no other test uses.
func newFirestore(t *testing.T) *firestore.Client {
	t.Helper()
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		t.Fatal("FIRESTORE_EMULATOR_HOST is not set: run through scripts/test (the Firestore emulator is part of the dev stack)")
	}
	fs, err := firestore.NewClient(context.Background(), "runsock-test-"+randomHex(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	return fs
}

func randomHex(n int) string {
	b := make([]byte, n)
	crand.Read(b)
	return hex.EncodeToString(b)
}

func storedOutcome(t *testing.T, fs *firestore.Client, exec string) executiondoc.Outcome {
	t.Helper()
	snap, err := fs.Collection(executiondoc.Collection).Doc(exec).Get(context.Background())
	if err != nil {
		t.Fatalf("read %s: %v", exec, err)
	}
	var d struct {
		SystemOutcome executiondoc.Outcome `firestore:"systemOutcome"`
		ContainerID   string               `firestore:"containerId"`
	}
	if err := snap.DataTo(&d); err != nil {
		t.Fatal(err)
	}
	return d.SystemOutcome
}

// An out-of-memory kill is logged as two entries; whatever order and however often they arrive, the execution ends
// recorded as out of memory, and other fields of the document are left alone.
func TestReplayedAndReorderedDeliveriesConverge(t *testing.T) {
	ctx := context.Background()
	fs := newFirestore(t)
	rec := NewRecorder(fs, nil)
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	entries := [][]byte{
		systemEntry("rs-oom-aaaaa", "a1", "Memory limit of 512 MiB exceeded with 513 MiB used. Consider increasing the memory limit, see https://cloud.google.com/run/docs/configuring/memory-limits", at),
		systemEntry("rs-oom-aaaaa", "a2", "Container terminated on signal 9.", at.Add(time.Millisecond)),
		systemEntry("rs-oom-aaaaa", "a0", "Starting task rs-oom-aaaaa-task0, attempt 0.", at.Add(-time.Second)),
	}
	if _, err := fs.Collection(executiondoc.Collection).Doc("rs-oom-aaaaa").Set(ctx, map[string]any{"containerId": "c1"}); err != nil {
		t.Fatal(err)
	}
	for round := range 4 {
		order := rand.Perm(len(entries))
		for _, i := range append(order, order...) { // every entry twice
			o, err := ParseEntry(entries[i])
			if err != nil {
				continue
			}
			if _, err := rec.Record(ctx, o); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		got := storedOutcome(t, fs, "rs-oom-aaaaa")
		if got.Kind != executiondoc.KindOOM || got.ExitCode != 137 || got.InsertID != "a1" {
			t.Fatalf("round %d (order %v): outcome %+v, want the OOM entry", round, order, got)
		}
	}
	snap, _ := fs.Collection(executiondoc.Collection).Doc("rs-oom-aaaaa").Get(ctx)
	if id, _ := snap.DataAt("containerId"); id != "c1" {
		t.Fatalf("containerId = %v, want the control plane's value kept", id)
	}
}

func TestRecordReportsWhetherAnythingChanged(t *testing.T) {
	ctx := context.Background()
	rec := NewRecorder(newFirestore(t), nil)
	exit, _ := ParseEntry(systemEntry("rs-x-bbbbb", "b1", "Container called exit(3).", time.Now()))
	sig, _ := ParseEntry(systemEntry("rs-x-bbbbb", "b2", "Container terminated on signal 9.", time.Now().Add(time.Second)))
	for i, step := range []struct {
		o    executiondoc.Outcome
		want bool
	}{{exit, true}, {exit, false}, {sig, false}} {
		changed, err := rec.Record(ctx, step.o)
		if err != nil || changed != step.want {
			t.Fatalf("step %d: changed=%v err=%v, want %v", i, changed, err, step.want)
		}
	}
}
