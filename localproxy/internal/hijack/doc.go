// Package hijack turns Docker's hijacked endpoints (POST /containers/{id}/attach, POST /exec/{id}/start without
// Detach) into one full-duplex HTTP/2 request to the control plane, because Google's front end passes no
// `Upgrade: tcp`.
//
// Contract with the control plane (dockerapi):
//   - Same method, path and query as the client's request. Request body = the client's original request body (the
//     exec-start JSON; empty for attach) immediately followed by the client's stdin bytes as they arrive. Header
//     X-Runsock-Stdin-Offset gives the length of that JSON prefix, so the server can split without guessing.
//     The body ends (END_STREAM) when the client half-closes its connection (CloseWrite): that is stdin's EOF.
//     (Headers and framing: package proxyproto, which the control plane imports too.)
//   - The control plane answers 200 with Content-Type application/vnd.docker.raw-stream or
//     application/vnd.docker.multiplexed-stream, flushes the headers at once, and streams output in the response
//     body. Any other status before streaming is an error passed to the client as a normal HTTP response.
//
// To the local client, localproxy answers exactly as a Docker Engine: `HTTP/1.1 101 UPGRADED` (or `200 OK` when the
// client asked for no upgrade) with the upstream Content-Type, then raw bytes. When upstream output ends, the local
// connection's write side is closed, then the connection. The request asks for a framed body: an attach that Cloud
// Run's request timeout cuts is re-issued and resumed (package resume), stdin sent again from the last byte the
// control plane acknowledged; a cut exec, which cannot be resumed, ends with a message saying so.
//
// Docker's WebSocket attach (GET /containers/{id}/attach/ws) is served here too, since Google's front end carries no
// WebSocket to a service speaking end-to-end HTTP/2: the socket's messages are stdin, and the output of the same
// upstream attach request goes out as binary messages, a multiplexed stream taken apart (Docker's WebSocket attach
// never multiplexes).
//
// Goroutines: per stream, a pump reading the client's stdin (resume.StdinLog) and the HTTP/2 transport's body
// writer sending it; the handler goroutine copies output. Tracker ends every stream on Close.
package hijack
