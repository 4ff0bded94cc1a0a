// Package dockersock serves the Docker socket mounted into a container (-v /var/run/docker.sock:PATH): the owner's
// grant, at create, of their Docker API to the code in that container, as mounting the socket grants it on Docker.
// The container's agent serves a unix socket at PATH and carries each connection accepted there as one stream on
// its link (linkproto.Dial with DockerAPI); the agent link Hub authenticates the stream as that container's current
// run and asks Server.Admit, which reads the container's record: only a container created with the mount is
// admitted, whatever its agent asks. Admitted connections are served by the control plane's own Docker API handler
// (HTTP/1.1 with keep-alive, hijacked attach and exec upgrades, streamed logs and events) acting as the container's
// owner: their namespace, quotas and events, never an admin's reach, and only while the owner is still allowed
// (the identity Authorize of the day).
//
// It owns that decision and the HTTP server of those connections. It imports containers and identity (types) and
// never the HTTP layer (the handler is handed in) nor the agent link (the Hub calls it through
// agentlink.DockerAPI). Goroutines: one http.Server accept loop, plus the server's per-connection goroutines; all
// end with Close.
package dockersock
