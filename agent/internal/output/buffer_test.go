package output

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/linkproto"
)

func TestBufferResumesAfterAck(t *testing.T) {
	ctx := context.Background()
	b := New(1<<20, nil)
	for _, s := range []string{"a", "b", "c"} {
		if err := b.Write(ctx, 1, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	got, _, _ := b.Next(ctx, 0)
	if len(got) != 3 || got[0].Seq != 1 || string(got[2].Data) != "c" {
		t.Fatalf("got %+v", got)
	}
	b.Ack(2)
	// A redial resends from the last ack: only c.
	got, _, _ = b.Next(ctx, b.Acked())
	if len(got) != 1 || got[0].Seq != 3 {
		t.Fatalf("after ack got %+v", got)
	}
	b.Finish(Exit{Code: 3})
	if _, exit, _ := b.Next(ctx, 3); exit == nil || exit.Code != 3 {
		t.Fatalf("exit not reported: %+v", exit)
	}
}

func TestBufferBlocksWhenFullInsteadOfDropping(t *testing.T) {
	ctx := context.Background()
	b := New(10, nil)
	if err := b.Write(ctx, 1, []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() { wrote <- b.Write(ctx, 2, []byte("x")) }()
	select {
	case <-wrote:
		t.Fatal("write into a full buffer did not block")
	case <-time.After(50 * time.Millisecond):
	}
	b.Ack(1)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	got, _, _ := b.Next(ctx, 1)
	if len(got) != 1 || got[0].Seq != 2 || got[0].Stream != 2 {
		t.Fatalf("got %+v", got)
	}
}

// One chunk per line, each with its own time; the bytes after the last newline are a chunk of their own, sent at
// once; a long line is cut at linkproto.MaxChunk.
func TestWriteKeepsLines(t *testing.T) {
	ctx := context.Background()
	tick := time.Unix(1000, 0)
	b := New(1<<20, func() time.Time { tick = tick.Add(time.Millisecond); return tick })
	long := strings.Repeat("x", linkproto.MaxChunk+10) + "\n"
	if err := b.Write(ctx, 1, []byte("l1\nl2\npart")); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(ctx, 1, []byte("rest\n"+long)); err != nil {
		t.Fatal(err)
	}
	got, _, _ := b.Next(ctx, 0)
	want := []string{"l1\n", "l2\n", "part", "rest\n", long[:linkproto.MaxChunk], long[linkproto.MaxChunk:]}
	if len(got) != len(want) {
		t.Fatalf("%d chunks; want %d", len(got), len(want))
	}
	for i, c := range got {
		if string(c.Data) != want[i] || c.Seq != uint64(i+1) {
			t.Errorf("chunk %d = seq %d %.20q; want %.20q", i, c.Seq, c.Data, want[i])
		}
		if i > 0 && !c.Time.After(got[i-1].Time) {
			t.Errorf("chunk %d has the time of the one before: each line its own time", i)
		}
	}
}

// Many short lines are bounded too: each chunk costs its bytes and its header.
func TestShortLinesBoundTheBuffer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	b := New(100*chunkCost, nil)
	err := b.Write(ctx, 1, []byte(strings.Repeat("y\n", 1000)))
	if err == nil {
		t.Fatal("1000 lines fit in a buffer sized for about 100")
	}
	got, _, _ := b.Next(context.Background(), 0)
	if len(got) > 100 {
		t.Fatalf("%d chunks held; want at most 100", len(got))
	}
}
