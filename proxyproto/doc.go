// Package proxyproto is the contract between localproxy and the control plane beyond Docker's own API: the headers
// and the framing that let localproxy carry Docker's hijacked streams over HTTP/2 and let long streams survive the
// cut of Cloud Run's request timeout. Both sides import it; it imports nothing of runsock's.
//
// # Resumable streams
//
// Cloud Run ends every request at its timeout (60 min at most), streamed responses included, and to the client a cut
// looks like a clean end of the response. So when localproxy asks for it (request header [Resumable]), the control
// plane frames the response body of logs, wait, attach and exec start (and says so with [Framed] on the response):
//
//	frame = kind (1 byte) | length of pos (1 byte) | length of data (4 bytes, big-endian) | pos | data
//
// The kinds:
//   - [KindToken] data = an opaque resume token, sent once at the start of a stream that can be resumed (logs from
//     the live output, attach, wait). It names what the stream is and where it started, with every relative choice
//     (tail, since) already resolved, so re-issuing it reproduces the same stream.
//   - [KindData] data = bytes for the Docker client, exactly as an unframed body would carry them; pos = the
//     position in the stream after them (opaque to localproxy).
//   - [KindStdinAck] pos = how many stdin bytes of this attach the control plane has handed to the container.
//   - [KindEnd] data = final bytes for the client (wait's JSON), then the natural end of the stream. A body that
//     ends without it was cut.
//
// When a framed stream ends without [KindEnd], localproxy re-issues the same request with [ResumeHeader] (the token)
// and [ResumePositionHeader] (the pos of the last data frame it delivered, absent when none), and keeps writing to the
// same client connection. A resumed attach sends stdin again from the last acknowledged byte; [StdinAtHeader] gives
// the stdin offset of the first stdin byte of the new body, and the control plane drops what it has already handed
// on. A stream without a token (exec, output only in Cloud Logging) cannot be resumed: localproxy says so and ends.
package proxyproto
