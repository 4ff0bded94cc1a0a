package linkproto

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

// pipeEnd is one end of an in-memory frame stream that, like gRPC served through net/http, buffers whatever the
// peer sends without bound. It records the most Data bytes ever waiting in its buffer.
type pipeEnd struct {
	ctx context.Context
	in  *queue
	out *queue
}

type queue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	frames  []Frame
	closed  bool
	queued  int
	peak    int
	credits int
}

func newQueue() *queue {
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func pipe(ctx context.Context) (*pipeEnd, *pipeEnd) {
	a, b := newQueue(), newQueue()
	return &pipeEnd{ctx: ctx, in: a, out: b}, &pipeEnd{ctx: ctx, in: b, out: a}
}

func (p *pipeEnd) Context() context.Context { return p.ctx }

func (p *pipeEnd) Send(f *Frame) error {
	q := p.out
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return io.EOF
	}
	c := *f
	c.Data = append([]byte(nil), f.Data...)
	q.frames = append(q.frames, c)
	q.queued += len(c.Data)
	q.peak = max(q.peak, q.queued)
	if f.Type == FrameCredit {
		q.credits++
	}
	q.cond.Broadcast()
	return nil
}

func (p *pipeEnd) Recv(f *Frame) error {
	q := p.in
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.frames) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.frames) == 0 {
		return io.EOF
	}
	*f = q.frames[0]
	q.frames = q.frames[1:]
	q.queued -= len(f.Data)
	return nil
}

// closeSend ends the end's sending direction: the peer's Recv returns EOF once it has read the rest.
func (p *pipeEnd) closeSend() {
	p.out.mu.Lock()
	p.out.closed = true
	p.out.cond.Broadcast()
	p.out.mu.Unlock()
}

func TestFlowBoundsWhatWaitsForTheReceiver(t *testing.T) {
	const total = 64 << 20
	tests := []struct {
		name                   string
		senderWindow, recvWind int64 // the window each side declares; 0: it predates flow control
		wantBounded            bool
		wantCredits            bool
	}{
		{"both sides declared a window", Window, Window, true, true},
		{"the receiver predates flow control", Window, 0, false, false},
		{"the sender predates flow control", 0, Window, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := pipe(context.Background())
			// A side without a window behaves as one from before flow control: it never grants or waits.
			sender := NewFlow(a, tt.recvWind, tt.senderWindow)
			receiver := NewFlow(b, tt.senderWindow, tt.recvWind)
			go func() {
				chunk := make([]byte, MaxChunk)
				for sent := 0; sent < total; sent += len(chunk) {
					if err := sender.Send(&Frame{Type: FrameData, Data: chunk}); err != nil {
						t.Error(err)
						return
					}
				}
				_ = sender.Send(&Frame{Type: FrameClose})
			}()
			// The sender's side reads too, as both sides of a session do: credits arrive there.
			go func() {
				var f Frame
				for sender.Recv(&f) == nil {
				}
			}()
			got := 0
			var f Frame
			for {
				if err := receiver.Recv(&f); err != nil {
					t.Fatal(err)
				}
				if f.Type == FrameClose {
					break
				}
				got += len(f.Data)
				_ = receiver.Consumed(len(f.Data))
				if got%(4<<20) == 0 {
					time.Sleep(5 * time.Millisecond) // a slow client
				}
			}
			b.closeSend()
			peak, credits := b.in.peak, a.in.credits
			if got != total {
				t.Fatalf("received %d bytes, want %d", got, total)
			}
			if bounded := peak <= Window+MaxChunk; bounded != tt.wantBounded {
				t.Errorf("peak waiting %d bytes (window %d): bounded=%v, want %v", peak, Window, bounded, tt.wantBounded)
			}
			if (credits > 0) != tt.wantCredits {
				t.Errorf("%d credit frames sent, want any: %v", credits, tt.wantCredits)
			}
		})
	}
}

func TestFlowFirstBytesNeedNoCredit(t *testing.T) {
	a, _ := pipe(context.Background())
	sender := NewFlow(a, Window, Window)
	done := make(chan error, 1)
	go func() { done <- sender.Send(&Frame{Type: FrameData, Data: []byte("$ ")}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("the first bytes waited for a credit")
	}
}

func TestFlowWaitingSendEndsWithTheStream(t *testing.T) {
	tests := []struct {
		name string
		end  func(cancel context.CancelFunc, peer *pipeEnd)
	}{
		{"the peer ends the stream", func(_ context.CancelFunc, peer *pipeEnd) { peer.closeSend() }},
		{"the stream's context ends", func(cancel context.CancelFunc, _ *pipeEnd) { cancel() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			a, b := pipe(ctx)
			sender := NewFlow(a, MaxChunk, Window) // room for one frame
			go func() {
				var f Frame
				for sender.Recv(&f) == nil {
				}
			}()
			if err := sender.Send(&Frame{Type: FrameData, Data: make([]byte, MaxChunk)}); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- sender.Send(&Frame{Type: FrameData, Data: []byte("x")}) }()
			select {
			case err := <-done:
				t.Fatalf("a send beyond the window went through: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			tt.end(cancel, b)
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("the waiting send succeeded on an ended stream")
				}
				if !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
					t.Fatalf("unexpected error %v", err)
				}
			case <-time.After(time.Second):
				t.Fatal("the waiting send did not end with the stream")
			}
		})
	}
}
