package sessions

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/runsock/runsock/agent/internal/archive"
	"github.com/runsock/runsock/agent/internal/capture"
	"github.com/runsock/runsock/agent/internal/mainproc"
	"github.com/runsock/runsock/agent/internal/pid1"
	"github.com/runsock/runsock/agent/internal/procfs"
	"github.com/runsock/runsock/linkproto"
)

// Server serves sessions.
type Server struct {
	Reaper *pid1.Reaper
	// Main is the main process when it is known at construction; otherwise SetMain gives it later (a start that
	// waits for staged archives), and sessions that need it wait for it.
	Main *mainproc.Main
	Log  *slog.Logger
	// Root is the PID whose descendants top lists: the agent's own.
	Root int
	// NoNetwork (--network none): execs run in a network namespace of their own with only lo, as the main process
	// does — not the main process's own, which a process of the agent cannot join (setns needs CAP_SYS_ADMIN).
	NoNetwork bool
	// StagedDone is called once the last staged archive has been applied or has failed (see
	// linkproto.ArchiveSpec.Last); nil when no archives are staged.
	StagedDone func()
	// Capture is the filesystem snapshot taken before the main process starts (Take, before SetMain), CaptureLimit the capture's size
	// limit, CaptureDone called when a capture session ends (nil Capture: nothing is captured).
	Capture      *capture.Snapshot
	CaptureLimit int64
	CaptureDone  func()
	// OnPause is told of every pause (true) and unpause (false) once done (may be nil): the healthcheck stops
	// probing meanwhile.
	OnPause func(paused bool)

	once  sync.Once
	ready chan struct{} // closed by SetMain
	mu    sync.Mutex
	main  *mainproc.Main
}

func (s *Server) init() { s.once.Do(func() { s.ready = make(chan struct{}) }) }

// SetMain gives the Server the main process, once it has started.
func (s *Server) SetMain(m *mainproc.Main) {
	s.init()
	s.mu.Lock()
	s.main = m
	s.mu.Unlock()
	close(s.ready)
}

// mainProc returns the main process, waiting for it while it has not started yet.
func (s *Server) mainProc(ctx context.Context) (*mainproc.Main, error) {
	if s.Main != nil {
		return s.Main, nil
	}
	s.init()
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.main, nil
}

// sender serializes sends: gRPC streams allow one sender at a time.
type sender struct {
	mu sync.Mutex
	s  linkproto.FrameStream
}

func (s *sender) send(f *linkproto.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.s.Send(f)
}

func (s *sender) fail(err error) error {
	var e *linkproto.Error
	if !errors.As(err, &e) {
		e = &linkproto.Error{Kind: linkproto.ErrKindInternal, Message: err.Error()}
	}
	return s.send(&linkproto.Frame{Type: linkproto.FrameError, Meta: linkproto.EncodeMeta(e)})
}

func (s *sender) result(code int, v any) error {
	f := &linkproto.Frame{Type: linkproto.FrameResult, Code: int64(code)}
	if v != nil {
		f.Meta = linkproto.EncodeMeta(v)
	}
	return s.send(f)
}

// Serve runs one session on st until it is done.
func (s *Server) Serve(ctx context.Context, spec linkproto.OpenSpec, st linkproto.FrameStream) error {
	out := &sender{s: st}
	var err error
	switch spec.Kind {
	case linkproto.KindExec:
		if spec.Exec == nil {
			return out.fail(&linkproto.Error{Kind: linkproto.ErrKindInvalid, Message: "exec without a spec"})
		}
		err = s.exec(ctx, *spec.Exec, st, out)
	case linkproto.KindAttach:
		err = s.attach(ctx, st, out)
	case linkproto.KindSignal:
		m, err := s.mainProc(ctx)
		if err != nil {
			return nil
		}
		if err := m.Signal(syscall.Signal(spec.Signal)); err != nil {
			return out.fail(&linkproto.Error{Kind: linkproto.ErrKindConflict, Message: err.Error()})
		}
		return out.result(0, nil)
	case linkproto.KindPause, linkproto.KindUnpause:
		do := pid1.Pause
		if spec.Kind == linkproto.KindUnpause {
			do = pid1.Unpause
		}
		if err := do(s.Root); err != nil {
			return out.fail(&linkproto.Error{Kind: linkproto.ErrKindInternal, Message: spec.Kind + ": " + err.Error()})
		}
		if s.OnPause != nil {
			s.OnPause(spec.Kind == linkproto.KindPause)
		}
		return out.result(0, nil)
	case linkproto.KindTop:
		return out.result(0, procfs.Top(s.Root))
	case linkproto.KindStats:
		return out.result(0, procfs.Stats())
	case linkproto.KindCapture:
		err = s.capture(ctx, st, out, spec.Now)
	case linkproto.KindTunnel:
		err = s.tunnel(ctx, spec.Port, st, out)
	case linkproto.KindArchiveStat, linkproto.KindArchiveGet, linkproto.KindArchivePut:
		if spec.Archive == nil {
			return out.fail(&linkproto.Error{Kind: linkproto.ErrKindInvalid, Message: "archive without a path"})
		}
		err = s.archive(spec.Kind, *spec.Archive, st, out)
		if spec.Archive.Last && s.StagedDone != nil {
			if err != nil && s.Log != nil {
				s.Log.Warn("a staged archive could not be applied", "path", spec.Archive.Path, "err", err)
			}
			s.StagedDone()
		}
	default:
		err = &linkproto.Error{Kind: linkproto.ErrKindInvalid, Message: fmt.Sprintf("unknown session kind %q", spec.Kind)}
	}
	if err != nil {
		return out.fail(err)
	}
	return nil
}

// attach forwards input to the main process until the stream ends.
func (s *Server) attach(ctx context.Context, st linkproto.FrameStream, out *sender) error {
	m, err := s.mainProc(ctx)
	if err != nil {
		return nil
	}
	var f linkproto.Frame
	for {
		if err := st.Recv(&f); err != nil {
			if errors.Is(err, io.EOF) {
				m.EndStdin()
				return nil
			}
			return nil // the control plane went away: nothing to report to
		}
		switch f.Type {
		case linkproto.FrameData:
			if err := m.WriteStdin(f.Data); err != nil {
				return &linkproto.Error{Kind: linkproto.ErrKindConflict, Message: err.Error()}
			}
		case linkproto.FrameClose:
			m.EndStdin()
			return out.result(0, nil)
		case linkproto.FrameResize:
			_ = m.Resize(uint16(f.Seq), uint16(f.Code))
		}
	}
}

// archive serves stat, get and put. Get sends Started with the path stat, the tar as Data frames, then Result.
// Put reads Data frames until Close and answers Result.
func (s *Server) archive(kind string, spec linkproto.ArchiveSpec, st linkproto.FrameStream, out *sender) error {
	switch kind {
	case linkproto.KindArchiveStat:
		stat, err := archive.Stat(spec.Path)
		if err != nil {
			return err
		}
		return out.result(0, stat)
	case linkproto.KindArchiveGet:
		stat, err := archive.Stat(spec.Path)
		if err != nil {
			return err
		}
		if err := out.send(&linkproto.Frame{Type: linkproto.FrameStarted, Meta: linkproto.EncodeMeta(stat)}); err != nil {
			return err
		}
		// tar writes 32 KiB at a time: gather it into BulkChunk frames.
		w := bufio.NewWriterSize(&dataWriter{out: out, chunk: linkproto.BulkChunk}, linkproto.BulkChunk)
		if err := archive.Get(spec.Path, w); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return out.result(0, nil)
	default:
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(recvData(st, pw)) }()
		err := archive.Put(spec.Path, pr, archive.PutOptions{NoOverwriteDirNonDir: spec.NoOverwriteDirNonDir, CopyUIDGID: spec.CopyUIDGID, Layer: spec.Layer})
		pr.CloseWithError(errors.New("archive: extraction ended"))
		if err != nil {
			return err
		}
		return out.result(0, nil)
	}
}

// capture sends the container's changes once the main process has ended, or at once (now) while it runs.
func (s *Server) capture(ctx context.Context, st linkproto.FrameStream, out *sender, now bool) error {
	if s.Capture == nil {
		return &linkproto.Error{Kind: linkproto.ErrKindInvalid, Message: "this container's changes are not captured"}
	}
	if !now && s.CaptureDone != nil {
		defer s.CaptureDone()
	}
	m, err := s.mainProc(ctx) // the snapshot is taken before the main process starts
	if err != nil {
		return nil
	}
	if !now {
		select {
		case <-m.Done():
		case <-ctx.Done():
			return nil
		}
	}
	changes, size, err := s.Capture.Changes()
	if err == nil && size > s.CaptureLimit {
		err = &linkproto.Error{Kind: linkproto.ErrKindTooLarge, Message: fmt.Sprintf(
			"the container's changes (%d bytes) are over the capture limit (%d bytes)", size, s.CaptureLimit)}
	}
	if err != nil {
		// Said here, not by Serve: after the exit the agent ends once this returns, and the answer must leave first.
		if ferr := out.fail(err); ferr != nil {
			return ferr
		}
		awaitClose(ctx, st)
		return nil
	}
	meta := linkproto.EncodeMeta(linkproto.Capture{Changes: len(changes), Bytes: size})
	if err := out.send(&linkproto.Frame{Type: linkproto.FrameStarted, Meta: meta}); err != nil {
		return err
	}
	w := bufio.NewWriterSize(&dataWriter{out: out, chunk: linkproto.BulkChunk}, linkproto.BulkChunk)
	if err := s.Capture.WriteLayer(w, changes); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := out.result(0, nil); err != nil {
		return err
	}
	// The agent exits once the capture is taken: wait until the control plane has read it all (it ends the
	// session), or the process could end before the last frames leave.
	awaitClose(ctx, st)
	return nil
}

// awaitClose waits (up to a minute) for the control plane to end the session, having read what was sent.
func awaitClose(ctx context.Context, st linkproto.FrameStream) {
	read := make(chan struct{})
	go func() {
		defer close(read)
		var f linkproto.Frame
		for st.Recv(&f) == nil && f.Type != linkproto.FrameClose {
		}
	}()
	select {
	case <-read:
	case <-ctx.Done():
	case <-time.After(time.Minute):
	}
}

// recvData copies Data frames into w until a Close frame.
func recvData(st linkproto.FrameStream, w io.Writer) error {
	var f linkproto.Frame
	for {
		if err := st.Recv(&f); err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch f.Type {
		case linkproto.FrameData:
			if _, err := w.Write(f.Data); err != nil {
				return err
			}
		case linkproto.FrameClose:
			return nil
		}
	}
}

// dataWriter sends what is written as Data frames of at most chunk bytes (0: MaxChunk).
type dataWriter struct {
	out    *sender
	stream uint8
	chunk  int
}

func (w *dataWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), linkproto.MaxChunk)
		if w.chunk > 0 {
			c = min(len(p), w.chunk)
		}
		if err := w.out.send(&linkproto.Frame{Type: linkproto.FrameData, Stream: w.stream, Data: p[:c]}); err != nil {
			return n, err
		}
		n += c
		p = p[c:]
	}
	return n, nil
}
