// Package cloudrun is the control plane's driver for Cloud Run Jobs (Admin API v2): it turns a container launch into
// one execution of a reused Job per launch template, waits for executions to end (the one polling loop, poll.go:
// quick for the first seconds and after a cancel, then backing off) and maps what Cloud Run reports
// (Task.last_attempt_result, conditions) onto a Docker-style Outcome, cancels and deletes executions, and deletes
// runsock's idle jobs.
//
// It talks to Google through cloud.google.com/go/run/apiv2 only (the same code drives gcpsim locally; only the
// endpoint differs). It must not import the HTTP layer (dockerapi) nor the store. gRPC codes from the Admin API are
// translated here into github.com/containerd/errdefs kinds.
//
// Outages (googleconn): while the Admin API is unreachable calls fail as errdefs.ErrUnavailable naming it; the
// first call made once it answers again goes through, rather than failing until the connection's next reconnect
// attempt.
//
// Quotas (quota.go): every Admin API call is charged to its rate quota (RunJob, write or read; per minute in the
// region, Config.Quotas) in a client-side token bucket, so a burst of launches waits here rather than failing at
// Google; a call Cloud Run still refuses for a rate quota (another client of the project spent it) is retried with
// jittered backoff (1 s doubling to 16 s) for up to Quotas.RetryFor. When the retries run out, or for an
// allocation quota (jobs, running executions; not retried), the error names the quota from Google's ErrorInfo
// (quota_limit, quota_metric, value, location) with Google's message, as errdefs.ErrResourceExhausted. Polls marked
// with Background (Wait's, the reconciler's) never queue for a read token: they are deferred while less
// than a quarter of the read bucket is left. It starts no goroutines of its own: Wait blocks in the
// caller's goroutine; idle jobs and orphan executions are deleted by the reconciler (controlplane/internal/reconcile).
package cloudrun
