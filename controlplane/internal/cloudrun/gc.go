package cloudrun

import (
	"context"
	"errors"
	"path"
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
	jobs, err := d.listJobs(ctx)
	if err != nil {
		return 0, translate(err, "list jobs")
	}
	for _, job := range jobs {
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
		if err := d.deleteJob(ctx, job.GetName(), job.GetEtag()); err != nil {
			if !isCode(err, codes.NotFound) {
				errs = append(errs, translate(err, "delete job "+path.Base(job.GetName())))
			}
			continue
		}
		d.created.Delete(path.Base(job.GetName()))
		deleted++
		d.log.InfoContext(ctx, "idle job deleted", "job", path.Base(job.GetName()))
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
	execs, err := d.listExecutions(ctx, job)
	if err != nil {
		return false, translate(err, "list executions of "+path.Base(job))
	}
	for _, exec := range execs {
		if !terminal(exec) || now.Sub(exec.GetCompletionTime().AsTime()) <= grace {
			return true, nil
		}
	}
	return false, nil
}

// listJobs lists the region's jobs under the read quota (a token per page; a listing refused midway starts over).
func (d *Driver) listJobs(ctx context.Context) ([]*runpb.Job, error) {
	var jobs []*runpb.Job
	err := d.q.list(ctx, func(ctx context.Context, page func(pager) error) error {
		jobs = jobs[:0]
		var err error
		jobs, err = collect(jobs, d.jobs.ListJobs(ctx, &runpb.ListJobsRequest{Parent: d.parent, PageSize: 1000}), page)
		return err
	})
	return jobs, err
}

// listExecutions lists a job's executions under the read quota, as listJobs does.
func (d *Driver) listExecutions(ctx context.Context, job string) ([]*runpb.Execution, error) {
	var execs []*runpb.Execution
	err := d.q.list(ctx, func(ctx context.Context, page func(pager) error) error {
		execs = execs[:0]
		var err error
		execs, err = collect(execs, d.executions.ListExecutions(ctx, &runpb.ListExecutionsRequest{Parent: job, PageSize: 1000}), page)
		return err
	})
	return execs, err
}

// collect appends every item of it to xs, calling page before each item (it takes a token when a page is due).
func collect[T any, I interface {
	pager
	Next() (T, error)
}](xs []T, it I, page func(pager) error) ([]T, error) {
	for first := true; ; first = false {
		if p := it.PageInfo(); first || (p.Remaining() == 0 && p.Token != "") { // a page is due
			if err := page(it); err != nil {
				return xs, err
			}
		}
		x, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return xs, nil
		}
		if err != nil {
			return xs, err
		}
		xs = append(xs, x)
	}
}

func (d *Driver) deleteJob(ctx context.Context, name, etag string) error {
	return d.q.do(ctx, classWrite, func(ctx context.Context) error {
		_, err := d.jobs.DeleteJob(ctx, &runpb.DeleteJobRequest{Name: name, Etag: etag})
		return err
	})
}
