// Package ports publishes containers' ports on the laptop: for a container this proxy's client created with
// `-p HOSTPORT:CPORT` (HostConfig.PortBindings) or `-P` (PublishAllPorts), once it has started, localproxy listens on
// 127.0.0.1:HOSTPORT and carries each accepted connection as one full-duplex HTTP/2 request to the control plane:
//
//	POST /runsock/v1/containers/{id}/tunnel?port=CPORT
//
// Request body = bytes from the local connection as they arrive (its half-close ends the body); the control plane
// answers 200 at once (flushing headers) and streams the container's bytes in the response body; the agent dials
// 127.0.0.1:CPORT inside the container. Any other status refuses the connection (it is closed).
//
// Host ports come from the control plane (GET /runsock/v1/containers/{id}/ports). A random one (-P, -p CPORT,
// HostPort "" or "0" as testcontainers sends) is chosen here, where it is bound: the proxy listens on 127.0.0.1:0 and
// reports the port the kernel gave (POST the same path, compare-and-set on the port it saw), before the start's
// answer reaches the client, so inspect, docker port and ps show it at once. A proxy that restarts binds the recorded
// port again (or logs and skips it, as a fixed one, when this machine cannot: it may be the user's other machine). Listeners bind 127.0.0.1 only,
// whatever HostIp asked, so nothing is exposed to the network. They close when the container dies or is destroyed
// (watched through /events filtered by the container, or by polling inspect when events fail).
//
// Several localproxies of one user may run (two laptops): only the proxy that saw the create opens the ports, and a
// random port is claimed by one proxy only (the control plane refuses a second claim).
//
// Goroutines: per published container, one accept loop per port and one watcher; per connection, one copy loop
// (plus the transport's body writer). Publisher.Close ends them all and waits.
package ports
