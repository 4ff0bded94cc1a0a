package livelogs

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
)

// newTestStore connects to the Firestore emulator with a project of its own.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		t.Setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:18081")
	}
	ctx := context.Background()
	fs, err := firestore.NewClient(ctx, fmt.Sprintf("livelogs-test-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	return New(fs, Options{Poll: 200 * time.Millisecond})
}

func chunks(from uint64, lines ...string) []Chunk {
	var out []Chunk
	for i, l := range lines {
		out = append(out, Chunk{Stream: 1, Seq: from + uint64(i), Time: time.Now(), Data: []byte(l)})
	}
	return out
}

func text(cs []Chunk) string {
	var b strings.Builder
	for _, c := range cs {
		b.Write(c.Data)
	}
	return b.String()
}

func TestAppendIsIdempotentBySequence(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	if _, err := s.Append(ctx, "c1", chunks(1, "a\n", "b\n", "c\n")); err != nil {
		t.Fatal(err)
	}
	// A redialed agent resends 2..4: only 4 is new. A second Store (a restarted control plane) must agree.
	s2 := New(s.fs, Options{})
	last, err := s2.Append(ctx, "c1", chunks(2, "b\n", "c\n", "d\n"))
	if err != nil || last != 4 {
		t.Fatalf("last %d, err %v", last, err)
	}
	tests := []struct {
		name string
		opts ReadOptions
		want string
	}{
		{"all", ReadOptions{}, "a\nb\nc\nd\n"},
		{"after", ReadOptions{After: 2}, "c\nd\n"},
		{"tail 2", ReadOptions{Tail: 2}, "c\nd\n"},
		{"tail more than there is", ReadOptions{Tail: 10}, "a\nb\nc\nd\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Read(ctx, "c1", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if text(got) != tt.want {
				t.Fatalf("got %q, want %q", text(got), tt.want)
			}
		})
	}
	if err := s.Delete(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Read(ctx, "c1", ReadOptions{}); len(got) != 0 {
		t.Fatalf("after delete: %q", text(got))
	}
}

func TestTailLinesSplitsChunks(t *testing.T) {
	got := text(tailLines(chunks(1, "a\nb\n", "c\nd"), 2))
	if got != "c\nd" {
		t.Fatalf("got %q", got)
	}
}

func TestFollowSeesNewChunksAndEndsAtCompletion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := newTestStore(t)
	if _, err := s.BeginRun(ctx, "c2", "run1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "c2", chunks(1, "one\n")); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 10)
	done := make(chan error, 1)
	go func() {
		done <- s.Follow(ctx, "c2", FollowOptions{}, func(c Chunk) error { got <- string(c.Data); return nil })
	}()
	if g := <-got; g != "one\n" {
		t.Fatalf("first chunk %q", g)
	}
	start := time.Now()
	if _, err := s.Append(ctx, "c2", chunks(2, "two\n")); err != nil {
		t.Fatal(err)
	}
	if g := <-got; g != "two\n" {
		t.Fatalf("second chunk %q", g)
	}
	t.Logf("append → follower: %v", time.Since(start))
	if err := s.Complete(ctx, "c2", "run1", 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("follow: %v", err)
	}
	// A NextRun follower (attach before a restart) waits for the next run instead of ending at once.
	next := make(chan error, 1)
	go func() {
		next <- s.Follow(ctx, "c2", FollowOptions{After: 2, NextRun: true}, func(c Chunk) error { got <- string(c.Data); return nil })
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-next:
		t.Fatalf("NextRun follow ended before the next run: %v", err)
	default:
	}
	base, err := s.BeginRun(ctx, "c2", "run2")
	if err != nil || base != 2 {
		t.Fatalf("base %d, err %v", base, err)
	}
	if _, err := s.Append(ctx, "c2", chunks(base+1, "three\n")); err != nil {
		t.Fatal(err)
	}
	if g := <-got; g != "three\n" {
		t.Fatalf("next run chunk %q", g)
	}
	// A late completion of the previous run (its agent's report arriving after the restart) ends nothing.
	if err := s.Complete(ctx, "c2", "run1", 9, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st, err := s.State(ctx, "c2"); err != nil || st.Complete || st.Run != "run2" {
		t.Fatalf("after run1's late completion: state %+v, err %v", st, err)
	}
	select {
	case err := <-next:
		t.Fatalf("run1's late completion ended run2's follower: %v", err)
	default:
	}
	if err := s.Complete(ctx, "c2", "run2", 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := <-next; err != nil {
		t.Fatal(err)
	}
}
