package output

import (
	"context"
	"sync"
	"time"

	"github.com/runsock/runsock/linkproto"
)

// Chunk is one piece of output.
type Chunk struct {
	Stream uint8
	Seq    uint64
	Time   time.Time
	Data   []byte
}

// Exit is the main process's exit report.
type Exit struct {
	Code      int
	At        time.Time
	OOMKilled bool // a process of the container was killed by the kernel's OOM killer
}

// Buffer is the bounded, sequence-numbered output buffer. Sequences start at 1.
type Buffer struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	chunks  []Chunk       // unacknowledged, ascending
	size    int
	next    uint64
	acked   uint64
	exit    *Exit
	drop    bool // when full, drop the oldest chunks instead of blocking
}

// New returns a buffer holding at most maxBytes of unacknowledged output. now may be nil (time.Now).
func New(maxBytes int, now func() time.Time) *Buffer {
	if now == nil {
		now = time.Now
	}
	return &Buffer{max: maxBytes, now: now, next: 1, changed: make(chan struct{})}
}

func (b *Buffer) signal() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// Write appends p to stream as one or more chunks, blocking while the buffer is full. It copies p.
func (b *Buffer) Write(ctx context.Context, stream uint8, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), linkproto.MaxChunk)
		if err := b.append(ctx, stream, p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

func (b *Buffer) append(ctx context.Context, stream uint8, p []byte) error {
	b.mu.Lock()
	for b.size > 0 && b.size+len(p) > b.max {
		if b.drop {
			b.size -= len(b.chunks[0].Data)
			b.chunks = b.chunks[1:]
			continue
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	b.chunks = append(b.chunks, Chunk{Stream: stream, Seq: b.next, Time: b.now(), Data: append([]byte(nil), p...)})
	b.next++
	b.size += len(p)
	b.signal()
	return nil
}

// Writer returns an io.Writer for one stream.
func (b *Buffer) Writer(ctx context.Context, stream uint8) *StreamWriter {
	return &StreamWriter{ctx: ctx, b: b, stream: stream}
}

// StreamWriter writes to one stream of a Buffer.
type StreamWriter struct {
	ctx    context.Context
	b      *Buffer
	stream uint8
}

func (w *StreamWriter) Write(p []byte) (int, error) {
	if err := w.b.Write(w.ctx, w.stream, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// SetDropWhenFull chooses what a full buffer does: block writers (false, the default: nothing is lost while a link
// exists or will come back) or drop the oldest chunks (true: for an agent that never reached the control plane, whose
// output Cloud Logging still has, so the process is not stalled forever).
func (b *Buffer) SetDropWhenFull(drop bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drop = drop
	b.signal()
}

// Ack drops every chunk up to seq: the control plane has made them durable.
func (b *Buffer) Ack(seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if seq <= b.acked {
		return
	}
	b.acked = seq
	i := 0
	for i < len(b.chunks) && b.chunks[i].Seq <= seq {
		b.size -= len(b.chunks[i].Data)
		i++
	}
	b.chunks = append(b.chunks[:0:0], b.chunks[i:]...)
	b.signal()
}

// Acked is the highest acknowledged sequence.
func (b *Buffer) Acked() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.acked
}

// Finish records the exit report; no more output may follow.
func (b *Buffer) Finish(e Exit) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.exit = &e
	b.signal()
}

// Next waits until there are chunks after seq, or the exit report once everything after seq has been handed out,
// and returns them. It returns ctx.Err() when ctx ends.
func (b *Buffer) Next(ctx context.Context, after uint64) ([]Chunk, *Exit, error) {
	for {
		b.mu.Lock()
		var out []Chunk
		for _, c := range b.chunks {
			if c.Seq > after {
				out = append(out, c)
			}
		}
		exit, ch := b.exit, b.changed
		b.mu.Unlock()
		if len(out) > 0 {
			return out, nil, nil
		}
		if exit != nil {
			return nil, exit, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-ch:
		}
	}
}

// WaitDrained waits until every chunk is acknowledged, or ctx ends.
func (b *Buffer) WaitDrained(ctx context.Context) error {
	for {
		b.mu.Lock()
		done, ch := len(b.chunks) == 0, b.changed
		b.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
