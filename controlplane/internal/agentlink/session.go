package agentlink

import (
	"errors"
	"io"
	"sync"

	"github.com/runsock/runsock/linkproto"
)

// session is the caller's side of one session stream. Any goroutine may send (Data frames wait for the agent's
// credit); one goroutine at a time receives, and something must keep receiving while a send may wait: the agent's
// credits arrive among the frames received.
type session struct {
	ss   *sessionStream
	once sync.Once
	held int // bytes of the last Data frame received, granted back to the agent on the next recv
}

func (s *session) send(f *linkproto.Frame) error { return s.ss.Send(f) }

// recv reads the next frame; an Error frame becomes the mapped error. The previous frame's Data counts as consumed.
func (s *session) recv(f *linkproto.Frame) error {
	_ = s.ss.Consumed(s.held) // a failed grant means the stream broke: Recv says so
	s.held = 0
	if err := s.ss.Recv(f); err != nil {
		if errors.Is(err, io.EOF) {
			return errSessionEnded
		}
		return err
	}
	if f.Type == linkproto.FrameError {
		var e linkproto.Error
		if err := linkproto.DecodeMeta(f.Meta, &e); err != nil {
			return err
		}
		return fromLinkError(&e)
	}
	if f.Type == linkproto.FrameData {
		s.held = len(f.Data)
	}
	return nil
}

// drain receives and drops frames until the stream ends: for sessions that only send, so credits still arrive.
func (s *session) drain() {
	var f linkproto.Frame
	for s.recv(&f) == nil {
	}
}

// result waits for the Result frame, decoding its Meta into v when v is not nil.
func (s *session) result(v any) (int64, error) {
	var f linkproto.Frame
	for {
		if err := s.recv(&f); err != nil {
			return 0, err
		}
		if f.Type == linkproto.FrameResult {
			if v != nil {
				if err := linkproto.DecodeMeta(f.Meta, v); err != nil {
					return 0, err
				}
			}
			return f.Code, nil
		}
	}
}

// close ends the stream (the agent sees end-of-stream).
func (s *session) close() { s.once.Do(func() { close(s.ss.done) }) }

// abort ends the stream with an error: the agent sees the control plane gone rather than the end of the session's
// input, so an attach cut by the request timeout does not close a StdinOnce process's stdin before it resumes.
func (s *session) abort() {
	s.ss.aborted.Store(true)
	s.close()
}

// copyIn sends r as Data frames on stream, then a Close frame; each frame carries what one Read returned, reads
// growing from MaxChunk to BulkChunk when r has that much waiting (linkproto.Chunker).
func (s *session) copyIn(r io.Reader, stream uint8) error {
	var c linkproto.Chunker
	return s.copyFrames(stream, func() ([]byte, error) { return c.Read(r) })
}

// copyBulk is copyIn for bulk data nobody waits on piecemeal (an archive upload): it fills BulkChunk frames.
func (s *session) copyBulk(r io.Reader, stream uint8) error {
	buf := make([]byte, linkproto.BulkChunk)
	return s.copyFrames(stream, func() ([]byte, error) {
		n, err := fill(r, buf)
		return buf[:n], err
	})
}

// fill reads until buf is full or r ends.
func fill(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}

// copyFrames sends what next returns as Data frames until it returns an error; at io.EOF it sends a Close frame.
func (s *session) copyFrames(stream uint8, next func() ([]byte, error)) error {
	for {
		b, err := next()
		if len(b) > 0 {
			if serr := s.send(&linkproto.Frame{Type: linkproto.FrameData, Stream: stream, Data: b}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) {
			return s.send(&linkproto.Frame{Type: linkproto.FrameClose, Stream: stream})
		}
		if err != nil {
			return err
		}
	}
}
