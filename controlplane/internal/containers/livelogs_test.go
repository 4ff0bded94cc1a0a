package containers

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/runsock/runsock/controlplane/internal/livelogs"
)

// A read that the request timeout cut resumes where it stood: a re-issued `logs --tail N` does not move its
// start, and a position inside a chunk (a tail's first line) is kept.
func TestLiveLogsStartAndResume(t *testing.T) {
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		t.Setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:18081")
	}
	ctx := context.Background()
	fs, err := firestore.NewClient(ctx, fmt.Sprintf("containers-livelogs-test-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	store := livelogs.New(fs, livelogs.Options{Poll: 100 * time.Millisecond})
	if _, err := store.BeginRun(ctx, "c1", "run1"); err != nil {
		t.Fatal(err)
	}
	var chunks []livelogs.Chunk
	for i, d := range []string{"l1\n", "l2\n", "l3\nl4\n", "l5\n"} {
		chunks = append(chunks, livelogs.Chunk{Stream: 1, Seq: uint64(i + 1), Time: time.Now(), Data: []byte(d)})
	}
	if _, err := store.Append(ctx, "c1", chunks); err != nil {
		t.Fatal(err)
	}
	if err := store.Complete(ctx, "c1", 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	src := LiveLogs{Live: store}
	target := LogTarget{ContainerID: "c1", AgentRun: "run1"}
	read := func(opts LogOptions) (string, LogPosition, []uint64) {
		t.Helper()
		var start LogPosition
		opts.Stdout, opts.Started = true, func(p LogPosition) { start = p }
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
		opts      LogOptions
		want      string
		wantStart LogPosition
	}{
		{"all", LogOptions{Tail: -1}, "l1\nl2\nl3\nl4\nl5\n", LogPosition{Seq: 1}},
		{"tail 2 starts inside chunk 3", LogOptions{Tail: 2}, "l4\nl5\n", LogPosition{Seq: 3, Offset: 3}},
		{"resumed inside chunk 3", LogOptions{Tail: 1, From: &LogPosition{Seq: 3, Offset: 3}}, "l4\nl5\n", LogPosition{Seq: 3, Offset: 3}},
		{"resumed after chunk 3, following", LogOptions{Follow: true, From: &LogPosition{Seq: 4}}, "l5\n", LogPosition{Seq: 4}},
		{"resumed at the end", LogOptions{From: &LogPosition{Seq: 5}}, "", LogPosition{Seq: 5}},
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
