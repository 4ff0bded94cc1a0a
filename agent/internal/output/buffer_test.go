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

// A write is a chunk with the time it was written (readers split it into lines); a long one is cut at
// linkproto.MaxChunk.
func TestWriteStampsEachWrite(t *testing.T) {
	ctx := context.Background()
	tick := time.Unix(1000, 0)
	b := New(1<<20, func() time.Time { tick = tick.Add(time.Millisecond); return tick })
	long := strings.Repeat("x", linkproto.MaxChunk+10)
	for _, w := range []string{"l1\nl2\npart", "rest\n", long} {
		if err := b.Write(ctx, 1, []byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	got, _, _ := b.Next(ctx, 0)
	want := []string{"l1\nl2\npart", "rest\n", long[:linkproto.MaxChunk], long[linkproto.MaxChunk:]}
	if len(got) != len(want) {
		t.Fatalf("%d chunks; want %d", len(got), len(want))
	}
	for i, c := range got {
		if string(c.Data) != want[i] || c.Seq != uint64(i+1) {
			t.Errorf("chunk %d = seq %d %.20q; want %.20q", i, c.Seq, c.Data, want[i])
		}
		if i > 0 && !c.Time.After(got[i-1].Time) {
			t.Errorf("chunk %d has the time of the one before", i)
		}
	}
}

// Many short writes are bounded too: each chunk costs its bytes and its header.
func TestShortLinesBoundTheBuffer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	b := New(100*chunkCost, nil)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = b.Write(ctx, 1, []byte("y\n"))
	}
	if err == nil {
		t.Fatal("1000 lines fit in a buffer sized for about 100")
	}
	got, _, _ := b.Next(context.Background(), 0)
	if len(got) > 100 {
		t.Fatalf("%d chunks held; want at most 100", len(got))
	}
}
