package cloudrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"sync"
	"time"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/googleapis/gax-go/v2"
	"golang.org/x/sync/singleflight"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/googleconn"
	"github.com/runsock/runsock/controlplane/internal/googlequota"
)

// DefaultTaskTimeout is the task timeout when Config.TaskTimeout is zero.
const DefaultTaskTimeout = 24 * time.Hour

// Config configures a Driver.
type Config struct {
	// Project and Region select where jobs live. Required.
	Project, Region string
	// Endpoint overrides the Admin API endpoint (host:port), e.g. gcpsim's "127.0.0.1:18090". "" = Google.
	Endpoint string
	// Insecure dials Endpoint without TLS and without credentials (gcpsim).
	Insecure bool
	// TaskTimeout is each task's timeout. Zero = DefaultTaskTimeout.
	TaskTimeout time.Duration
	// ServiceAccount is the identity tasks run as ("" = the project's default compute service account).
	ServiceAccount string
	// VolumesBucket is the Cloud Storage bucket volumes are prefixes of ("" = a launch with a volume fails).
	VolumesBucket string
	// ClientOptions are extra options for the Google clients (credentials, user agent).
	ClientOptions []option.ClientOption
	// Quotas are the Admin API rate quotas to stay within (zero: the defaults).
	Quotas Quotas
	// PollFastFor is how long Wait polls quickly after it starts or a cancel (0 = 5 s); PollSlowMax caps its slow
	// interval after that (0 = 30 s). See poll.go.
	PollFastFor, PollSlowMax time.Duration
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
}

// jobsAPI is the subset of *run.JobsClient the driver calls.
type jobsAPI interface {
	CreateJob(ctx context.Context, req *runpb.CreateJobRequest, opts ...gax.CallOption) (*run.CreateJobOperation, error)
	GetJob(ctx context.Context, req *runpb.GetJobRequest, opts ...gax.CallOption) (*runpb.Job, error)
	ListJobs(ctx context.Context, req *runpb.ListJobsRequest, opts ...gax.CallOption) *run.JobIterator
	DeleteJob(ctx context.Context, req *runpb.DeleteJobRequest, opts ...gax.CallOption) (*run.DeleteJobOperation, error)
	RunJob(ctx context.Context, req *runpb.RunJobRequest, opts ...gax.CallOption) (*run.RunJobOperation, error)
	Close() error
}

// executionsAPI is the subset of *run.ExecutionsClient the driver calls.
type executionsAPI interface {
	GetExecution(ctx context.Context, req *runpb.GetExecutionRequest, opts ...gax.CallOption) (*runpb.Execution, error)
	ListExecutions(ctx context.Context, req *runpb.ListExecutionsRequest, opts ...gax.CallOption) *run.ExecutionIterator
	CancelExecution(ctx context.Context, req *runpb.CancelExecutionRequest, opts ...gax.CallOption) (*run.CancelExecutionOperation, error)
	DeleteExecution(ctx context.Context, req *runpb.DeleteExecutionRequest, opts ...gax.CallOption) (*run.DeleteExecutionOperation, error)
	Close() error
}

// tasksAPI is the subset of *run.TasksClient the driver calls.
type tasksAPI interface {
	ListTasks(ctx context.Context, req *runpb.ListTasksRequest, opts ...gax.CallOption) *run.TaskIterator
	Close() error
}

// Driver runs containers as Cloud Run Job executions. It is safe for concurrent use.
type Driver struct {
	jobs       jobsAPI
	executions executionsAPI
	tasks      tasksAPI
	parent     string
	timeout    time.Duration
	sa         string
	bucket     string
	log        *slog.Logger
	q          *limiter
	poll       *poller

	// created remembers jobs known to exist, saving a round trip per launch. It is a cache only: a job deleted
	// behind our back is re-created when RunJob reports NOT_FOUND.
	created  sync.Map           // job ID → struct{}
	creating singleflight.Group // job ID → the creation in flight
}

var _ containers.Launcher = (*Driver)(nil)

// New dials the Admin API and returns a Driver. Close releases its connections.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	if cfg.Project == "" || cfg.Region == "" {
		return nil, errors.New("cloudrun: project and region are required")
	}
	opts := clientOptions(cfg)
	jobs, err := run.NewJobsClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cloudrun: jobs client: %w", err)
	}
	execs, err := run.NewExecutionsClient(ctx, opts...)
	if err != nil {
		jobs.Close()
		return nil, fmt.Errorf("cloudrun: executions client: %w", err)
	}
	tasks, err := run.NewTasksClient(ctx, opts...)
	if err != nil {
		jobs.Close()
		execs.Close()
		return nil, fmt.Errorf("cloudrun: tasks client: %w", err)
	}
	return newDriver(cfg, jobs, execs, tasks), nil
}

func newDriver(cfg Config, jobs jobsAPI, execs executionsAPI, tasks tasksAPI) *Driver {
	timeout := cfg.TaskTimeout
	if timeout <= 0 {
		timeout = DefaultTaskTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Driver{
		jobs: jobs, executions: execs, tasks: tasks,
		parent:  fmt.Sprintf("projects/%s/locations/%s", cfg.Project, cfg.Region),
		timeout: timeout, sa: cfg.ServiceAccount, bucket: cfg.VolumesBucket, log: log, q: newLimiter(cfg.Quotas),
	}
	d.poll = newPoller(d.Inspect, cfg.PollFastFor, cfg.PollSlowMax)
	return d
}

func clientOptions(cfg Config) []option.ClientOption {
	// After an outage of the Admin API the first call made once it answers again goes through (googleconn): a
	// container's exit, its auto-removal and the next start must not fail for as long as the reconnect backoff lasts.
	opts := googleconn.ClientOptions()
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint))
	}
	if cfg.Insecure {
		opts = append(opts,
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	return append(opts, cfg.ClientOptions...)
}

// Close closes the clients.
func (d *Driver) Close() error {
	return errors.Join(d.jobs.Close(), d.executions.Close(), d.tasks.Close())
}

// Launch starts one execution for spec on its template's job (created on first use) and returns the execution's
// full name as soon as Cloud Run has accepted it.
func (d *Driver) Launch(ctx context.Context, spec containers.LaunchSpec) (string, error) {
	if spec.Image == "" {
		return "", withKind(errInvalid, "launch: image is required")
	}
	t := TemplateFor(spec, d.sa, d.timeout)
	for _, v := range t.Volumes {
		if !v.Memory {
			if d.bucket == "" {
				return "", withKind(errNotImplemented, "launch: volumes are not configured (no volumes bucket)")
			}
			t.Bucket = d.bucket
		}
	}
	jobName := d.parent + "/jobs/" + t.JobID()
	if _, ok := d.created.Load(t.JobID()); !ok {
		if err := d.ensureJob(ctx, t); err != nil {
			return "", err
		}
	}
	exec, err := d.runJob(ctx, jobName, spec)
	if isNotFound(err) { // the job was garbage-collected since we cached it
		d.created.Delete(t.JobID())
		if err := d.ensureJob(ctx, t); err != nil {
			return "", err
		}
		exec, err = d.runJob(ctx, jobName, spec)
	}
	return exec, err
}

func (d *Driver) runJob(ctx context.Context, jobName string, spec containers.LaunchSpec) (string, error) {
	var op *run.RunJobOperation
	err := d.q.do(ctx, classRun, func(ctx context.Context) (err error) {
		op, err = d.jobs.RunJob(ctx, &runpb.RunJobRequest{Name: jobName, Overrides: overrides(spec, d.timeout)})
		return err
	})
	if err != nil {
		if isCode(err, codes.ResourceExhausted) {
			return "", quotaError(err, "run job "+path.Base(jobName), executionQuotaAdvice)
		}
		return "", translate(err, "run job "+path.Base(jobName))
	}
	exec, err := op.Metadata()
	if err != nil || exec.GetName() == "" {
		return "", fmt.Errorf("run job %s: operation %s carries no execution: %v", path.Base(jobName), op.Name(), err)
	}
	d.log.DebugContext(ctx, "execution started", "execution", exec.GetName(), "container", spec.ContainerID)
	return exec.GetName(), nil
}

// ensureJob creates t's job unless it exists. Concurrent launches of one template share one creation (a burst of
// `docker run` would otherwise spend the write quota on CreateJob calls bound to fail with ALREADY_EXISTS); other
// control planes may still race, and ALREADY_EXISTS counts as success. The creation outlives a caller that gives up.
func (d *Driver) ensureJob(ctx context.Context, t Template) error {
	_, err, _ := d.creating.Do(t.JobID(), func() (any, error) { return nil, d.createJob(context.WithoutCancel(ctx), t) })
	return err
}

func (d *Driver) createJob(ctx context.Context, t Template) error {
	id := t.JobID()
	if !validJobID(id) {
		return fmt.Errorf("cloudrun: derived job ID %q is invalid", id)
	}
	var op *run.CreateJobOperation
	err := d.q.do(ctx, classWrite, func(ctx context.Context) (err error) {
		op, err = d.jobs.CreateJob(ctx, &runpb.CreateJobRequest{Parent: d.parent, JobId: id, Job: t.job()})
		return err
	})
	switch {
	case isCode(err, codes.AlreadyExists):
	case isCode(err, codes.ResourceExhausted):
		return quotaError(err, "create job "+id, jobQuotaAdvice)
	case err != nil:
		return translate(err, "create job "+id)
	default:
		if err := d.awaitCreate(ctx, op); err != nil && !isCode(err, codes.AlreadyExists) {
			return translate(err, "create job "+id)
		}
		d.log.InfoContext(ctx, "job created", "job", id, "image", t.Image)
	}
	d.created.Store(id, struct{}{})
	return nil
}

// createPoll is how often a job creation still in progress is polled (Cloud Run creates jobs in seconds).
const createPoll = time.Second

// awaitCreate polls the creation's operation until it is done, each poll under the read quota.
func (d *Driver) awaitCreate(ctx context.Context, op *run.CreateJobOperation) error {
	for !op.Done() {
		if err := googlequota.Sleep(ctx, createPoll); err != nil {
			return err
		}
		if err := d.q.do(ctx, classRead, func(ctx context.Context) error { _, err := op.Poll(ctx); return err }); err != nil {
			return err
		}
	}
	return nil
}

// Cancel cancels a running execution and makes its waits poll quickly again, so stop/kill return promptly.
// Cancelling a finished or missing execution is not an error.
func (d *Driver) Cancel(ctx context.Context, execution string) error {
	err := d.q.do(ctx, classWrite, func(ctx context.Context) error {
		_, err := d.executions.CancelExecution(ctx, &runpb.CancelExecutionRequest{Name: execution})
		return err
	})
	d.poll.poke(execution)
	if err == nil || isCode(err, codes.FailedPrecondition) || isCode(err, codes.NotFound) {
		return nil
	}
	return translate(err, "cancel execution "+path.Base(execution))
}

// DeleteExecution deletes the execution (cancelling it if it still runs). A missing execution is not an error.
func (d *Driver) DeleteExecution(ctx context.Context, execution string) error {
	err := d.deleteExecution(ctx, execution)
	if err == nil || isCode(err, codes.NotFound) {
		return nil
	}
	if isCode(err, codes.FailedPrecondition) { // some backends refuse to delete a running execution
		if cerr := d.Cancel(ctx, execution); cerr != nil {
			return cerr
		}
		if _, werr := d.Wait(ctx, execution); werr != nil {
			return werr
		}
		err = d.deleteExecution(ctx, execution)
		if err == nil || isCode(err, codes.NotFound) {
			return nil
		}
	}
	return translate(err, "delete execution "+path.Base(execution))
}

func (d *Driver) deleteExecution(ctx context.Context, execution string) error {
	return d.q.do(ctx, classWrite, func(ctx context.Context) error {
		_, err := d.executions.DeleteExecution(ctx, &runpb.DeleteExecutionRequest{Name: execution})
		return err
	})
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, errNotFound) }
