package agentlink

import (
	"errors"
	"io"
	"sync"

	"github.com/runsock/runsock/agent/linkproto"
)

// session is the caller's side of one session stream.
type session struct {
	ss     *sessionStream
	sendMu sync.Mutex
	once   sync.Once
}

func (s *session) send(f *linkproto.Frame) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.ss.Send(f)
}

// recv reads the next frame; an Error frame becomes the mapped error.
func (s *session) recv(f *linkproto.Frame) error {
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
	return nil
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

// copyIn sends r as Data frames on stream, then a Close frame.
func (s *session) copyIn(r io.Reader, stream uint8) error {
	buf := make([]byte, linkproto.MaxChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if serr := s.send(&linkproto.Frame{Type: linkproto.FrameData, Stream: stream, Data: buf[:n]}); serr != nil {
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
