package dockerapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/moby/moby/api/types"
)

// duplex is a bidirectional client stream: a hijacked HTTP/1.1 connection (101 UPGRADED when the client asked to
// upgrade, as the docker CLI does) or, over HTTP/2 where there is no Upgrade (localproxy), a full-duplex request:
// the request body is the input, the response body the output. Everything a handler rejects, it rejects before
// opening one.
type duplex struct {
	ctx    context.Context // ends when the client has gone
	cancel context.CancelFunc
	in     io.Reader // the client's input; EOF is its half-close
	out    io.Writer // flushed on every write
	conn   net.Conn  // HTTP/1.1 only
	done   func()
}

func (h *Handler) openDuplex(w http.ResponseWriter, r *http.Request, ctype string) (*duplex, error) {
	if r.ProtoMajor >= 2 {
		rc := http.NewResponseController(w)
		_ = rc.EnableFullDuplex()
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(http.StatusOK)
		if err := rc.Flush(); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(r.Context())
		return &duplex{ctx: ctx, cancel: cancel, in: r.Body, out: &flushWriter{w: w, rc: rc}, done: cancel}, nil
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	untrack := h.track(conn)
	conn.SetDeadline(time.Time{})
	status := "HTTP/1.1 200 OK\r\nContent-Type: " + ctype + "\r\n\r\n"
	if r.Header.Get("Upgrade") != "" {
		status = "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + ctype + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
	}
	if _, err := buf.WriteString(status); err == nil {
		err = buf.Flush()
	}
	if err != nil {
		untrack()
		conn.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	d := &duplex{ctx: ctx, cancel: cancel, out: conn, conn: conn}
	d.in = &goneReader{r: buf.Reader, gone: cancel}
	d.done = func() {
		cancel()
		untrack()
		conn.Close()
	}
	return d, nil
}

// drainInput reads and discards the input (no stdin attached): the client closing the connection ends the stream,
// its half-close does not.
func (d *duplex) drainInput() {
	go io.Copy(io.Discard, d.in)
}

// closeWrite ends the output direction (the client sees EOF) and then the stream.
func (d *duplex) closeWrite() {
	if d.conn != nil {
		if tc, ok := d.conn.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
		}
	}
	d.done()
}

// goneReader cancels the stream when reading fails other than by EOF (the client went away).
type goneReader struct {
	r    *bufio.Reader
	gone context.CancelFunc
}

func (g *goneReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		g.gone()
	}
	return n, err
}

type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// streamWriter writes one stream of a muxWriter.
type streamWriter struct {
	mw     *muxWriter
	stream int
}

func (s streamWriter) Write(p []byte) (int, error) {
	if err := s.mw.write(s.stream, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteSeq implements agentlink.SeqWriter: the attach's output position travels with the bytes.
func (s streamWriter) WriteSeq(p []byte, next uint64) error {
	return s.mw.writePos(s.stream, p, strconv.FormatUint(next, 10))
}

func streamType(tty bool) string {
	if tty {
		return types.MediaTypeRawStream
	}
	return types.MediaTypeMultiplexedStream
}
