package cloudrun_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runsock/runsock/integration/gcpsim/cloudrun"
	"github.com/runsock/runsock/integration/gcpsim/tasks"
)

// fakeClock is the quotas' clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// blockingRunner runs every task until it is cancelled: its executions keep running.
type blockingRunner struct{}

func (blockingRunner) Run(ctx context.Context, spec tasks.Spec, started func(time.Time)) tasks.Result {
	started(time.Now())
	<-ctx.Done()
	return tasks.Result{Outcome: tasks.Cancelled, Message: tasks.MsgCancelled, Ended: time.Now()}
}

// quotaError is what a quota error must carry.
type quotaError struct {
	msg            string
	reason, metric string
	limit, value   string
}

func wantQuotaError(t *testing.T, err error, want quotaError) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("error = %v, want RESOURCE_EXHAUSTED", err)
	}
	if st.Message() != want.msg {
		t.Errorf("message:\n got %s\nwant %s", st.Message(), want.msg)
	}
	var info *errdetails.ErrorInfo
	var help *errdetails.Help
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.Help:
			help = d
		}
	}
	if info == nil || help == nil {
		t.Fatalf("details = %v, want ErrorInfo and Help", st.Details())
	}
	wantMeta := map[string]string{"consumer": "projects/123456", "quota_limit": want.limit, "quota_limit_value": want.value,
		"quota_location": "us-central1", "quota_metric": want.metric, "service": "run.googleapis.com"}
	if info.Reason != want.reason || info.Domain != "googleapis.com" || len(info.Metadata) != len(wantMeta) {
		t.Errorf("ErrorInfo = %v", info)
	}
	for k, v := range wantMeta {
		if info.Metadata[k] != v {
			t.Errorf("ErrorInfo.metadata[%s] = %q, want %q", k, info.Metadata[k], v)
		}
	}
	if len(help.Links) != 1 || help.Links[0].Description != "Request a higher quota limit." ||
		help.Links[0].Url != "https://cloud.google.com/docs/quota#requesting_higher_quota" {
		t.Errorf("Help = %v", help)
	}
}

func rateMessage(metric, limitName, metricID, limitID string) string {
	return "Quota exceeded for quota metric '" + metric + "' and limit '" + limitName + "' of service 'run.googleapis.com' " +
		"for consumer 'project_number:123456'. To see usage, go to https://console.cloud.google.com/iam-admin/quotas?metric=" +
		metricID + "&limit=" + limitID + "&qs_error_code=INSUFFICIENT_TOKENS&project=" + project +
		"&service=run.googleapis.com. To request a quota increase, see https://cloud.google.com/run/quotas."
}

func TestRunJobQuota(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	c := serve(t, cloudrun.Config{RunJobsPerMinute: cloudrun.DefaultRunJobsPerMinute, Now: clock.Now}, blockingRunner{})
	ctx := context.Background()
	run := func() error {
		// A job that does not exist: the request is charged before it is looked at, as Google's quota check is.
		_, err := c.jobs.RunJob(ctx, &runpb.RunJobRequest{Name: parent + "/jobs/missing"})
		return err
	}
	for i := range cloudrun.DefaultRunJobsPerMinute {
		if err := run(); status.Code(err) != codes.NotFound {
			t.Fatalf("run %d: %v, want NOT_FOUND (within the quota)", i, err)
		}
	}
	wantQuotaError(t, run(), quotaError{
		msg:    rateMessage("Job run requests", "Job run requests per minute per region", "run.googleapis.com/job_run_requests_regional", "JobRunRequestsPerMinutePerProjectRegion"),
		reason: "RATE_LIMIT_EXCEEDED", metric: "run.googleapis.com/job_run_requests_regional",
		limit: "JobRunRequestsPerMinutePerProjectRegion", value: "60"})
	// The bucket refills 60 per minute: one more after a second, not two.
	clock.Advance(time.Second)
	if err := run(); status.Code(err) != codes.NotFound {
		t.Fatalf("after 1s: %v, want NOT_FOUND", err)
	}
	wantCode(t, run(), codes.ResourceExhausted)
	// Other regions have their own quota.
	_, err := c.jobs.RunJob(ctx, &runpb.RunJobRequest{Name: "projects/" + project + "/locations/europe-west1/jobs/missing"})
	wantCode(t, err, codes.NotFound)
	// Reads and writes are not job runs.
	_, err = c.jobs.GetJob(ctx, &runpb.GetJobRequest{Name: parent + "/jobs/missing"})
	wantCode(t, err, codes.NotFound)
}

func TestWriteQuota(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	c := serve(t, cloudrun.Config{WritesPerMinute: 3, Now: clock.Now}, blockingRunner{})
	ctx := context.Background()
	j := createJob(t, c, "w1", jobOf(image, 0))
	op, err := c.jobs.RunJob(ctx, &runpb.RunJobRequest{Name: j.Name})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := op.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.execs.CancelExecution(ctx, &runpb.CancelExecutionRequest{Name: exec.Name}); err != nil {
		t.Fatalf("CancelExecution: %v", err)
	}
	if _, err := c.execs.DeleteExecution(ctx, &runpb.DeleteExecutionRequest{Name: exec.Name}); err != nil {
		t.Fatalf("DeleteExecution: %v", err)
	}
	want := quotaError{
		msg:    rateMessage("Write requests", "Write requests per minute per region", "run.googleapis.com/write_regional", "WritePerMinutePerProjectRegion"),
		reason: "RATE_LIMIT_EXCEEDED", metric: "run.googleapis.com/write_regional", limit: "WritePerMinutePerProjectRegion", value: "3"}
	_, err = c.jobs.DeleteJob(ctx, &runpb.DeleteJobRequest{Name: j.Name})
	wantQuotaError(t, err, want)
	_, err = c.jobs.CreateJob(ctx, &runpb.CreateJobRequest{Parent: parent, JobId: "w2", Job: jobOf(image, 0)})
	wantQuotaError(t, err, want)
	upd := jobOf(image, 0)
	upd.Name = j.Name
	_, err = c.jobs.UpdateJob(ctx, &runpb.UpdateJobRequest{Job: upd})
	wantQuotaError(t, err, want)
	clock.Advance(20 * time.Second) // one token
	if _, err := c.jobs.DeleteJob(ctx, &runpb.DeleteJobRequest{Name: j.Name}); err != nil {
		t.Errorf("DeleteJob after the refill: %v", err)
	}
}

func TestReadQuota(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	c := serve(t, cloudrun.Config{ReadsPerMinute: 4, Now: clock.Now}, nil)
	ctx := context.Background()
	j := createJob(t, c, "r1", jobOf(image, 0)) // a write; its operation is done, so waiting reads nothing
	if _, err := c.jobs.GetJob(ctx, &runpb.GetJobRequest{Name: j.Name}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.jobs.ListJobs(ctx, &runpb.ListJobsRequest{Parent: parent}).Next(); err != nil {
		t.Fatal(err)
	}
	_, err := c.execs.GetExecution(ctx, &runpb.GetExecutionRequest{Name: j.Name + "/executions/r1-aaaaa"})
	wantCode(t, err, codes.NotFound)
	_, err = c.tasks.ListTasks(ctx, &runpb.ListTasksRequest{Parent: j.Name + "/executions/r1-aaaaa"}).Next()
	wantCode(t, err, codes.NotFound)
	want := quotaError{
		msg:    rateMessage("Read requests", "Read requests per minute per region", "run.googleapis.com/read_regional", "ReadPerMinutePerProjectRegion"),
		reason: "RATE_LIMIT_EXCEEDED", metric: "run.googleapis.com/read_regional", limit: "ReadPerMinutePerProjectRegion", value: "4"}
	_, err = c.jobs.GetJob(ctx, &runpb.GetJobRequest{Name: j.Name})
	wantQuotaError(t, err, want)
	_, err = c.execs.ListExecutions(ctx, &runpb.ListExecutionsRequest{Parent: j.Name}).Next()
	wantQuotaError(t, err, want)
	_, err = c.tasks.GetTask(ctx, &runpb.GetTaskRequest{Name: j.Name + "/executions/r1-aaaaa/tasks/r1-aaaaa-task0"})
	wantQuotaError(t, err, want)
}

func TestJobsQuota(t *testing.T) {
	c := serve(t, cloudrun.Config{MaxJobs: 2}, nil)
	createJob(t, c, "a", jobOf(image, 0))
	createJob(t, c, "b", jobOf(image, 0))
	_, err := c.jobs.CreateJob(context.Background(), &runpb.CreateJobRequest{Parent: parent, JobId: "c", Job: jobOf(image, 0)})
	wantQuotaError(t, err, quotaError{
		msg: "Quota exceeded for quota metric 'Jobs' and limit 'Jobs per region' of service 'run.googleapis.com' for consumer " +
			"'project_number:123456'. To see usage, go to https://console.cloud.google.com/iam-admin/quotas?metric=run.googleapis.com/jobs" +
			"&limit=JobsPerProjectRegion&project=" + project + "&service=run.googleapis.com. To request a quota increase, see https://cloud.google.com/run/quotas.",
		reason: "RESOURCE_QUOTA_EXCEEDED", metric: "run.googleapis.com/jobs", limit: "JobsPerProjectRegion", value: "2"})
}

func TestRunningExecutionsQuota(t *testing.T) {
	c := serve(t, cloudrun.Config{MaxRunning: 2}, blockingRunner{})
	ctx := context.Background()
	j := createJob(t, c, "x", jobOf(image, 0))
	var execs []string
	for range 2 {
		op, err := c.jobs.RunJob(ctx, &runpb.RunJobRequest{Name: j.Name})
		if err != nil {
			t.Fatal(err)
		}
		e, _ := op.Metadata()
		execs = append(execs, e.GetName())
	}
	_, err := c.jobs.RunJob(ctx, &runpb.RunJobRequest{Name: j.Name})
	wantQuotaError(t, err, quotaError{
		msg: "Quota exceeded for quota metric 'Running job executions' and limit 'Running job executions per region' of service " +
			"'run.googleapis.com' for consumer 'project_number:123456'. To see usage, go to https://console.cloud.google.com/iam-admin/quotas?" +
			"metric=run.googleapis.com/running_job_executions&limit=RunningJobExecutionsPerProjectRegion&project=" + project +
			"&service=run.googleapis.com. To request a quota increase, see https://cloud.google.com/run/quotas.",
		reason: "RESOURCE_QUOTA_EXCEEDED", metric: "run.googleapis.com/running_job_executions",
		limit: "RunningJobExecutionsPerProjectRegion", value: "2"})
	// A finished execution frees its place.
	cop, err := c.execs.CancelExecution(ctx, &runpb.CancelExecutionRequest{Name: execs[0]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cop.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.jobs.RunJob(ctx, &runpb.RunJobRequest{Name: j.Name}); err != nil {
		t.Errorf("RunJob after a cancel: %v", err)
	}
}
