package proxyproto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	// StdinOffsetHeader (request, hijacked endpoints over HTTP/2): how many leading body bytes are the client's
	// original request body (the exec-start JSON; 0 for attach). Stdin follows directly.
	StdinOffsetHeader = "X-Runsock-Stdin-Offset"
	// Resumable (request): the client understands framed bodies. Value "1".
	Resumable = "X-Runsock-Resumable"
	// Framed (response): the body is framed. Value "1". Without it the body is Docker's, unframed.
	Framed = "X-Runsock-Framed"
	// ResumeHeader (request): the token of the cut stream to resume.
	ResumeHeader = "X-Runsock-Resume"
	// ResumePositionHeader (request): the pos of the last data frame delivered to the client.
	ResumePositionHeader = "X-Runsock-Resume-Position"
	// StdinAtHeader (request, resumed attach): the stdin offset of the first stdin byte in this body.
	StdinAtHeader = "X-Runsock-Stdin-At"
)

// Frame kinds.
const (
	KindToken    byte = 't'
	KindData     byte = 'd'
	KindStdinAck byte = 'a'
	KindEnd      byte = 'e'
)

// maxData bounds one frame's data; larger writes are split by the writer and refused by the reader.
const maxData = 1 << 20

// Frame is one frame.
type Frame struct {
	Kind byte
	Pos  string
	Data []byte
}

// ErrTooLarge is a frame beyond maxData (or a pos beyond 255 bytes).
var ErrTooLarge = errors.New("proxyproto: frame too large")

// Append appends f's encoding to b.
func Append(b []byte, f Frame) ([]byte, error) {
	if len(f.Pos) > 255 || len(f.Data) > maxData {
		return b, ErrTooLarge
	}
	var hdr [6]byte
	hdr[0], hdr[1] = f.Kind, byte(len(f.Pos))
	binary.BigEndian.PutUint32(hdr[2:], uint32(len(f.Data)))
	b = append(b, hdr[:]...)
	b = append(b, f.Pos...)
	return append(b, f.Data...), nil
}

// Write writes f to w in one Write call.
func Write(w io.Writer, f Frame) error {
	b, err := Append(nil, f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Reader reads frames.
type Reader struct {
	r   io.Reader
	br  *bufio.Reader // r, when it is one: Ready looks into its buffer
	hdr [6]byte
	buf []byte
}

// NewReader reads frames from r. Given a *bufio.Reader, Ready can tell whether the next frame has already arrived.
func NewReader(r io.Reader) *Reader {
	br, _ := r.(*bufio.Reader)
	return &Reader{r: r, br: br}
}

// Ready reports whether the next frame is whole in the reader's buffer, so Next returns it without waiting: a
// copier flushes its client only when not (a stream of many small frames becomes a few large writes, and the last
// frame of a burst is never held back). Always false for a Reader not made from a *bufio.Reader.
func (r *Reader) Ready() bool {
	if r.br == nil || r.br.Buffered() < len(r.hdr) {
		return false
	}
	hdr, err := r.br.Peek(len(r.hdr))
	if err != nil {
		return false
	}
	return r.br.Buffered() >= len(r.hdr)+int(hdr[1])+int(binary.BigEndian.Uint32(hdr[2:]))
}

// Next returns the next frame; its Data is valid until the next call. A body that ends between frames returns
// io.EOF; one that ends inside a frame, io.ErrUnexpectedEOF.
func (r *Reader) Next() (Frame, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return Frame{}, err
	}
	pl, dl := int(r.hdr[1]), int(binary.BigEndian.Uint32(r.hdr[2:]))
	if dl > maxData {
		return Frame{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, dl)
	}
	if cap(r.buf) < pl+dl {
		r.buf = make([]byte, pl+dl)
	}
	b := r.buf[:pl+dl]
	if _, err := io.ReadFull(r.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	return Frame{Kind: r.hdr[0], Pos: string(b[:pl]), Data: b[pl:]}, nil
}
