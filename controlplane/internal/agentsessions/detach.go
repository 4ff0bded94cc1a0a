package agentsessions

import (
	"errors"
	"io"
	"sync"

	"github.com/runsock/runsock/controlplane/internal/detachkeys"
)

// detacher spots a TTY session's detach sequence in its input: then done is closed, and the output writers it
// wrapped write nowhere (the process runs on without a client, as in Docker).
type detacher struct {
	once sync.Once
	done chan struct{}
}

func newDetacher() *detacher { return &detacher{done: make(chan struct{})} }

func (d *detacher) detached() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// reader is r with the detach sequence keys spotted; the sequence itself never reaches the process.
func (d *detacher) reader(r io.Reader, keys []byte) io.Reader {
	return &detachReader{d: d, r: detachkeys.NewReader(r, keys)}
}

type detachReader struct {
	d *detacher
	r io.Reader
}

func (r *detachReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if errors.Is(err, detachkeys.ErrDetached) {
		r.d.once.Do(func() { close(r.d.done) })
	}
	return n, err
}

// writer is w until the client detaches, then a sink; nil stays nil (not attached).
func (d *detacher) writer(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return &detachWriter{d: d, w: w}
}

type detachWriter struct {
	d *detacher
	w io.Writer
}

func (w *detachWriter) Write(p []byte) (int, error) {
	if w.d.detached() {
		return len(p), nil
	}
	return w.w.Write(p)
}
