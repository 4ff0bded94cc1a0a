// Package dockersock is the agent's side of the Docker socket mounted into a container (linkproto.EnvDockerSocket):
// it creates a unix socket at each path the container's owner named, before the user's process starts, and carries
// every connection accepted there as its own stream on the agent's link (Link.DialDockerAPI), where the control
// plane serves it as the owner's Docker API, if the container's record grants it. A refusal reaches the client as
// a Docker-style HTTP error.
//
// It imports linkproto only; the link (agent/internal/link) implements Link.
//
// Goroutines: one accept loop per socket, and two per connection (ended with it); Close ends them all.
package dockersock
