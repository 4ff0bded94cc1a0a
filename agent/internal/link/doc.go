// Package link is the agent's side of the agent link: it dials the control plane (gRPC over TLS or h2c), proves
// which container it is (secret and, where a metadata server exists, an identity token), streams the output
// buffer and the exit report, opens one stream per session the control plane asks for, and redials with backoff
// whenever the link ends.
//
// Goroutines: Run owns the redial loop and, per link, a control reader, an output sender and an output ack reader;
// each session runs in its own goroutine, with one more that reads its stream (queueing at most the session's
// flow-control window, so the control plane's credits arrive even while the session is blocked), and may outlive the link that opened it (its stream lives on the same
// connection, which gRPC keeps). Everything ends when Run's context ends.
package link
