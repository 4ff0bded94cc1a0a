// Package dockerapi is the Docker Engine API's HTTP layer only: the route table (every /vX.Y prefix from 1.24 and
// none), decoding and validating requests, calling the domain through small capability interfaces declared in
// backends.go, and encoding replies with github.com/moby/moby/api types. Errors are classified by kind
// (github.com/containerd/errdefs) and mapped to status codes in exactly one place (errors.go). Every request is
// bounded before its handler runs (limits.go): its query, and its body by what the route takes.
//
// It imports no cloud SDK and no store; it runs no goroutines of its own beyond those serving a request (a
// hijacked stream's copy loops end with the request).
package dockerapi
