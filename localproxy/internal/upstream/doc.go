// Package upstream is localproxy's connection to the control plane: an HTTP/2-only transport (TLS with ALPN h2 for
// https URLs, optionally trusting a dev CA; prior-knowledge h2c for http URLs, used by tests) and a RoundTripper that
// adds the caller's identity token as X-Serverless-Authorization: Bearer. HTTP/2 end to end is what lets a single
// request carry both directions of a hijacked stream, and it has no 32 MiB cap on Cloud Run.
//
// Refusals of Google's front end before the control plane (HTML pages: 401, 403, 404, 413, 429, 5xx) become
// Docker's {"message": ...} naming the cause and what to do (refusal.go).
//
// It never logs a token. Goroutines are the transport's own connection readers.
package upstream
