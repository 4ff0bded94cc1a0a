// Package forward is localproxy's Docker API server side: every request on the local socket goes to the control
// plane through an httputil.ReverseProxy with immediate flushing (logs -f, events, pull progress and wait stream),
// except the hijacked endpoints, which package hijack carries, and logs and wait, which package resume carries
// across the cuts of Cloud Run's request timeout. It tells a PortPublisher about containers this
// proxy's client created and started, so their published ports open on 127.0.0.1.
//
// Goroutines: those of net/http serving each request.
package forward
