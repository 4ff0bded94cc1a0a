package resume

import (
	"errors"
	"io"
	"sync"
)

// maxUnacked bounds the stdin kept for a resume: reading the client's stdin pauses beyond it until the control
// plane acknowledges (flow control, as the HTTP/2 stream's window would apply).
const maxUnacked = 4 << 20

// StdinLog reads a client's stdin once and serves it to one upstream request body after another: each Reader
// starts at a stdin offset, and what the control plane has acknowledged (Ack) is forgotten. Without Keep, bytes are
// forgotten as soon as a reader has taken them (a stream that cannot be resumed).
type StdinLog struct {
	mu     sync.Mutex
	cond   *sync.Cond
	base   int64 // stdin offset of buf[0]
	buf    []byte
	eof    bool
	keep   bool
	closed bool
}

// NewStdinLog starts reading src (the client's stdin; any error is its end) into a log. keep: hold bytes until
// acknowledged.
func NewStdinLog(src io.Reader, keep bool) *StdinLog {
	l := &StdinLog{keep: keep}
	l.cond = sync.NewCond(&l.mu)
	go l.pump(src)
	return l
}

func (l *StdinLog) pump(src io.Reader) {
	b := make([]byte, 32<<10)
	for {
		n, err := src.Read(b)
		l.mu.Lock()
		l.buf = append(l.buf, b[:n]...)
		if err != nil {
			l.eof = true
		}
		l.cond.Broadcast()
		for l.keep && len(l.buf) > maxUnacked && !l.closed {
			l.cond.Wait()
		}
		done := l.eof || l.closed
		l.mu.Unlock()
		if done {
			return
		}
	}
}

// Ack forgets stdin before offset n (the control plane has handed it on).
func (l *StdinLog) Ack(n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropTo(n)
	l.cond.Broadcast()
}

func (l *StdinLog) dropTo(n int64) {
	if d := n - l.base; d > 0 {
		d = min(d, int64(len(l.buf)))
		l.buf = l.buf[d:]
		l.base += d
	}
}

// Keep sets whether bytes are held until acknowledged.
func (l *StdinLog) Keep(keep bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keep = keep
	l.cond.Broadcast()
}

// Acked is the offset of the first byte not yet acknowledged: where a resumed body starts.
func (l *StdinLog) Acked() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.base
}

// Close ends every reader (they return io.EOF) and the pump at its next read.
func (l *StdinLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.cond.Broadcast()
}

// Reader reads stdin from offset at until its EOF (or until it or the log is closed: the HTTP/2 transport closes
// a request body whose stream has ended).
func (l *StdinLog) Reader(at int64) io.ReadCloser { return &stdinReader{l: l, off: at} }

type stdinReader struct {
	l      *StdinLog
	off    int64
	closed bool
}

func (r *stdinReader) Close() error {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	r.closed = true
	r.l.cond.Broadcast()
	return nil
}

// errForgotten is a reader behind the acknowledged offset: a control plane acknowledging bytes it never got.
var errForgotten = errors.New("stdin before the acknowledged offset is gone")

func (r *stdinReader) Read(p []byte) (int, error) {
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.closed || r.closed {
			return 0, io.EOF
		}
		if r.off < l.base {
			return 0, errForgotten
		}
		if i := r.off - l.base; i < int64(len(l.buf)) {
			n := copy(p, l.buf[i:])
			r.off += int64(n)
			if !l.keep {
				l.dropTo(r.off)
				l.cond.Broadcast()
			}
			return n, nil
		}
		if l.eof {
			return 0, io.EOF
		}
		l.cond.Wait()
	}
}
