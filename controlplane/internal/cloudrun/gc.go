package cloudrun

import (
	"context"
	"errors"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
)

// DeleteIdleJobs deletes runsock's jobs that have no running execution and have been idle (no execution created
// or finished, no change to the job) for longer than grace. It returns how many jobs it deleted. Deleting a job
// also deletes its finished executions; their containers' records live in Firestore and their logs in Cloud
// Logging, so nothing a user sees is lost. A launch racing with the deletion re-creates the job (see Launch).
func (d *Driver) DeleteIdleJobs(ctx context.Context, grace time.Duration, now time.Time) (int, error) {
	var deleted int
	var errs []error
	it := d.jobs.ListJobs(ctx, &runpb.ListJobsRequest{Parent: d.parent})
	for {
		job, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return deleted, translate(err, "list jobs")
		}
		if job.GetLabels()[LabelManagedBy] != ManagedByValue || !idleSince(job, now, grace) {
			continue
		}
		busy, err := d.hasActiveExecution(ctx, job.GetName(), now, grace)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if busy {
			continue
		}
		if _, err := d.jobs.DeleteJob(ctx, &runpb.DeleteJobRequest{Name: job.GetName(), Etag: job.GetEtag()}); err != nil {
			if !isCode(err, codes.NotFound) {
				errs = append(errs, translate(err, "delete job "+shortName(job.GetName())))
			}
			continue
		}
		d.created.Delete(shortName(job.GetName()))
		deleted++
		d.log.InfoContext(ctx, "idle job deleted", "job", shortName(job.GetName()))
	}
	return deleted, errors.Join(errs...)
}

// idleSince reports whether the job itself shows no activity within grace.
func idleSince(job *runpb.Job, now time.Time, grace time.Duration) bool {
	last := job.GetUpdateTime().AsTime()
	if c := job.GetCreateTime().AsTime(); c.After(last) {
		last = c
	}
	if ref := job.GetLatestCreatedExecution(); ref != nil {
		switch ref.GetCompletionStatus() {
		case runpb.ExecutionReference_EXECUTION_RUNNING, runpb.ExecutionReference_EXECUTION_PENDING:
			return false
		}
		for _, ts := range []time.Time{ref.GetCreateTime().AsTime(), ref.GetCompletionTime().AsTime()} {
			if ts.After(last) {
				last = ts
			}
		}
	}
	return now.Sub(last) > grace
}

// hasActiveExecution reports whether any execution of job is unfinished or finished within grace.
func (d *Driver) hasActiveExecution(ctx context.Context, job string, now time.Time, grace time.Duration) (bool, error) {
	it := d.executions.ListExecutions(ctx, &runpb.ListExecutionsRequest{Parent: job})
	for {
		exec, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return false, nil
		}
		if err != nil {
			return false, translate(err, "list executions of "+shortName(job))
		}
		if !terminal(exec) || now.Sub(exec.GetCompletionTime().AsTime()) <= grace {
			return true, nil
		}
	}
}
