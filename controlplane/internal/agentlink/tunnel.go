package agentlink

import (
	"context"
	"io"

	"github.com/runsock/runsock/linkproto"
)

// Tunnel carries conn's bytes to 127.0.0.1:port inside the container and back (a published port's connection).
// It returns an error before any byte moved when the agent cannot dial the port; afterwards it returns when both
// directions have ended. conn's read EOF half-closes the container side; the container side's EOF ends the writes
// (conn is closed for writing when it has CloseWrite).
func (h *Hub) Tunnel(ctx context.Context, containerID string, port int, conn io.ReadWriter) error {
	return h.tunnel(ctx, containerID, port, conn, nil)
}

// tunnel is Tunnel; started (when not nil) is called once the agent has connected, before any byte moves. The
// session ends when ctx does.
func (h *Hub) tunnel(ctx context.Context, containerID string, port int, conn io.ReadWriter, started func() error) error {
	sess, err := h.open(ctx, containerID, linkproto.OpenSpec{Kind: linkproto.KindTunnel, Port: port})
	if err != nil {
		return err
	}
	defer sess.close()
	var f linkproto.Frame
	if err := sess.recv(&f); err != nil {
		return err
	}
	if started != nil {
		if err := started(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		sess.close() // the caller went away: end the agent's side too
	}()
	go func() { _ = sess.copyIn(conn, linkproto.StreamStdin) }()
	for {
		if err := sess.recv(&f); err != nil {
			return err
		}
		switch f.Type {
		case linkproto.FrameData:
			if _, err := conn.Write(f.Data); err != nil {
				return err
			}
			if fl, ok := conn.(interface{ Flush() error }); ok {
				_ = fl.Flush()
			}
		case linkproto.FrameClose:
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		case linkproto.FrameResult:
			return nil
		}
	}
}
