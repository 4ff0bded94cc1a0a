// Package frontend is Google's front end before one simulated Cloud Run service: what a private service's caller
// meets before the container sees anything. gcpsim serves one Frontend per service on the service's own TLS listener
// (its URL) and proxies admitted requests to the service's container.
//
// Reproduced, with the rows of docs/reference/google-front-door.md:
//   - token in Authorization: Bearer or X-Serverless-Authorization; when both are present only
//     X-Serverless-Authorization is checked, so a bad one beside a good Authorization is refused (1.1.2, 1.1.3);
//   - an ID token signed by gcpsim's issuer (the metadata package's key, shared in-process), with that issuer, not
//     expired; an access token, a malformed token, several JWTs or several headers → 401 (1.1.1, 1.1.4, 1.2.7);
//   - aud = a service URL (scheme://host) or a custom audience, exactly; gcloud's client ID
//     32555940559.apps.googleusercontent.com for people only (1.1.5, 1.2.1–1.2.4);
//   - IAM: the token's email must be an invoker member (user:, serviceAccount:, domain:; group: never matches) (1.1.1);
//   - refusals with Google's HTML pages: no token 403, invalid token 401 with WWW-Authenticate, not an invoker 403
//     (§1.3); TRACE, CONNECT, /eventlog, /_ah/*, /healthz → Google's 404, never delivered (§1.3);
//   - the consumed token reaches the service as header.payload.SIGNATURE_REMOVED_BY_GOOGLE; an Authorization the
//     front end did not consume passes untouched (1.4.1–1.4.4, §6);
//   - added headers X-Forwarded-For, X-Forwarded-Proto, X-Cloud-Trace-Context, traceparent (1.4.5); Cache-Control:
//     private with Set-Cookie (1.4.10);
//   - end-to-end HTTP/2 as h2c with prior knowledge to the container, or HTTP/1 for a service without it (1.4.11);
//   - the request timeout (default 60 min, runsock's setting; max on Google) cuts every request: 504 page if no
//     response has started, otherwise the response just ends — END_STREAM without trailers on HTTP/2, the last
//     chunk on HTTP/1 — which the client cannot tell from a normal end (2.1, 2.2, 2.4);
//   - at most Concurrency requests in flight (default 1000, one instance); above it a request pends up to 10 s,
//     then gets 429 "no available instance" (2.5–2.7);
//   - request bodies over 32 MiB on HTTP/1 → 413 page (2.12).
//
// Unconfirmed facts, and the stricter reading taken: the 404/413/429/503/504 page bodies (shaped like the 401/403
// pages; 2.9, §7.1); the WWW-Authenticate header (§7.2); "bearer" in lower case is refused (1.1.6); no clock skew
// on exp (1.2.7); only scheme://host of a service URL is an audience — no path, no trailing slash (1.2.5); a
// service-account token in Authorization also loses its signature (1.4.4); Upgrade (Docker's hijack, and WebSockets
// altogether) is refused with 404 (1.4.13); the 32 MiB cap also applies to HTTP/1 clients of an HTTP/2 service
// (2.12); of the "paths ending in z" only /healthz is intercepted (§7.5). A stream the instance itself breaks
// (crash, kill) is reset, not ended cleanly.
//
// Not reproduced: ingress settings and VPC-SC (1.5), IAM propagation delay, several instances and autoscaling,
// HTTP/1 response-size cap (2.13), the 100-streams-per-connection figure (2.14), header-size limits, percent-decoding
// of URLs (1.4.9), request logs in Cloud Logging (the refusals are logged by gcpsim).
//
// The package imports no other gcpsim package and runs no goroutines of its own beyond net/http's.
package frontend
