package agentlink

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runsock/runsock/controlplane/internal/livelogs"
	"github.com/runsock/runsock/linkproto"
)

// server is the Hub seen as the gRPC service implementation; kept apart so the Hub's exported API stays small.
type server Hub

var _ linkproto.Server = (*server)(nil)

// maxBatchBytes bounds one livelogs write: the chunks' bytes plus chunkCost each (the agent sends one chunk per
// line, so a batch of short lines is mostly headers: sequence, stream, time in the document).
const maxBatchBytes = 64 << 10

// chunkCost is what a chunk adds to a batch document beyond its bytes (field names, sequence, stream, time).
const chunkCost = 48

// Control serves an agent's control stream: hello, then Open and GoAway frames to the agent until the stream ends.
func (s *server) Control(st linkproto.FrameStream) error {
	h := (*Hub)(s)
	r, err := h.authenticate(st.Context(), fresh)
	if err != nil {
		return err
	}
	id := r.id
	var f linkproto.Frame
	if err := st.Recv(&f); err != nil {
		return err
	}
	a := &agentConn{id: id, execution: r.execution, ctrl: st, done: make(chan struct{})}
	if f.Type != linkproto.FrameHello || linkproto.DecodeMeta(f.Meta, &a.hello) != nil {
		return status.Error(codes.InvalidArgument, "expected hello")
	}
	if r.ended {
		// The agent of a run whose exit is recorded redialed (the ack was lost): it may deliver its output and
		// exit, but it is nobody's link for sessions.
		if err := a.send(&linkproto.Frame{Type: linkproto.FrameHello}); err != nil {
			return err
		}
		h.log.Info("agent of an ended run linked to finish", "container", id, "execution", r.execution)
		for st.Recv(&f) == nil {
		}
		return nil
	}
	// Attached before the reply: the agent opens its output stream on the reply, and that stream must find this
	// run's link, not a previous run's.
	h.attach(a)
	if err := a.send(&linkproto.Frame{Type: linkproto.FrameHello}); err != nil {
		close(a.done)
		h.detach(a, err)
		return err
	}
	h.log.Info("agent connected", "container", id, "execution", r.execution, "agentVersion", a.hello.AgentVersion)
	if h.opts.Overlay != nil {
		h.opts.Overlay.Linked(id)
	}
	for {
		if err = st.Recv(&f); err != nil {
			break
		}
		h.controlFrame(st.Context(), id, r.execution, &f)
	}
	close(a.done)
	h.detach(a, err)
	if h.opts.Overlay != nil {
		h.opts.Overlay.Unlinked(id)
	}
	h.log.Info("agent link ended", "container", id, "error", err)
	return nil
}

type received struct {
	f   linkproto.Frame
	err error
}

// Output persists an agent's output chunks and exit report, acknowledging what is durable.
func (s *server) Output(st linkproto.FrameStream) error {
	h := (*Hub)(s)
	ctx := st.Context()
	r, err := h.authenticate(ctx, cached)
	if err != nil {
		return err
	}
	id := r.id
	var f linkproto.Frame
	var hello linkproto.OutputHello
	if err := st.Recv(&f); err != nil {
		return err
	}
	if f.Type != linkproto.FrameHello || linkproto.DecodeMeta(f.Meta, &hello) != nil {
		return status.Error(codes.InvalidArgument, "expected output hello")
	}
	// The run is the one the credentials are bound to, not what the agent says: output goes to its own run only.
	if h.superseded(r) {
		return errSuperseded
	}
	base, err := h.beginRun(ctx, r)
	if err != nil {
		return err
	}
	state, err := h.opts.Logs.State(ctx, id)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	if state.LastSeq > base {
		if err := st.Send(&linkproto.Frame{Type: linkproto.FrameAck, Seq: state.LastSeq - base}); err != nil {
			return err
		}
	}
	frames := make(chan received, 256)
	go func() {
		for {
			var f linkproto.Frame
			err := st.Recv(&f)
			if err == nil && f.Data != nil {
				f.Data = append([]byte(nil), f.Data...)
			}
			if err == nil && f.Meta != nil {
				f.Meta = append([]byte(nil), f.Meta...)
			}
			select {
			case frames <- received{f: f, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return h.persist(ctx, r, base, st, frames)
}

// beginRun returns the base sequence of r's output: a running run begins (or resumes) its live output; an ended one
// only finishes its own, never becoming the container's current live-output run again.
func (h *Hub) beginRun(ctx context.Context, r agentRun) (uint64, error) {
	if !r.ended {
		base, err := h.opts.Logs.BeginRun(ctx, r.id, r.run)
		if err != nil {
			return 0, status.Error(codes.Unavailable, err.Error())
		}
		return base, nil
	}
	st, err := h.opts.Logs.State(ctx, r.id)
	if err != nil {
		return 0, status.Error(codes.Unavailable, err.Error())
	}
	if st.Run != r.run {
		return 0, errSuperseded
	}
	return st.Base, nil
}

// errSuperseded ends the streams of a run whose container has moved on to another execution.
var errSuperseded = status.Error(codes.FailedPrecondition, "the container runs another execution now")

// persist writes chunks in batches (group commit: the first chunk waits at most BatchDelay for company) and acks.
func (h *Hub) persist(ctx context.Context, r agentRun, base uint64, st linkproto.FrameStream, frames <-chan received) error {
	id := r.id
	var batch []livelogs.Chunk
	size := 0
	var exit *linkproto.Frame
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if h.superseded(r) {
			return errSuperseded // its sequences would land in the new run's
		}
		last, err := h.opts.Logs.Append(ctx, id, batch)
		if err != nil {
			return status.Error(codes.Unavailable, err.Error())
		}
		batch, size = batch[:0], 0
		return st.Send(&linkproto.Frame{Type: linkproto.FrameAck, Seq: last - base})
	}
	// The timer starts with a batch's first chunk and is not restarted by later ones: under sustained output a
	// per-frame restart would hold the batch back until 64 KiB had gathered.
	var timer <-chan time.Time
	for {
		if len(batch) == 0 {
			timer = nil
		} else if timer == nil {
			timer = time.After(h.opts.BatchDelay)
		}
		select {
		case r := <-frames:
			if r.err != nil {
				if err := flush(); err != nil {
					return err
				}
				return nil
			}
			switch r.f.Type {
			case linkproto.FrameChunk:
				batch = append(batch, livelogs.Chunk{Stream: r.f.Stream, Seq: base + r.f.Seq, Time: time.Unix(0, r.f.Time), Data: r.f.Data})
				size += len(r.f.Data) + chunkCost
				if size >= maxBatchBytes {
					if err := flush(); err != nil {
						return err
					}
				}
			case linkproto.FrameExit:
				f := r.f
				exit = &f
			}
		case <-timer:
			if err := flush(); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
		if exit != nil {
			if err := flush(); err != nil {
				return err
			}
			if err := h.exited(ctx, r, base, st, exit); err != nil {
				return err
			}
			exit = nil
		}
	}
}

func (h *Hub) exited(ctx context.Context, r agentRun, base uint64, st linkproto.FrameStream, f *linkproto.Frame) error {
	id := r.id
	at := time.Unix(0, f.Time)
	if err := h.opts.Logs.Complete(ctx, id, r.run, int(f.Code), at); err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	var info linkproto.ExitInfo
	if len(f.Meta) > 0 {
		if err := linkproto.DecodeMeta(f.Meta, &info); err != nil {
			h.log.Warn("exit report", "container", id, "err", err) // the code and time still stand
		}
	}
	if err := h.reportExit(ctx, r, int(f.Code), info.OOMKilled, at); err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	state, err := h.opts.Logs.State(ctx, id)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	return st.Send(&linkproto.Frame{Type: linkproto.FrameAck, Seq: state.LastSeq - base, Code: 1})
}

// reportExit hands the exit of run to Options.Exits and waits until it is recorded.
func (h *Hub) reportExit(ctx context.Context, run agentRun, code int, oomKilled bool, at time.Time) error {
	if h.opts.Exits == nil {
		return nil
	}
	id := run.id
	r := ExitReport{ContainerID: id, Execution: run.execution, Code: code, OOMKilled: oomKilled, At: at, recorded: make(chan struct{})}
	select {
	case h.opts.Exits <- r:
	case <-ctx.Done():
		return fmt.Errorf("report the exit of %s: %w", id, ctx.Err())
	}
	select {
	case <-r.recorded:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("record the exit of %s: %w", id, ctx.Err())
	}
}

// pendingSession is a session the Hub asked an agent to open.
type pendingSession struct {
	containerID string
	execution   string // the run whose link was asked: only its agent may answer
	ch          chan *sessionStream
}

// sessionStream is an agent's session stream, with flow control, handed to the caller; done ends the gRPC handler.
type sessionStream struct {
	*linkproto.Flow
	done    chan struct{}
	aborted atomic.Bool // end with an error, not end-of-stream (see session.abort)
}

// Session matches an agent's new session stream to the pending session and holds it open until the caller is done.
func (s *server) Session(st linkproto.FrameStream) error {
	h := (*Hub)(s)
	r, err := h.authenticate(st.Context(), cached)
	if err != nil {
		return err
	}
	var f linkproto.Frame
	if err := st.Recv(&f); err != nil {
		return err
	}
	if f.Type != linkproto.FrameSession {
		return status.Error(codes.InvalidArgument, "expected session hello")
	}
	if f.Seq == 0 {
		return h.dial(st, r, &f) // a connection the agent accepted for a peer (linkproto.Dial)
	}
	h.mu.Lock()
	p := h.pending[f.Seq]
	mine := p != nil && p.containerID == r.id && SameExecution(p.execution, r.execution)
	if mine {
		delete(h.pending, f.Seq)
	}
	h.mu.Unlock()
	if !mine {
		return status.Error(codes.NotFound, "no such session")
	}
	// The Session frame's Code is the agent's receive window; ours went out in the Open frame's spec.
	ss := &sessionStream{Flow: linkproto.NewFlow(st, f.Code, linkproto.Window), done: make(chan struct{})}
	select {
	case p.ch <- ss:
	case <-st.Context().Done():
		return nil
	}
	select {
	case <-ss.done:
		if ss.aborted.Load() {
			return status.Error(codes.Aborted, "the client's stream was cut; it resumes on another session")
		}
	case <-st.Context().Done():
	}
	return nil
}

// sessionOpenTimeout bounds the wait for the agent to open a requested session stream.
const sessionOpenTimeout = 15 * time.Second

// open asks the container's agent for a session and returns its stream. The caller must close it.
func (h *Hub) open(ctx context.Context, containerID string, spec linkproto.OpenSpec) (*session, error) {
	a, err := h.connWithin(ctx, containerID)
	if err != nil {
		return nil, err
	}
	return h.openOn(ctx, a, containerID, spec)
}

// openOn asks the agent linked by a for a session.
func (h *Hub) openOn(ctx context.Context, a *agentConn, containerID string, spec linkproto.OpenSpec) (*session, error) {
	spec.Window = linkproto.Window
	sid := h.nextSession.Add(1)
	p := &pendingSession{containerID: containerID, execution: a.execution, ch: make(chan *sessionStream, 1)}
	h.mu.Lock()
	h.pending[sid] = p
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.pending, sid)
		h.mu.Unlock()
	}()
	if err := a.send(&linkproto.Frame{Type: linkproto.FrameOpen, Seq: sid, Meta: linkproto.EncodeMeta(spec)}); err != nil {
		return nil, notConnected(containerID, fmt.Sprintf("sending to it failed (%v)", err))
	}
	timer := time.NewTimer(sessionOpenTimeout)
	defer timer.Stop()
	select {
	case ss := <-p.ch:
		return &session{ss: ss}, nil
	case <-a.done:
		return nil, notConnected(containerID, "its link was lost while opening a session")
	case <-timer.C:
		return nil, notConnected(containerID, "it did not open the session in time")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errSessionEnded reports a session stream that ended without a result.
var errSessionEnded = errors.New("the agent's session ended without a result")
