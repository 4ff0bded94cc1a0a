// Package cloudrun is the control plane's driver for Cloud Run Jobs (Admin API v2): it turns a container launch into
// one execution of a reused Job per launch template, waits for executions to end and maps what Cloud Run reports
// (Task.last_attempt_result, conditions) onto a Docker-style Outcome, cancels and deletes executions, and deletes
// runsock's idle jobs.
//
// It talks to Google through cloud.google.com/go/run/apiv2 only (the same code drives gcpsim locally; only the
// endpoint differs). It must not import the HTTP layer (dockerapi) nor the store. gRPC codes from the Admin API are
// translated here into github.com/containerd/errdefs kinds. It starts no goroutines of its own: Wait blocks in the
// caller's goroutine and DeleteIdleJobs is called periodically by main.
package cloudrun
