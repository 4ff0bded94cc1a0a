package output

import (
	"context"
	"testing"
	"time"
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
