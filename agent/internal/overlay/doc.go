// Package overlay is the agent's side of runsock networks: it reports the container's listening TCP ports (a scan
// of /proc/net/tcp and /proc/net/tcp6, Scan), and, given the container's peers from the control plane, makes their
// names resolve (a block of /etc/hosts it owns, Hosts) and listens on each peer's loopback address and ports,
// relaying every accepted connection as a stream over the link (Link.Dial) to the peer's agent.
//
// It imports linkproto only; the link (agent/internal/link) implements Link.
//
// Goroutines: Overlay.Run (the port scan, until its context ends), one accept loop per peer address and port (ended
// by SetPeers when the peer or port goes, or by Close), and two per relayed connection (ended with it).
package overlay
