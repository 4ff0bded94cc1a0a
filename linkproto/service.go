package linkproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// ServiceName is the gRPC service of the agent link.
const ServiceName = "runsock.agentlink.v1.AgentLink"

// Full method names, for routing and interceptors.
const (
	MethodControl = "/" + ServiceName + "/Control"
	MethodOutput  = "/" + ServiceName + "/Output"
	MethodSession = "/" + ServiceName + "/Session"
)

// gRPC metadata keys every agent stream carries.
const (
	MDContainerID = "x-runsock-container-id"
	// MDExecution is the Cloud Run execution the agent runs in (its CLOUD_RUN_EXECUTION): a credential proves only
	// the run of that execution.
	MDExecution = "x-runsock-execution"
	// MDKey is the agent's own key: random bytes it made at start and holds only in memory. The control plane keeps
	// only its hash, bound to the execution, from the first link on.
	MDKey = "x-runsock-agent-key"
	// MDBootstrap is the one-time bootstrap secret from the agent's environment (EnvBootstrap), sent until the
	// first link is accepted: the control plane accepts it once, to bind MDKey to the execution, and never again.
	MDBootstrap = "x-runsock-agent-bootstrap"
	// MDServerlessAuth carries "Bearer <identity token>" of the job's service account, where Cloud Run's front end
	// reads it (X-Serverless-Authorization) and forwards it with its signature removed.
	MDServerlessAuth = "x-serverless-authorization"
)

// FrameStream is one side of a link stream.
type FrameStream interface {
	Context() context.Context
	Send(*Frame) error
	// Recv reads the next frame into f. Meta and Data stay valid until the next Recv.
	Recv(f *Frame) error
}

// ClientStream is the agent's side of a link stream.
type ClientStream interface {
	FrameStream
	// CloseSend half-closes the agent → control plane direction.
	CloseSend() error
}

// Server is what the control plane implements; each method serves one stream until it returns.
type Server interface {
	Control(FrameStream) error
	Output(FrameStream) error
	Session(FrameStream) error
}

// ServiceDesc describes the link service for grpc.Server.RegisterService(&ServiceDesc, impl); its streams skip
// frames of unknown types without logging them. Register does the same with options.
var ServiceDesc = serviceDesc(nil)

// Option configures the streams of Register and Open.
type Option func(*stream)

// WithLog has the streams log at debug level each frame they skip because its type is unknown (nil = discard).
func WithLog(log *slog.Logger) Option { return func(s *stream) { s.log = log } }

// Register registers impl on s.
func Register(s *grpc.Server, impl Server, opts ...Option) {
	d := serviceDesc(opts)
	s.RegisterService(&d, impl)
}

func serviceDesc(opts []Option) grpc.ServiceDesc {
	newStream := func(s grpc.ServerStream) *stream { return newFrameStream(s, opts) }
	return grpc.ServiceDesc{
		ServiceName: ServiceName,
		HandlerType: (*Server)(nil),
		Streams: []grpc.StreamDesc{
			{StreamName: "Control", ServerStreams: true, ClientStreams: true, Handler: func(srv any, s grpc.ServerStream) error {
				return srv.(Server).Control(newStream(s))
			}},
			{StreamName: "Output", ServerStreams: true, ClientStreams: true, Handler: func(srv any, s grpc.ServerStream) error {
				return srv.(Server).Output(newStream(s))
			}},
			{StreamName: "Session", ServerStreams: true, ClientStreams: true, Handler: func(srv any, s grpc.ServerStream) error {
				return srv.(Server).Session(newStream(s))
			}},
		},
		Metadata: "runsock/linkproto",
	}
}

// grpcStream is the part of grpc.ServerStream and grpc.ClientStream a stream uses.
type grpcStream interface {
	Context() context.Context
	SendMsg(any) error
	RecvMsg(any) error
}

type stream struct {
	s   grpcStream
	buf wrapperspb.BytesValue
	log *slog.Logger
}

func newFrameStream(s grpcStream, opts []Option) *stream {
	st := &stream{s: s}
	for _, o := range opts {
		o(st)
	}
	if st.log == nil {
		st.log = slog.New(slog.DiscardHandler)
	}
	return st
}

func (s *stream) Context() context.Context { return s.s.Context() }

func (s *stream) Send(f *Frame) error {
	return s.s.SendMsg(&wrapperspb.BytesValue{Value: f.Marshal()})
}

// Recv reads the next frame of a type this version knows. A frame of an unknown type (from a peer of a later
// version) is skipped, not an error: each new frame type is an addition the older side may ignore, so the link
// survives a rolling update of either side.
func (s *stream) Recv(f *Frame) error {
	for {
		s.buf.Value = nil
		if err := s.s.RecvMsg(&s.buf); err != nil {
			return err
		}
		err := f.Unmarshal(s.buf.Value)
		if !errors.Is(err, ErrUnknownType) {
			return err
		}
		s.log.Debug("agent link: skipped a frame of an unknown type (a peer of another version)", "type", int(f.Type),
			"stream", f.Stream, "bytes", len(s.buf.Value))
	}
}

type clientStream struct {
	*stream
	cs grpc.ClientStream
}

func (c *clientStream) CloseSend() error { return c.cs.CloseSend() }

// Open starts a link stream (MethodControl, MethodOutput or MethodSession) on cc. Metadata for authentication is
// taken from ctx (metadata.AppendToOutgoingContext) or per-RPC credentials on cc.
func Open(ctx context.Context, cc grpc.ClientConnInterface, method string, opts ...Option) (ClientStream, error) {
	var desc *grpc.StreamDesc
	for i := range ServiceDesc.Streams {
		if "/"+ServiceName+"/"+ServiceDesc.Streams[i].StreamName == method {
			desc = &ServiceDesc.Streams[i]
		}
	}
	if desc == nil {
		return nil, fmt.Errorf("linkproto: unknown method %q", method)
	}
	cs, err := cc.NewStream(ctx, desc, method)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", method, err)
	}
	return &clientStream{stream: newFrameStream(cs, opts), cs: cs}, nil
}
