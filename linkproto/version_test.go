package linkproto

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// frameTypeOfLaterVersion is a type this version does not know, as a peer one version ahead would send it.
const frameTypeOfLaterVersion = FrameHealth + 1

// skipLog is a slog.Handler counting the records of skipped frames of frameTypeOfLaterVersion.
type skipLog struct{ n *atomic.Int32 }

func (skipLog) Enabled(context.Context, slog.Level) bool { return true }
func (h skipLog) WithAttrs([]slog.Attr) slog.Handler     { return h }
func (h skipLog) WithGroup(string) slog.Handler          { return h }
func (h skipLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "type" && a.Value.Int64() == int64(frameTypeOfLaterVersion) && r.Level == slog.LevelDebug {
			h.n.Add(1)
		}
		return true
	})
	return nil
}

// echoServer answers Control: it sends a frame of a later version's type and then a GoAway, and reports the first
// frame it receives.
type echoServer struct{ got chan Frame }

func (e echoServer) Control(st FrameStream) error {
	if err := st.Send(&Frame{Type: frameTypeOfLaterVersion, Seq: 9, Meta: []byte(`{"new":true}`), Data: []byte("x")}); err != nil {
		return err
	}
	if err := st.Send(&Frame{Type: FrameGoAway}); err != nil {
		return err
	}
	var f Frame
	if err := st.Recv(&f); err != nil {
		return err
	}
	e.got <- Frame{Type: f.Type, Meta: bytes.Clone(f.Meta)}
	return nil
}

func (echoServer) Output(FrameStream) error  { return errors.New("not served") }
func (echoServer) Session(FrameStream) error { return errors.New("not served") }

// TestUnknownFrameTypeIsSkipped: a frame of a type this version does not know, sent either way over a real gRPC
// stream, is skipped (and logged at debug) by the receiver, which goes on to the next frame: the link survives.
func TestUnknownFrameTypeIsSkipped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var serverSkips, clientSkips atomic.Int32
	ln := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	got := make(chan Frame, 1)
	Register(gs, echoServer{got: got}, WithLog(slog.New(skipLog{&serverSkips})))
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	cc, err := grpc.NewClient("passthrough:///bufconn", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })

	st, err := Open(ctx, cc, MethodControl, WithLog(slog.New(skipLog{&clientSkips})))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&Frame{Type: frameTypeOfLaterVersion, Data: []byte("from a newer agent")}); err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&Frame{Type: FrameHello, Meta: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	var f Frame
	if err := st.Recv(&f); err != nil {
		t.Fatalf("agent side: Recv after an unknown frame: %v", err)
	}
	if f.Type != FrameGoAway {
		t.Fatalf("agent side: got frame type %d after the unknown one, want GoAway (%d)", f.Type, FrameGoAway)
	}
	select {
	case f := <-got:
		if f.Type != FrameHello || string(f.Meta) != `{}` {
			t.Fatalf("control-plane side: got %+v after the unknown frame, want the hello", f)
		}
	case <-ctx.Done():
		t.Fatal("control-plane side received nothing")
	}
	if s, c := serverSkips.Load(), clientSkips.Load(); s != 1 || c != 1 {
		t.Errorf("skipped frames logged at debug: control plane %d, agent %d; want 1 each", s, c)
	}
}

// TestUnmarshalUnknownTypeDecodesTheFrame: an unknown type is reported as ErrUnknownType with the rest decoded, and
// a malformed frame is still a plain error, never ErrUnknownType (so it is not silently skipped).
func TestUnmarshalUnknownTypeDecodesTheFrame(t *testing.T) {
	in := Frame{Type: frameTypeOfLaterVersion, Stream: 1, Seq: 5, Code: -3, Meta: []byte("m"), Data: []byte("d")}
	var f Frame
	if err := f.Unmarshal(in.Marshal()); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("Unmarshal of type %d: %v, want ErrUnknownType", in.Type, err)
	}
	if f.Type != in.Type || f.Seq != 5 || f.Code != -3 || string(f.Meta) != "m" || string(f.Data) != "d" {
		t.Fatalf("decoded %+v, want %+v", f, in)
	}
	if err := f.Unmarshal([]byte{byte(frameTypeOfLaterVersion), 0, 0x80}); err == nil || errors.Is(err, ErrUnknownType) {
		t.Fatalf("a truncated frame of an unknown type: %v, want a plain decoding error", err)
	}
	if err := f.Unmarshal((&Frame{Type: 0}).Marshal()); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("type 0: %v, want ErrUnknownType", err)
	}
}
