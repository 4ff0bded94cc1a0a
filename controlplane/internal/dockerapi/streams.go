package dockerapi

import (
	"context"
	"encoding/binary"
	"io"
	"iter"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/detachkeys"
	"github.com/runsock/runsock/controlplane/internal/errkind"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/proxyproto"
)

var errNotImplemented = errdefs.ErrNotImplemented

// muxWriter frames output with stdcopy's 8-byte header (stream, 0, 0, 0, big-endian length) unless raw, and, for a
// resumable stream (framed), wraps every write in a proxyproto frame. After close it writes nothing: goroutines
// that outlive the handler (stdin acknowledgements) must not touch the ResponseWriter.
//
// Entries written without a flush (writeEntry's flush false: the next log line is already at hand) are gathered and
// written together, up to pendMax, with the next flushing write: a log of many short lines is a few writes to the
// HTTP/2 stream, not one a line. What the client receives is the same bytes, frame by frame.
type muxWriter struct {
	mu     sync.Mutex
	w      io.Writer
	flush  func() error
	raw    bool
	framed bool
	closed bool
	buf    []byte // one entry's payload, reused
	pend   []byte // entries not yet written to w
}

// pendMax bounds the entries gathered before they are written even without a flush.
const pendMax = 32 << 10

func (m *muxWriter) write(stream int, p []byte) error { return m.writePos(stream, p, "") }

// writePos writes p on stream and flushes; pos is where the stream stands after it (framed streams only; "" = not
// resumable).
func (m *muxWriter) writePos(stream int, p []byte, pos string) error {
	return m.writeEntry(stream, p, pos, true)
}

// writeEntry is writePos, flushing (and writing what was gathered) only when flush says so (the next entry is not
// already at hand).
func (m *muxWriter) writeEntry(stream int, p []byte, pos string, flush bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return io.ErrClosedPipe
	}
	b := m.buf[:0]
	if !m.raw {
		var hdr [8]byte
		hdr[0] = byte(stream)
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
		b = append(b, hdr[:]...)
	}
	b = append(b, p...)
	m.buf = b
	if m.framed {
		var err error
		if m.pend, err = proxyproto.Append(m.pend, proxyproto.Frame{Kind: proxyproto.KindData, Pos: pos, Data: b}); err != nil {
			return err
		}
	} else {
		m.pend = append(m.pend, b...)
	}
	if !flush && len(m.pend) < pendMax {
		return nil
	}
	return m.writePending(flush)
}

// frame writes a control frame of a framed stream (nothing otherwise), after what was gathered, and flushes.
func (m *muxWriter) frame(kind byte, pos string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.framed {
		return nil
	}
	if m.closed {
		return io.ErrClosedPipe
	}
	var err error
	if m.pend, err = proxyproto.Append(m.pend, proxyproto.Frame{Kind: kind, Pos: pos, Data: data}); err != nil {
		return err
	}
	return m.writePending(true)
}

// writePending writes what was gathered and, if flush, flushes. m.mu is held.
func (m *muxWriter) writePending(flush bool) error {
	b := m.pend
	m.pend = m.pend[:0]
	if len(b) > 0 {
		if _, err := m.w.Write(b); err != nil {
			return err
		}
	}
	if flush && m.flush != nil {
		return m.flush()
	}
	return nil
}

// end marks the natural end of a framed stream, then closes m.
func (m *muxWriter) end(final []byte) {
	m.frame(proxyproto.KindEnd, "", final)
	m.close()
}

// close writes what was gathered (the lines before a stream's failure are still the client's) and stops writing.
func (m *muxWriter) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		_ = m.writePending(true)
	}
	m.closed = true
}

func (h *Handler) containerLogs(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	q := r.URL.Query()
	opts := containers.LogOptions{Follow: boolValue(r, "follow"), Stdout: boolValue(r, "stdout"), Stderr: boolValue(r, "stderr"), Tail: -1}
	if !opts.Stdout && !opts.Stderr {
		return invalid("Bad parameters: you must choose at least one stream")
	}
	now := time.Now()
	var err error
	for k, dst := range map[string]*time.Time{"since": &opts.Since, "until": &opts.Until} {
		if v := q.Get(k); v != "" && v != "0" {
			if *dst, err = parseTime(k, v, now); err != nil {
				return err
			}
		}
	}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return invalid("invalid value for tail: %q", t)
		}
		opts.Tail = n
	}
	tok, err := resumeToken(r, "logs")
	if err != nil {
		return err
	}
	if tok != nil {
		if err := applyLogsToken(r, tok, &opts); err != nil {
			return err
		}
	}
	framed := resumable(w, r)
	var c *containers.Container
	var mw *muxWriter
	opts.Started = func(start containers.LogPosition) { // called while lines are copied, when mw exists
		if mw != nil {
			mw.frame(proxyproto.KindToken, "", []byte(logsToken(c.ID, opts.Since, opts.Until, start)))
		}
	}
	c, lines, err := h.c.Logs(r.Context(), p, r.PathValue("id"), opts)
	if err != nil {
		return err
	}
	if tok != nil && tok.Get("id") != c.ID {
		return notFoundContainer(r.PathValue("id"))
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", streamType(c.Config.Tty))
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	mw = &muxWriter{w: w, flush: rc.Flush, raw: c.Config.Tty, framed: framed}
	defer mw.close()
	if h.copyLines(r.Context(), mw, lines, boolValue(r, "timestamps")) {
		mw.end(nil)
	}
	return nil
}

// copyLines writes lines until the sequence ends, and reports whether it did (rather than failing or the client
// going away); an error after the headers can only end the stream. Lines from the live output carry their
// position, so that a framed stream can be resumed after each.
func (h *Handler) copyLines(ctx context.Context, mw *muxWriter, lines iter.Seq2[containers.LogLine, error], timestamps bool) bool {
	var stamped []byte // a line with its timestamp, reused: writeEntry copies it
	var posb []byte    // a position being formatted, reused
	for l, err := range lines {
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("log stream ended", "err", err)
			}
			return false
		}
		data := l.Data
		if timestamps {
			stamped = append(append(l.Time.UTC().AppendFormat(stamped[:0], "2006-01-02T15:04:05.000000000Z"), ' '), data...)
			data = stamped
		}
		pos := ""
		if l.Seq > 0 || l.Offset > 0 {
			posb = strconv.AppendUint(posb[:0], l.Seq+1, 10)
			if l.Offset > 0 { // the entry ended inside chunk Seq+1
				posb = strconv.AppendInt(append(posb, '.'), int64(l.Offset), 10)
			}
			pos = string(posb)
		}
		if mw.writeEntry(l.Stream, data, pos, !l.More) != nil {
			return false
		}
	}
	return ctx.Err() == nil
}

// containerAttach streams the container's output. Over HTTP/1.1 it hijacks the connection as Docker does (101
// UPGRADED when asked to upgrade); over HTTP/2 (localproxy) there is no Upgrade, so it answers 200 and streams
// full-duplex: the response body is the output, the request body stdin. Everything rejected is rejected before.
func (h *Handler) containerAttach(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if _, err := detachkeys.Parse(r.URL.Query().Get("detachKeys")); err != nil {
		return invalid("Invalid detach keys (%s) provided", r.URL.Query().Get("detachKeys"))
	}
	if !boolValue(r, "stream") && !boolValue(r, "logs") {
		// Docker refuses nothing here (the Go SDK's attach without Stream or Logs is a client's slip it forgives):
		// it upgrades, has nothing to send, and ends the stream.
		c, err := h.c.Resolve(r.Context(), p, r.PathValue("id"))
		if err != nil {
			return err
		}
		d, err := h.openDuplex(w, r, streamType(c.Config.Tty))
		if err != nil {
			return nil
		}
		d.drainInput()
		d.closeWrite()
		return nil
	}
	if h.agent != nil {
		c, agent, err := h.agent.AgentContainer(r.Context(), p, r.PathValue("id"))
		if err != nil {
			return err
		}
		if agent {
			return h.attachAgent(w, r, c)
		}
	}
	c, stream, err := h.c.Attach(r.Context(), p, r.PathValue("id"), boolValue(r, "stdout"), boolValue(r, "stderr"))
	if err != nil {
		return err
	}
	d, err := h.openDuplex(w, r, streamType(c.Config.Tty))
	if err != nil {
		return nil
	}
	defer d.closeWrite()
	// Without the agent there is no stdin to feed: it is drained, so the client's going away is seen and its
	// half-close is not taken for the end.
	d.drainInput()
	h.copyLines(d.ctx, &muxWriter{w: d.out, raw: c.Config.Tty}, stream(d.ctx), false)
	return nil
}

// containerAttachWebSocket answers Docker's WebSocket attach reaching the control plane: localproxy serves it (as
// the same full-duplex attach a hijack becomes), since Google's front end carries no WebSocket to a service that
// speaks end-to-end HTTP/2.
func (h *Handler) containerAttachWebSocket(w http.ResponseWriter, r *http.Request, p identity.Principal) error {
	if _, err := h.c.Resolve(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	// A 400, not a 501: the route is served, by localproxy; the request came the wrong way.
	return &errkind.Error{Kind: errdefs.ErrInvalidArgument,
		Msg: "attach over WebSocket is served by localproxy: Cloud Run's front end carries no WebSocket to the control plane"}
}
