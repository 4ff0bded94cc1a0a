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
// Host ports come from the control plane's inspect (NetworkSettings.Ports, which is where the control plane puts the
// ports it assigned for -P), falling back to the create request's PortBindings. Listeners bind 127.0.0.1 only,
// whatever HostIp asked, so nothing is exposed to the network. They close when the container dies or is destroyed
// (watched through /events filtered by the container, or by polling inspect when events fail).
//
// Several localproxies of one user may run: only the proxy that saw the create opens the ports.
//
// Goroutines: per published container, one accept loop per port and one watcher; per connection, one copy loop
// (plus the transport's body writer). Publisher.Close ends them all and waits.
package ports
