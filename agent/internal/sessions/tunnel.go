package sessions

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/runsock/runsock/linkproto"
)

// tunnel carries one published-port connection: it dials 127.0.0.1:port inside the container, answers Started
// (or an error the control plane turns into a refused connection), then copies Data frames both ways. A Close
// frame half-closes the connection's write side; the connection's EOF is sent as Close; either side's end ends it.
func (s *Server) tunnel(ctx context.Context, port int, st linkproto.FrameStream, out *sender) error {
	if port <= 0 || port > 65535 {
		return &linkproto.Error{Kind: linkproto.ErrKindInvalid, Message: fmt.Sprintf("invalid port %d", port)}
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return &linkproto.Error{Kind: linkproto.ErrKindConflict, Message: fmt.Sprintf("port %d in the container: %v", port, err)}
	}
	defer conn.Close()
	if err := out.send(&linkproto.Frame{Type: linkproto.FrameStarted}); err != nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if recvData(st, conn) == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
				return
			}
		}
		conn.Close()
	}()
	var chunks linkproto.Chunker
	for {
		b, rerr := chunks.Read(conn)
		if len(b) > 0 {
			if err := out.send(&linkproto.Frame{Type: linkproto.FrameData, Data: b}); err != nil {
				return nil
			}
		}
		if rerr != nil {
			break
		}
	}
	_ = out.send(&linkproto.Frame{Type: linkproto.FrameClose})
	<-done
	return out.result(0, nil)
}
