// Package linkproto is the agent link protocol: the only definition of what the runsock agent (PID 1 in every
// container) and the control plane's agent link server say to each other. Both sides import it; nothing else may
// define a frame, a method name or a metadata key of the link.
//
// # Transport
//
// The link is gRPC over HTTP/2 (TLS, or h2c behind Cloud Run's front end): Cloud Run carries no WebSockets over
// end-to-end HTTP/2 and passes no Upgrade, and it ends every request after 60 minutes, so the agent dials out and
// redials whenever a stream ends. The agent opens three kinds of bidirectional streams, each with its own HTTP/2 flow
// control:
//
//   - Control (one per link): the agent says hello; the control plane sends Open (start a session) and GoAway.
//   - Output (one per link): the agent sends the main process's stdout/stderr as sequence-numbered chunks and finally
//     Exit; the control plane acknowledges the highest durable sequence and the exit. A redial resumes after the last
//     acknowledged sequence, so nothing is lost or duplicated.
//   - Session (one per session: exec, attach, archive get/put/stat, signal, top, stats): opened by the agent when the
//     control plane asks for it on the control stream, and identified by the session ID in its first frame; or
//     opened by the agent itself with session ID 0 (Dial): a connection it accepted for a network peer, or on the
//     Docker socket mounted into its container (EnvDockerSocket).
//
// Session streams add credit-based flow control of their Data frames (Flow): gRPC served through net/http reads a
// stream's messages eagerly and without bound, so HTTP/2 flow control alone does not stop a fast sender.
//
// Every stream carries the container ID, the execution the agent runs in, the agent's own key and (where a metadata
// server exists) the job service account's identity token in gRPC metadata (MDContainerID, MDExecution, MDKey,
// MDServerlessAuth: the x-serverless-authorization header Cloud Run's front end checks; it arrives with its signature
// removed). Until its first link is accepted the agent also sends the start's one-time bootstrap (MDBootstrap): the
// environment that carries it is readable by project viewers in the Execution resource, so it binds the agent's key
// to the execution once and is worth nothing afterwards. The key never leaves the agent's memory except on the link.
//
// # Encoding, and why there is no .proto file
//
// The service descriptor is written by hand (ServiceDesc) and every message on the wire is a
// google.protobuf.BytesValue holding one Frame in the small binary encoding of frame.go. This keeps protoc and
// generated code out of the build (CI needs nothing but the Go toolchain), uses gRPC's default proto codec (no codec
// registration, no init side effects, no process-wide codec override on a server the control plane shares), and costs
// one length prefix per message. Structured payloads (exec specs, stat results, errors) travel as JSON in Frame.Meta;
// bulk bytes travel raw in Frame.Data.
//
// # Versions
//
// Agents and control planes of adjacent versions must keep talking during a rollout (a running container keeps the
// agent it started with). A new frame type is therefore always an addition the older side may ignore: a stream's
// Recv skips a frame whose type it does not know, logging it at debug level (Register and Open take WithLog), and
// Unmarshal reports one as ErrUnknownType. Changing what an existing type means needs a new type instead.
//
// This package starts no goroutines and imports nothing from runsock.
package linkproto
