package linkproto

import (
	"errors"
	"sync"
)

// Window is the receive window each side of a session declares: the most Data bytes the peer may send ahead of
// what this side has consumed. Both sides grant it in full up front, so the first bytes of a session never wait for
// a credit; a bulk sender that outruns its reader stops after Window bytes.
const Window = 4 << 20

// creditEvery is how many consumed bytes a receiver collects before it grants them back: few credit frames, and a
// sender that never idles while its reader keeps up.
const creditEvery = Window / 4

// errFlowBroken ends a send that waits for credit on a stream whose receiving side has ended.
var errFlowBroken = errors.New("linkproto: session stream ended while waiting for credit")

// Flow is a session stream with credit-based flow control of Data frames, in both directions.
//
// gRPC served through net/http (grpc.Server.ServeHTTP, as the control plane serves the link) reads request bodies
// eagerly into an unbounded buffer, so HTTP/2 flow control never holds back an agent that sends faster than the
// control plane forwards: without credits, a slow docker cp client makes the control plane hold the whole archive.
//
// Each side declares its receive window in the session's first message (OpenSpec.Window from the control plane,
// the Session frame's Code from the agent). A side that declares one understands Credit frames. Flow control is on
// only when both sides declared one; otherwise (a peer from before flow control) Flow only serializes sends.
//
// Send may be called from several goroutines; it blocks a Data frame until the peer has granted room for it. Recv
// consumes Credit frames itself; the caller reports consumed Data with Consumed, which grants the bytes back. Keep
// reading (Recv) while a send may wait for credit: credits arrive on the receiving side.
type Flow struct {
	st      FrameStream
	enabled bool

	sendMu sync.Mutex // one gRPC sender at a time

	mu     sync.Mutex
	credit int64         // bytes this side may still send
	wake   chan struct{} // closed and replaced when credit grows or the stream breaks
	broken error         // the receiving side ended: no more credit will come
	owed   int64         // consumed bytes not yet granted back
}

// NewFlow wraps st. peerWindow is the window the peer declared (0: it has no flow control), ownWindow the one this
// side declared (0: none).
func NewFlow(st FrameStream, peerWindow, ownWindow int64) *Flow {
	return &Flow{st: st, enabled: peerWindow > 0 && ownWindow > 0, credit: peerWindow, wake: make(chan struct{})}
}

// Stream is the wrapped stream.
func (f *Flow) Stream() FrameStream { return f.st }

// Send sends fr; a Data frame first waits until the peer has granted room for it.
func (f *Flow) Send(fr *Frame) error {
	if f.enabled && fr.Type == FrameData && len(fr.Data) > 0 {
		if err := f.acquire(int64(len(fr.Data))); err != nil {
			return err
		}
	}
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	return f.st.Send(fr)
}

// acquire takes n bytes of credit, waiting for grants. A frame larger than the whole window goes once the credit
// is positive, so a peer's window never deadlocks a big frame.
func (f *Flow) acquire(n int64) error {
	for {
		f.mu.Lock()
		if f.credit > 0 {
			f.credit -= n
			f.mu.Unlock()
			return nil
		}
		broken, wake := f.broken, f.wake
		f.mu.Unlock()
		if broken != nil {
			return broken
		}
		select {
		case <-wake:
		case <-f.st.Context().Done():
			return f.st.Context().Err()
		}
	}
}

// Recv reads the next frame other than a Credit frame into fr. Meta and Data stay valid until the next Recv.
func (f *Flow) Recv(fr *Frame) error {
	for {
		if err := f.st.Recv(fr); err != nil {
			f.signal(0, err)
			return err
		}
		if fr.Type != FrameCredit {
			return nil
		}
		f.signal(int64(fr.Seq), nil)
	}
}

// signal adds granted credit or records the end of the receiving side, and wakes waiting senders.
func (f *Flow) signal(grant int64, broken error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.credit += grant
	if broken != nil && f.broken == nil {
		f.broken = errors.Join(errFlowBroken, broken)
	}
	close(f.wake)
	f.wake = make(chan struct{})
}

// Consumed reports that n bytes of received Data have left this side's hands (written on, or queued no more), and
// grants them back to the peer once enough have gathered.
func (f *Flow) Consumed(n int) error {
	if !f.enabled || n <= 0 {
		return nil
	}
	f.mu.Lock()
	f.owed += int64(n)
	grant := f.owed
	if grant < creditEvery {
		f.mu.Unlock()
		return nil
	}
	f.owed = 0
	f.mu.Unlock()
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	return f.st.Send(&Frame{Type: FrameCredit, Seq: uint64(grant)})
}

// Enabled reports whether both sides declared a window: Data sends wait for credit and Consumed grants it.
func (f *Flow) Enabled() bool { return f.enabled }
