package agentlink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/livelogs"
	"github.com/runsock/runsock/linkproto"
)

// Size is a terminal size.
type Size struct{ Height, Width uint16 }

// Streams are a session's client-side streams. Nil members are not used.
type Streams struct {
	Stdin  io.Reader   // nil: no input; EOF half-closes the process's stdin
	Stdout io.Writer   // nil: discarded (with a TTY everything arrives here)
	Stderr io.Writer   // nil: discarded
	Resize <-chan Size // terminal resizes
}

func writerOr(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// ExecSpec is the process an exec starts (Cmd, Env, WorkingDir, User, Tty, initial size). Stdin is set by Exec.
type ExecSpec = linkproto.ExecSpec

// Exec runs spec in the container and returns its exit code once it has exited and its output is written.
// started (may be nil) is called with the process's PID. A detached exec is an Exec with nil Streams run in a
// goroutine of the caller's.
func (h *Hub) Exec(ctx context.Context, containerID string, spec ExecSpec, s Streams, started func(pid int)) (int, error) {
	spec.Stdin = s.Stdin != nil
	sess, err := h.open(ctx, containerID, linkproto.OpenSpec{Kind: linkproto.KindExec, Exec: &spec})
	if err != nil {
		return 0, err
	}
	defer sess.close()
	var f linkproto.Frame
	if err := sess.recv(&f); err != nil {
		return 0, err
	}
	if started != nil && f.Type == linkproto.FrameStarted {
		started(int(f.Code))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go h.feed(ctx, sess, s)
	stdout, stderr := writerOr(s.Stdout), writerOr(s.Stderr)
	for {
		if err := sess.recv(&f); err != nil {
			return 0, err
		}
		switch f.Type {
		case linkproto.FrameData:
			w := stdout
			if f.Stream == linkproto.StreamStderr {
				w = stderr
			}
			if _, err := w.Write(f.Data); err != nil {
				return 0, fmt.Errorf("exec output: %w", err)
			}
		case linkproto.FrameResult:
			return int(f.Code), nil
		}
	}
}

// feed sends stdin and resizes to a session until ctx ends.
func (h *Hub) feed(ctx context.Context, sess *session, s Streams) {
	if s.Stdin != nil {
		go func() { _ = sess.copyIn(s.Stdin, linkproto.StreamStdin) }()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-s.Resize:
			if !ok {
				return
			}
			_ = sess.send(&linkproto.Frame{Type: linkproto.FrameResize, Seq: uint64(sz.Height), Code: int64(sz.Width)})
		}
	}
}

// AttachOptions are docker attach's choices.
type AttachOptions struct {
	Logs   bool // replay the output so far first
	Stream bool // then follow live output until the container exits
	// NextRun: attaching before (re)start — do not end on the previous run's exit (docker run, docker start -a).
	NextRun bool
	// Resume continues an attach that the request timeout cut, from a cursor its Started reported (advanced by
	// what was delivered since); Logs and NextRun are then ignored.
	Resume *AttachCursor
	// Started, when set, is called with the cursor of this attach's output before any of it is written (Stream
	// only).
	Started func(AttachCursor)
	// Resumable: the client will resume this attach if its stream is cut, so ending it without an end of stdin
	// does not end the process's stdin (docker run -i closes it only at the client's end of input).
	Resumable bool
	// Detached, when closed, says the client typed the detach sequence: the input session then ends without
	// ending the process's stdin, as a cut would.
	Detached <-chan struct{}
}

// AttachCursor is where an attach's output stands: the next sequence of the container's live output to deliver,
// and the run whose end does not end the attach (the previous run, when attached before a start).
type AttachCursor struct {
	Next    uint64
	SkipRun string
}

// SeqWriter is an output writer that records where each write leaves the container's output (the sequence to
// resume from after it), so that a cut stream can resume there. Attach uses it when Stdout or Stderr has it.
type SeqWriter interface {
	WriteSeq(p []byte, next uint64) error
}

// Attach connects to the main process: output from the live logs (so nothing printed before the link exists is
// missed), input (stdin, resizes) through an attach session once the agent is connected. It returns when the
// output ends (the container exited), or, without Stream, after the replay.
func (h *Hub) Attach(ctx context.Context, containerID string, opts AttachOptions, s Streams) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := h.opts.Logs.State(ctx, containerID)
	if err != nil {
		return err
	}
	after, skipRun := st.LastSeq, ""
	if opts.Logs {
		after = 0
	}
	if opts.NextRun && st.Complete {
		skipRun = st.Run
	}
	if opts.Resume != nil {
		after, skipRun = opts.Resume.Next-min(opts.Resume.Next, 1), opts.Resume.SkipRun
	}
	if s.Stdin != nil || s.Resize != nil {
		go h.attachInput(ctx, containerID, s, opts.Resumable, opts.Detached)
	}
	stdout, stderr := writerOr(s.Stdout), writerOr(s.Stderr)
	write := func(c livelogs.Chunk) error {
		w := stdout
		if c.Stream == linkproto.StreamStderr {
			w = stderr
		}
		if sw, ok := w.(SeqWriter); ok {
			return sw.WriteSeq(c.Data, c.Seq+1)
		}
		_, err := w.Write(c.Data)
		return err
	}
	if !opts.Stream {
		if !opts.Logs {
			return nil
		}
		for c, err := range h.opts.Logs.Chunks(ctx, containerID, 0) {
			if err == nil {
				err = write(c)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	if opts.Started != nil {
		opts.Started(AttachCursor{Next: after + 1, SkipRun: skipRun})
	}
	return h.opts.Logs.Follow(ctx, containerID, livelogs.FollowOptions{After: after, SkipRun: skipRun}, write)
}

// attachInput waits for the agent (however long ctx allows) and forwards input to the main process.
func (h *Hub) attachInput(ctx context.Context, containerID string, s Streams, resumable bool, detached <-chan struct{}) {
	if _, err := h.conn(ctx, containerID); err != nil {
		return
	}
	sess, err := h.open(ctx, containerID, linkproto.OpenSpec{Kind: linkproto.KindAttach})
	if err != nil {
		h.log.Warn("attach input", "container", containerID, "error", err)
		return
	}
	defer func() {
		select {
		case <-detached:
			resumable = true // a detach leaves stdin open, as a cut does
		default:
		}
		if resumable {
			sess.abort() // after copyIn's Close frame, if stdin ended, the abort changes nothing
		} else {
			sess.close()
		}
	}()
	go sess.drain() // the agent's credits for stdin; ends when the session does
	h.feed(ctx, sess, s)
}

// call runs a one-shot session and decodes its result into v.
func (h *Hub) call(ctx context.Context, containerID string, spec linkproto.OpenSpec, v any) error {
	sess, err := h.open(ctx, containerID, spec)
	if err != nil {
		return err
	}
	defer sess.close()
	_, err = sess.result(v)
	return err
}

// Signal sends sig to the container's main process.
func (h *Hub) Signal(ctx context.Context, containerID string, sig syscall.Signal) error {
	return h.call(ctx, containerID, linkproto.OpenSpec{Kind: linkproto.KindSignal, Signal: int(sig)}, nil)
}

// Pause stops every process of the container but its agent (docker pause).
func (h *Hub) Pause(ctx context.Context, containerID string) error {
	return h.call(ctx, containerID, linkproto.OpenSpec{Kind: linkproto.KindPause}, nil)
}

// Unpause continues every process of the container (docker unpause).
func (h *Hub) Unpause(ctx context.Context, containerID string) error {
	return h.call(ctx, containerID, linkproto.OpenSpec{Kind: linkproto.KindUnpause}, nil)
}

// Top lists the container's processes (ps -ef columns; psArgs is passed along but only the default is rendered).
func (h *Hub) Top(ctx context.Context, containerID, psArgs string) (container.TopResponse, error) {
	var t linkproto.Top
	if err := h.call(ctx, containerID, linkproto.OpenSpec{Kind: linkproto.KindTop, TopArgs: psArgs}, &t); err != nil {
		return container.TopResponse{}, err
	}
	return container.TopResponse{Titles: t.Titles, Processes: t.Processes}, nil
}

// Stats samples the container's figures. Pass the previous sample (or nil) to fill the pre-CPU fields, as
// streamed docker stats does.
func (h *Hub) Stats(ctx context.Context, containerID string, prev *container.StatsResponse) (container.StatsResponse, error) {
	var s linkproto.Stats
	if err := h.call(ctx, containerID, linkproto.OpenSpec{Kind: linkproto.KindStats}, &s); err != nil {
		return container.StatsResponse{}, err
	}
	out := container.StatsResponse{
		ID: containerID, OSType: "linux", Read: s.Read,
		CPUStats: container.CPUStats{
			CPUUsage:    container.CPUUsage{TotalUsage: s.CPUUsageNanos, UsageInKernelmode: s.CPUSystemNanos, UsageInUsermode: s.CPUUserNanos},
			SystemUsage: s.SystemNanos, OnlineCPUs: s.OnlineCPUs,
		},
		MemoryStats: container.MemoryStats{Usage: s.MemoryUsage, Limit: s.MemoryLimit, Stats: s.MemoryStats},
		PidsStats:   container.PidsStats{Current: s.PIDs},
		BlkioStats: container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{
			{Op: "read", Value: s.BlkioRead}, {Op: "write", Value: s.BlkioWrite}}},
		Networks: map[string]container.NetworkStats{},
	}
	for name, n := range s.Networks {
		out.Networks[name] = container.NetworkStats{RxBytes: n.RxBytes, RxPackets: n.RxPackets, RxErrors: n.RxErrors, RxDropped: n.RxDropped,
			TxBytes: n.TxBytes, TxPackets: n.TxPackets, TxErrors: n.TxErrors, TxDropped: n.TxDropped}
	}
	if prev != nil {
		out.PreRead, out.PreCPUStats = prev.Read, prev.CPUStats
	}
	return out, nil
}

func pathStat(p linkproto.PathStat) container.PathStat {
	return container.PathStat{Name: p.Name, Size: p.Size, Mode: os.FileMode(p.Mode), Mtime: p.Mtime, LinkTarget: p.LinkTarget}
}

// ArchiveStat describes a path in the container (HEAD archive).
func (h *Hub) ArchiveStat(ctx context.Context, containerID, path string) (container.PathStat, error) {
	var st linkproto.PathStat
	err := h.call(ctx, containerID, linkproto.OpenSpec{Kind: linkproto.KindArchiveStat, Archive: &linkproto.ArchiveSpec{Path: path}}, &st)
	return pathStat(st), err
}

// ArchiveGet returns the path's stat and a tar stream of it (GET archive). The stream is read straight off the link
// (never buffered whole); Close it.
func (h *Hub) ArchiveGet(ctx context.Context, containerID, path string) (container.PathStat, io.ReadCloser, error) {
	sess, err := h.open(ctx, containerID, linkproto.OpenSpec{Kind: linkproto.KindArchiveGet, Archive: &linkproto.ArchiveSpec{Path: path}})
	if err != nil {
		return container.PathStat{}, nil, err
	}
	var f linkproto.Frame
	if err := sess.recv(&f); err != nil {
		sess.close()
		return container.PathStat{}, nil, err
	}
	var st linkproto.PathStat
	if err := linkproto.DecodeMeta(f.Meta, &st); err != nil {
		sess.close()
		return container.PathStat{}, nil, err
	}
	return pathStat(st), &archiveReader{sess: sess}, nil
}

// Capture reads the container's changes against its image as a layer tar, once its main process has ended
// (linkproto.KindCapture). Over the agent's limit it is errdefs.ErrResourceExhausted. Close the reader.
func (h *Hub) Capture(ctx context.Context, containerID string) (linkproto.Capture, io.ReadCloser, error) {
	a, err := h.captureConn(ctx, containerID)
	if err != nil {
		return linkproto.Capture{}, nil, err
	}
	sess, err := h.openOn(ctx, a, containerID, linkproto.OpenSpec{Kind: linkproto.KindCapture})
	if err != nil {
		return linkproto.Capture{}, nil, err
	}
	var f linkproto.Frame
	if err := sess.recv(&f); err != nil {
		sess.close()
		return linkproto.Capture{}, nil, err
	}
	var c linkproto.Capture
	if err := linkproto.DecodeMeta(f.Meta, &c); err != nil {
		sess.close()
		return linkproto.Capture{}, nil, err
	}
	return c, &archiveReader{sess: sess}, nil
}

type archiveReader struct {
	sess *session
	buf  []byte
	err  error
	f    linkproto.Frame
}

func (r *archiveReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 && r.err == nil {
		if err := r.sess.recv(&r.f); err != nil {
			r.err = err
			break
		}
		switch r.f.Type {
		case linkproto.FrameData:
			r.buf = r.f.Data
		case linkproto.FrameResult:
			r.err = io.EOF
		}
	}
	if len(r.buf) > 0 {
		n := copy(p, r.buf)
		r.buf = r.buf[n:]
		return n, nil
	}
	return 0, r.err
}

// WriteTo writes each Data frame to w whole (io.Copy uses it): no 32 KiB copy steps.
func (r *archiveReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.buf) > 0 {
			n, err := w.Write(r.buf)
			total += int64(n)
			r.buf = r.buf[n:]
			if err != nil {
				return total, err
			}
		}
		if r.err != nil {
			if errors.Is(r.err, io.EOF) {
				return total, nil
			}
			return total, r.err
		}
		if err := r.sess.recv(&r.f); err != nil {
			r.err = err
			continue
		}
		switch r.f.Type {
		case linkproto.FrameData:
			r.buf = r.f.Data
		case linkproto.FrameResult:
			r.err = io.EOF
		}
	}
}

func (r *archiveReader) Close() error {
	r.sess.close()
	return nil
}

// PutOptions are archive PUT's options.
type PutOptions struct {
	NoOverwriteDirNonDir bool
	CopyUIDGID           bool
	// Staged, Last: a staged archive delivered before the main process starts (linkproto.ArchiveSpec).
	Staged, Last bool
}

// ArchivePut extracts the tar stream r (plain, gzip or bzip2) into the directory path (PUT archive), streaming.
func (h *Hub) ArchivePut(ctx context.Context, containerID, path string, r io.Reader, opts PutOptions) error {
	spec := &linkproto.ArchiveSpec{Path: path, NoOverwriteDirNonDir: opts.NoOverwriteDirNonDir, CopyUIDGID: opts.CopyUIDGID,
		Staged: opts.Staged, Last: opts.Last}
	sess, err := h.open(ctx, containerID, linkproto.OpenSpec{Kind: linkproto.KindArchivePut, Archive: spec})
	if err != nil {
		return err
	}
	sent := make(chan error, 1)
	go func() {
		err := sess.copyBulk(r, linkproto.StreamStdin)
		if err != nil {
			sess.close() // the upload broke off: end the session so the wait for the result ends too
		}
		sent <- err
	}()
	_, err = sess.result(nil)
	sess.close()
	serr := <-sent
	// A result without error means the agent extracted the whole archive: bytes after the tar's end (padding the
	// client still sends when the agent has already answered) do not matter.
	if err != nil && serr != nil && !errors.Is(serr, io.EOF) {
		err = fmt.Errorf("archive upload: %w (%w)", serr, err)
	}
	return err
}
