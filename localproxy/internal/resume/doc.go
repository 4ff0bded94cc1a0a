// Package resume delivers the control plane's long streams (logs, wait, attach) to a local Docker client across
// the cuts of Cloud Run's request timeout: it asks for framed bodies (package proxyproto), writes their client bytes
// to the client, and when a body ends without the end frame it re-issues the request with the stream's token and
// the last position delivered, and goes on writing to the same client connection. The docker CLI sees one unbroken
// stream: nothing lost, nothing repeated. Attach stdin is kept until the control plane acknowledges it (StdinLog)
// and sent again from there.
//
// A framed stream without a token (exec) cannot be resumed: Run reports ErrCut, and the caller tells the user.
//
// Goroutines: Handler.Serve runs in its request's goroutine; StdinLog's pump reads the client's stdin until EOF.
package resume
