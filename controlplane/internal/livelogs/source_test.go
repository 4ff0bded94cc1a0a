package livelogs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// A read that the request timeout cut resumes where it stood: a re-issued `logs --tail N` does not move its
// start, and a position inside a chunk (a tail's first line) is kept.
func TestSourceStartAndResume(t *testing.T) {
	ctx := context.Background()
	store := newTestStore(t)
	if _, err := store.BeginRun(ctx, "c1", "run1"); err != nil {
		t.Fatal(err)
	}
	var chunks []Chunk
	for i, d := range []string{"l1\n", "l2\n", "l3\nl4\n", "l5\n"} {
		chunks = append(chunks, Chunk{Stream: 1, Seq: uint64(i + 1), Time: time.Now(), Data: []byte(d)})
	}
	if _, err := store.Append(ctx, "c1", chunks); err != nil {
		t.Fatal(err)
	}
	if err := store.Complete(ctx, "c1", "run1", 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	src := Source{Live: store}
	target := containers.LogTarget{ContainerID: "c1", AgentRun: "run1"}
	read := func(opts containers.LogOptions) (string, containers.LogPosition, []uint64) {
		t.Helper()
		var start containers.LogPosition
		opts.Stdout, opts.Started = true, func(p containers.LogPosition) { start = p }
		var b strings.Builder
		var seqs []uint64
		for l, err := range src.Logs(ctx, target, opts) {
			if err != nil {
				t.Fatal(err)
			}
			b.Write(l.Data)
			seqs = append(seqs, l.Seq)
		}
		return b.String(), start, seqs
	}
	tests := []struct {
		name      string
		opts      containers.LogOptions
		want      string
		wantStart containers.LogPosition
	}{
		{"all", containers.LogOptions{Tail: -1}, "l1\nl2\nl3\nl4\nl5\n", containers.LogPosition{Seq: 1}},
		{"tail 2 starts inside chunk 3", containers.LogOptions{Tail: 2}, "l4\nl5\n", containers.LogPosition{Seq: 3, Offset: 3}},
		{"resumed inside chunk 3", containers.LogOptions{Tail: 1, From: &containers.LogPosition{Seq: 3, Offset: 3}}, "l4\nl5\n", containers.LogPosition{Seq: 3, Offset: 3}},
		{"resumed after chunk 3, following", containers.LogOptions{Follow: true, From: &containers.LogPosition{Seq: 4}}, "l5\n", containers.LogPosition{Seq: 4}},
		{"resumed at the end", containers.LogOptions{From: &containers.LogPosition{Seq: 5}}, "", containers.LogPosition{Seq: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, start, seqs := read(tt.opts)
			if got != tt.want || start != tt.wantStart {
				t.Fatalf("got %q from %+v, want %q from %+v", got, start, tt.want, tt.wantStart)
			}
			if len(seqs) > 0 && seqs[len(seqs)-1] != 4 {
				t.Fatalf("sequences %v: the last line is chunk 4", seqs)
			}
		})
	}
}

// Entries are lines even when a chunk holds several (an older agent): each has its own resume position, inside the
// chunk when it ends there, and a read resumed there repeats nothing. A line the process has not ended is logged
// only once the run is over, without a newline, as Docker logs it.
func TestSourceEntriesAndUnfinishedLine(t *testing.T) {
	ctx := context.Background()
	store := newTestStore(t)
	if _, err := store.BeginRun(ctx, "c2", "run1"); err != nil {
		t.Fatal(err)
	}
	var chunks []Chunk
	for i, d := range []string{"l1\n", "l2\nl3\n", "l4\n", "unfin", "ished"} {
		chunks = append(chunks, Chunk{Stream: 1, Seq: uint64(i + 1), Time: time.Now(), Data: []byte(d)})
	}
	if _, err := store.Append(ctx, "c2", chunks); err != nil {
		t.Fatal(err)
	}
	src := Source{Live: store}
	read := func(target containers.LogTarget, opts containers.LogOptions) ([]string, []containers.LogPosition) {
		t.Helper()
		opts.Stdout = true
		var entries []string
		var next []containers.LogPosition
		for l, err := range src.Logs(ctx, target, opts) {
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, string(l.Data))
			next = append(next, containers.LogPosition{Seq: l.Seq + 1, Offset: l.Offset})
		}
		return entries, next
	}
	running := containers.LogTarget{ContainerID: "c2", AgentRun: "run1", Running: true}
	entries, next := read(running, containers.LogOptions{Tail: -1})
	if strings.Join(entries, "|") != "l1\n|l2\n|l3\n|l4\n" {
		t.Fatalf("entries of a running container %q; want four lines, the unfinished one held back", entries)
	}
	if next[1] != (containers.LogPosition{Seq: 2, Offset: 3}) {
		t.Fatalf("position after l2 %+v; want inside chunk 2", next[1])
	}
	resumed, _ := read(running, containers.LogOptions{From: &next[1]})
	if strings.Join(resumed, "|") != "l3\n|l4\n" {
		t.Fatalf("resumed after l2: %q; want l3 and l4 only", resumed)
	}
	if err := store.Complete(ctx, "c2", "run1", 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	exited := containers.LogTarget{ContainerID: "c2", AgentRun: "run1"}
	if entries, _ := read(exited, containers.LogOptions{Tail: -1}); strings.Join(entries, "|") != "l1\n|l2\n|l3\n|l4\n|unfinished" {
		t.Fatalf("entries after the exit %q; want the unfinished line last, joined, without a newline", entries)
	}
	if entries, _ := read(exited, containers.LogOptions{Tail: 2}); strings.Join(entries, "|") != "l4\n|unfinished" {
		t.Fatalf("tail 2 after the exit %q; want l4 and the unfinished line", entries)
	}
}
