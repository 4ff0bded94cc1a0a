// Package agentlink is the control plane's agent link server (the Hub): it accepts the reverse links of runsock
// agents (gRPC streams served by the control plane's own HTTP/2 listener), authenticates them (the agent's own key, bound on
// its first link with the start's one-time bootstrap and checked against a stored hash in constant time, for the
// container's current execution only, plus the job service account's identity token when a verifier is configured), persists their live output through livelogs and acknowledges it, and offers the Docker-facing
// operations that need the inside of a container as plain Go calls over io.Reader/io.Writer: Exec, Attach,
// ArchiveStat/Get/Put, Signal, Top, Stats.
//
// Each session asks the agent, over its control stream, to open a stream of its own, with linkproto's credit-based
// flow control of its Data: gRPC served through net/http buffers whatever arrives, so HTTP/2 flow control alone
// would let a fast agent fill the control plane's memory while a slow client reads (docker cp of a large file). A
// session's Data waits in the control plane for at most linkproto.Window bytes; something keeps receiving on every
// session that sends, since the agent's credits arrive among the received frames.
// What agents report on their control streams goes to the receivers in Options: listening ports to the Overlay,
// healthcheck results (FrameHealth) to the HealthRecorder, for the run the stream was authenticated for.
// Agent-side failures arrive with a kind and are mapped here onto containerd errdefs kinds; a container whose agent
// is not connected yields a conflict error saying why.
//
// It imports linkproto and livelogs from runsock, never the HTTP layer. Goroutines: one per agent stream (run by the
// gRPC server), one batching writer per output stream, and per session one input copier (attach also a receiver for the agent's credits); all end with their
// streams. Close (or Drain) asks every agent to redial elsewhere.
package agentlink
