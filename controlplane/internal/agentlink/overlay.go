package agentlink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/runsock/runsock/linkproto"
)

// Overlay is what the Hub tells of containers' networking and asks before it relays a connection between two
// containers (networks.Overlay, through main's adapter).
type Overlay interface {
	// Linked: the container's agent has linked (again): it needs its peers now.
	Linked(containerID string)
	// Unlinked: the container's agent link has ended.
	Unlinked(containerID string)
	// Ports are the container's listening TCP ports, as its agent reported them.
	Ports(containerID string, ports []int)
	// Allowed reports whether from may reach to now (one network in common, one owner).
	Allowed(from, to string) bool
}

// SendPeers hands the container's agent its peers (the whole list). An agent not linked is not an error: it gets
// them when it links (Overlay.Linked).
func (h *Hub) SendPeers(containerID string, peers []linkproto.Peer) error {
	h.mu.Lock()
	a := h.agents[containerID]
	h.mu.Unlock()
	if a == nil {
		return nil
	}
	if peers == nil {
		peers = []linkproto.Peer{}
	}
	return a.send(&linkproto.Frame{Type: linkproto.FramePeers, Meta: linkproto.EncodeMeta(linkproto.Peers{Peers: peers})})
}

// controlFrame handles a frame an agent of id's run in execution sent on its control stream after the hello.
func (h *Hub) controlFrame(ctx context.Context, id, execution string, f *linkproto.Frame) {
	if f.Type == linkproto.FrameHealth {
		h.healthFrame(ctx, id, execution, f)
		return
	}
	if f.Type != linkproto.FramePorts || h.opts.Overlay == nil {
		return
	}
	var p linkproto.Ports
	if err := linkproto.DecodeMeta(f.Meta, &p); err != nil {
		h.log.Warn("bad ports frame", "container", id, "error", err)
		return
	}
	h.opts.Overlay.Ports(id, p.TCP)
}

// dial relays one connection a container's agent accepted for a peer: it checks that the caller may reach the
// peer, opens a tunnel to the port inside the peer, answers Started, and carries bytes both ways with flow control
// on each stream.
func (h *Hub) dial(st linkproto.FrameStream, r agentRun, first *linkproto.Frame) error {
	fail := func(kind, msg string) error {
		return st.Send(&linkproto.Frame{Type: linkproto.FrameError, Meta: linkproto.EncodeMeta(&linkproto.Error{Kind: kind, Message: msg})})
	}
	var spec linkproto.Dial
	if err := linkproto.DecodeMeta(first.Meta, &spec); err == nil && spec.DockerAPI {
		return h.dockerAPI(st, r, first)
	}
	if err := linkproto.DecodeMeta(first.Meta, &spec); err != nil || spec.Port <= 0 || spec.Port > 65535 {
		return fail(linkproto.ErrKindInvalid, "bad dial")
	}
	if r.ended || h.opts.Overlay == nil || !h.opts.Overlay.Allowed(r.id, spec.Ref) {
		return fail(linkproto.ErrKindNotFound, "no such peer on this container's networks")
	}
	ctx := st.Context()
	caller := newQueued(linkproto.NewFlow(st, first.Code, linkproto.Window))
	conn := &relayConn{in: caller}
	started := func() error {
		conn.started = true
		return caller.flow.Send(&linkproto.Frame{Type: linkproto.FrameStarted, Code: linkproto.Window})
	}
	if err := h.tunnel(ctx, spec.Ref, spec.Port, conn, started); err != nil {
		if !conn.started {
			var e *agentError
			msg := err.Error()
			if errors.As(err, &e) {
				msg = e.msg
			}
			return fail(linkproto.ErrKindConflict, fmt.Sprintf("peer %.12s port %d: %s", spec.Ref, spec.Port, msg))
		}
		return nil
	}
	return caller.flow.Send(&linkproto.Frame{Type: linkproto.FrameResult})
}

// relayConn is the caller's side of a relayed connection as the tunnel sees it: Data frames in, Data frames out,
// Close as half-close.
type relayConn struct {
	in      *queued
	rest    []byte
	started bool
}

func (c *relayConn) Read(p []byte) (int, error) {
	for len(c.rest) == 0 {
		var f linkproto.Frame
		if err := c.in.recv(&f); err != nil {
			return 0, err
		}
		switch f.Type {
		case linkproto.FrameData:
			c.rest = f.Data
		case linkproto.FrameClose:
			return 0, io.EOF
		}
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	_ = c.in.flow.Consumed(n) // a failed grant means the stream broke: the next recv says so
	return n, nil
}

func (c *relayConn) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), linkproto.BulkChunk) // the peer's frames as they came (its agent sized them)
		if err := c.in.flow.Send(&linkproto.Frame{Type: linkproto.FrameData, Data: p[:k]}); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

func (c *relayConn) CloseWrite() error {
	return c.in.flow.Send(&linkproto.Frame{Type: linkproto.FrameClose})
}

// queued reads a flow-controlled stream on a goroutine of its own into a queue, so the stream's credits are taken
// in while whoever reads the queue is blocked sending elsewhere (a relay writes each side's bytes to the other:
// without this, two full directions could wait on each other's credits). The sender keeps within our window, so
// the queue holds at most Window bytes of Data.
type queued struct {
	flow  *linkproto.Flow
	mu    sync.Mutex
	more  chan struct{}
	queue []linkproto.Frame
	err   error
}

func newQueued(flow *linkproto.Flow) *queued {
	q := &queued{flow: flow, more: make(chan struct{})}
	go q.read()
	return q
}

func (q *queued) read() {
	for {
		var f linkproto.Frame
		err := q.flow.Recv(&f)
		q.mu.Lock()
		if err != nil {
			q.err = err
		} else {
			f.Meta, f.Data = append([]byte(nil), f.Meta...), append([]byte(nil), f.Data...)
			q.queue = append(q.queue, f)
		}
		close(q.more)
		q.more = make(chan struct{})
		q.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// recv returns the next frame; the stream's end once the queue is empty. The caller reports consumed Data itself.
func (q *queued) recv(f *linkproto.Frame) error {
	q.mu.Lock()
	for len(q.queue) == 0 && q.err == nil {
		more := q.more
		q.mu.Unlock()
		<-more
		q.mu.Lock()
	}
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		if errors.Is(q.err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return q.err
	}
	*f = q.queue[0]
	q.queue[0] = linkproto.Frame{}
	q.queue = q.queue[1:]
	return nil
}
