package cloudrun

import (
	"context"
	"errors"
	"path"
	"strings"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
)

// ExecutionInfo is what the reconciler needs to know about one execution.
type ExecutionInfo struct {
	// Name is the full resource name.
	Name string
	// Running is true until the execution is terminal.
	Running                    bool
	CreateTime, CompletionTime time.Time
}

// JobInfo is one job carrying runsock's managed-by label, with its executions.
type JobInfo struct {
	Name string
	Etag string
	// Ours is true when the job's ID is the one runsock derives from its template label: a job runsock created
	// and may launch on again. A job with the label but another ID was made behind runsock's back.
	Ours bool
	// LastActivity is the latest of the job's creation, update and its executions' creation and completion.
	LastActivity time.Time
	Executions   []ExecutionInfo
}

// Running reports whether any of the job's executions is unfinished.
func (j JobInfo) Running() bool {
	for _, e := range j.Executions {
		if e.Running {
			return true
		}
	}
	return false
}

// ListManaged lists the jobs labelled managed-by=runsock and their executions: one ListJobs and one
// ListExecutions per such job.
func (d *Driver) ListManaged(ctx context.Context) ([]JobInfo, error) {
	jobs, err := d.listJobs(ctx)
	if err != nil {
		return nil, translate(err, "list jobs")
	}
	var out []JobInfo
	for _, job := range jobs {
		if job.GetLabels()[LabelManagedBy] != ManagedByValue {
			continue
		}
		info, err := d.jobInfo(ctx, job)
		if err != nil {
			return out, err
		}
		out = append(out, info)
	}
	return out, nil
}

func (d *Driver) jobInfo(ctx context.Context, job *runpb.Job) (JobInfo, error) {
	tmpl := job.GetLabels()[LabelTemplate]
	info := JobInfo{Name: job.GetName(), Etag: job.GetEtag(),
		Ours: len(tmpl) >= 20 && path.Base(job.GetName()) == "rs-"+tmpl[:20]}
	info.LastActivity = latest(job.GetCreateTime().AsTime(), job.GetUpdateTime().AsTime())
	execs, err := d.listExecutions(ctx, job.GetName())
	if err != nil {
		return info, translate(err, "list executions of "+path.Base(job.GetName()))
	}
	for _, exec := range execs {
		e := ExecutionInfo{Name: exec.GetName(), Running: !terminal(exec), CreateTime: exec.GetCreateTime().AsTime()}
		if exec.GetCompletionTime() != nil {
			e.CompletionTime = exec.GetCompletionTime().AsTime()
		}
		info.LastActivity = latest(info.LastActivity, e.CreateTime, e.CompletionTime)
		info.Executions = append(info.Executions, e)
	}
	return info, nil
}

func latest(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}

// DeleteJob deletes a job (and with it its finished executions) if its etag still matches. A missing job is not
// an error; a job with a running execution is refused by Cloud Run (errdefs.ErrConflict or ErrInvalidArgument).
func (d *Driver) DeleteJob(ctx context.Context, name, etag string) error {
	d.created.Delete(path.Base(name))
	err := d.deleteJob(ctx, name, etag)
	if err == nil || isCode(err, codes.NotFound) {
		return nil
	}
	return translate(err, "delete job "+path.Base(name))
}

// JobOf returns the job's full name of an execution's full name ("" when it is not one).
func JobOf(execution string) string {
	i := strings.Index(execution, "/executions/")
	if i < 0 {
		return ""
	}
	return execution[:i]
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
