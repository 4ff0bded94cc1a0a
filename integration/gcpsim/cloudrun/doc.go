// Package cloudrun serves the Cloud Run Admin API v2 for jobs over gRPC —
// google.cloud.run.v2.Jobs, Executions and Tasks, and
// google.longrunning.Operations — so that the official client
// cloud.google.com/go/run/apiv2 works against it unchanged. It keeps jobs,
// executions, tasks and operations in memory, saved to a JSON file, and runs
// executions through a TaskRunner (package tasks runs them on Docker).
//
// Behaviour follows the Cloud Run fact sheet (docs/reference/
// cloud-run-behaviour.md): names and IDs, conditions, counters, validation
// and error codes. Choices where Google's behaviour is unconfirmed are listed
// in integration/gcpsim/README.md.
//
// Quotas (quotas.go, package quota): per-minute rate quotas per project and region for RunJob, writes and reads,
// and the allocation quotas of jobs and running executions, each refused with Google's RESOURCE_EXHAUSTED shape.
// Defaults and their sources (RunJob 60/min: the stricter of two third-party reports; writes 60/min and reads
// 300/min: unconfirmed at Google, gcpsim's strict choice) are in README.md "Quotas"; all are Config fields.
// A Service started on a saved state continues the executions it left
// running: with a TaskRunner that is also an Adopter, their task containers
// are adopted, so a gcpsim restart is an outage of the API, not a loss.
//
// It must not import a Docker client; it knows tasks only through the
// TaskRunner interface and the tasks.Spec/Result types.
//
// Goroutines: one per running execution and one per running task, owned by
// Service; a state saver goroutine. Close cancels and waits for all of them.
package cloudrun
