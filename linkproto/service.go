package linkproto

import (
	"context"
	"fmt"

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

// ServiceDesc describes the link service for grpc.Server.RegisterService(&ServiceDesc, impl).
var ServiceDesc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*Server)(nil),
	Streams: []grpc.StreamDesc{
		{StreamName: "Control", ServerStreams: true, ClientStreams: true, Handler: func(srv any, s grpc.ServerStream) error {
			return srv.(Server).Control(&stream{s: s})
		}},
		{StreamName: "Output", ServerStreams: true, ClientStreams: true, Handler: func(srv any, s grpc.ServerStream) error {
			return srv.(Server).Output(&stream{s: s})
		}},
		{StreamName: "Session", ServerStreams: true, ClientStreams: true, Handler: func(srv any, s grpc.ServerStream) error {
			return srv.(Server).Session(&stream{s: s})
		}},
	},
	Metadata: "runsock/linkproto",
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
}

func (s *stream) Context() context.Context { return s.s.Context() }

func (s *stream) Send(f *Frame) error {
	return s.s.SendMsg(&wrapperspb.BytesValue{Value: f.Marshal()})
}

func (s *stream) Recv(f *Frame) error {
	s.buf.Value = nil
	if err := s.s.RecvMsg(&s.buf); err != nil {
		return err
	}
	return f.Unmarshal(s.buf.Value)
}

type clientStream struct {
	stream
	cs grpc.ClientStream
}

func (c *clientStream) CloseSend() error { return c.cs.CloseSend() }

// Open starts a link stream (MethodControl, MethodOutput or MethodSession) on cc. Metadata for authentication is
// taken from ctx (metadata.AppendToOutgoingContext) or per-RPC credentials on cc.
func Open(ctx context.Context, cc grpc.ClientConnInterface, method string) (ClientStream, error) {
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
	return &clientStream{stream: stream{s: cs}, cs: cs}, nil
}
