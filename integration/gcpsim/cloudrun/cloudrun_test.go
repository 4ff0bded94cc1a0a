package cloudrun_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/runsock/runsock/integration/gcpsim/cloudrun"
	"github.com/runsock/runsock/integration/gcpsim/tasks"
	"github.com/runsock/runsock/integration/gcpsim/tasks/taskstest"
)

const (
	project = "runsock-test"
	parent  = "projects/" + project + "/locations/us-central1"
)

type clients struct {
	jobs  *run.JobsClient
	execs *run.ExecutionsClient
	tasks *run.TasksClient
}

// serve starts a Service on 127.0.0.1:0 and returns the official clients.
func serve(t *testing.T, cfg cloudrun.Config, runner cloudrun.TaskRunner) clients {
	t.Helper()
	c, _ := serveStoppable(t, cfg, runner)
	return c
}

// serveStoppable is serve, with a stop that ends the gRPC server and the Service as gcpsim's shutdown does.
func serveStoppable(t *testing.T, cfg cloudrun.Config, runner cloudrun.TaskRunner) (clients, func()) {
	t.Helper()
	cfg.Project, cfg.ProjectNumber = project, "123456"
	// The rate quotas have their own tests (quota_test.go); elsewhere they would only slow the tests down.
	for _, r := range []*int{&cfg.RunJobsPerMinute, &cfg.WritesPerMinute, &cfg.ReadsPerMinute} {
		if *r == 0 {
			*r = -1
		}
	}
	svc, err := cloudrun.New(cfg, runner)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	svc.Register(g)
	go g.Serve(l)
	stop := func() { g.Stop(); svc.Close() }
	t.Cleanup(stop)
	opts := []option.ClientOption{
		option.WithEndpoint(l.Addr().String()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
	ctx := context.Background()
	var c clients
	if c.jobs, err = run.NewJobsClient(ctx, opts...); err != nil {
		t.Fatal(err)
	}
	if c.execs, err = run.NewExecutionsClient(ctx, opts...); err != nil {
		t.Fatal(err)
	}
	if c.tasks, err = run.NewTasksClient(ctx, opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.jobs.Close(); c.execs.Close(); c.tasks.Close() })
	return c, stop
}

func uniqueID(prefix string) string { return fmt.Sprintf("%s-%d", prefix, rand.IntN(1_000_000)) }

func jobOf(image string, retries int32, args ...string) *runpb.Job {
	return &runpb.Job{Template: &runpb.ExecutionTemplate{Template: &runpb.TaskTemplate{
		Retries:    &runpb.TaskTemplate_MaxRetries{MaxRetries: retries},
		Containers: []*runpb.Container{{Image: image, Args: args, Env: []*runpb.EnvVar{{Name: "A", Values: &runpb.EnvVar_Value{Value: "from-job"}}}}},
	}}}
}

func createJob(t *testing.T, c clients, id string, j *runpb.Job) *runpb.Job {
	t.Helper()
	ctx := context.Background()
	op, err := c.jobs.CreateJob(ctx, &runpb.CreateJobRequest{Parent: parent, JobId: id, Job: j})
	if err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	got, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("CreateJob wait: %v", err)
	}
	return got
}

func TestExecutions(t *testing.T) {
	image := taskstest.BusyboxImage(t)
	rec := &taskstest.Recorder{}
	runner := taskstest.NewRunner(t, tasks.Config{Logs: rec, StopGrace: 2 * time.Second})
	c := serve(t, cloudrun.Config{}, runner)
	ctx := context.Background()

	t.Run("overrides run to success", func(t *testing.T) {
		id := uniqueID("ok")
		j := createJob(t, c, id, jobOf(image, 0, "sh", "-c", "exit 9"))
		if j.Generation != 1 || j.Uid == "" || j.Etag == "" || j.GetTerminalCondition().GetState() != runpb.Condition_CONDITION_SUCCEEDED {
			t.Errorf("created job = %v", j)
		}
		op, err := c.jobs.RunJob(ctx, &runpb.RunJobRequest{Name: j.Name, Overrides: &runpb.RunJobRequest_Overrides{
			TaskCount: 2,
			ContainerOverrides: []*runpb.RunJobRequest_Overrides_ContainerOverride{{
				Args: []string{"sh", "-c", `echo "$A $B $CLOUD_RUN_TASK_INDEX/$CLOUD_RUN_TASK_COUNT"; sleep 1`},
				Env:  []*runpb.EnvVar{{Name: "A", Values: &runpb.EnvVar_Value{Value: "over"}}, {Name: "B", Values: &runpb.EnvVar_Value{Value: "new"}}},
			}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		meta, err := op.Metadata()
		if err != nil || !strings.HasPrefix(meta.GetName(), j.Name+"/executions/"+id+"-") || len(meta.GetName()) != len(j.Name+"/executions/"+id+"-")+5 {
			t.Fatalf("RunJob metadata = %v, %v", meta, err)
		}
		waitFor(t, func() bool {
			e, err := c.execs.GetExecution(ctx, &runpb.GetExecutionRequest{Name: meta.Name})
			return err == nil && e.RunningCount > 0 && e.StartTime != nil
		}, "execution running")
		e, err := op.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e.SucceededCount != 2 || e.FailedCount != 0 || e.TaskCount != 2 || e.Reconciling || e.CompletionTime == nil {
			t.Errorf("final execution = %v", e)
		}
		if c := completed(e.Conditions); c.State != runpb.Condition_CONDITION_SUCCEEDED {
			t.Errorf("Completed = %v", c)
		}
		var out []string
		for _, en := range rec.Entries(id + e.Name[strings.LastIndex(e.Name, "-"):]) {
			if strings.HasSuffix(en.LogName, "stdout") {
				out = append(out, en.GetTextPayload())
			}
		}
		if len(out) != 2 || !strings.HasPrefix(out[0], "over new ") {
			t.Errorf("stdout = %q", out)
		}
		ts := listTasks(t, c, e.Name)
		if len(ts) != 2 || ts[0].Name != e.Name+"/tasks/"+e.Name[strings.LastIndex(e.Name, "/")+1:]+"-task0" || ts[1].Index != 1 {
			t.Errorf("tasks = %v", ts)
		}
		job, _ := c.jobs.GetJob(ctx, &runpb.GetJobRequest{Name: j.Name})
		if job.ExecutionCount != 1 || job.LatestCreatedExecution.GetCompletionStatus() != runpb.ExecutionReference_EXECUTION_SUCCEEDED {
			t.Errorf("job after run = %v", job)
		}
	})

	failures := []struct {
		name     string
		args     []string
		memory   string
		timeout  time.Duration
		retries  int32
		cancel   bool
		reason   runpb.Condition_ExecutionReason
		exitCode int32
		signal   int32
		message  string // Completed condition message suffix
	}{
		{name: "exit 3 retried", args: []string{"sh", "-c", "exit 3"}, retries: 1, reason: runpb.Condition_NON_ZERO_EXIT_CODE, exitCode: 3,
			message: "-task0 failed with exit code: 3 and message: The container exited with an error."},
		{name: "timeout", args: []string{"sleep", "60"}, timeout: time.Second, reason: runpb.Condition_NON_ZERO_EXIT_CODE, signal: 9,
			message: "-task0 failed with message: The configured timeout was reached."},
		{name: "out of memory", args: []string{"tail", "/dev/zero"}, memory: "512Mi", reason: runpb.Condition_NON_ZERO_EXIT_CODE, signal: 9,
			message: "-task0 failed with exit code: 0 and message: The configured memory limit was reached."},
		{name: "cancel", args: []string{"sleep", "60"}, cancel: true, reason: runpb.Condition_CANCELLED, signal: 9, message: " was cancelled."},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			id := uniqueID("f")
			j := jobOf(image, tc.retries, tc.args...)
			if tc.memory != "" {
				j.Template.Template.Containers[0].Resources = &runpb.ResourceRequirements{Limits: map[string]string{"cpu": "1", "memory": tc.memory}}
			}
			if tc.timeout != 0 {
				j.Template.Template.Timeout = durationpb.New(tc.timeout)
			}
			job := createJob(t, c, id, j)
			op, err := c.jobs.RunJob(ctx, &runpb.RunJobRequest{Name: job.Name})
			if err != nil {
				t.Fatal(err)
			}
			meta, _ := op.Metadata()
			if tc.cancel {
				waitFor(t, func() bool {
					e, err := c.execs.GetExecution(ctx, &runpb.GetExecutionRequest{Name: meta.Name})
					return err == nil && e.RunningCount == 1
				}, "running")
				cop, err := c.execs.CancelExecution(ctx, &runpb.CancelExecutionRequest{Name: meta.Name})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := cop.Wait(ctx); err != nil {
					t.Fatal(err)
				}
			}
			e, err := op.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cc := completed(e.Conditions)
			if cc.State != runpb.Condition_CONDITION_FAILED || cc.GetExecutionReason() != tc.reason || !strings.HasSuffix(cc.Message, tc.message) {
				t.Errorf("Completed = %v, want reason %v and message …%q", cc, tc.reason, tc.message)
			}
			task := listTasks(t, c, e.Name)[0]
			r := task.GetLastAttemptResult()
			if r.GetExitCode() != tc.exitCode || r.GetTermSignal() != tc.signal || r.GetStatus().GetCode() == 0 {
				t.Errorf("last_attempt_result = %v, want exit %d signal %d", r, tc.exitCode, tc.signal)
			}
			if task.Retried != tc.retries {
				t.Errorf("retried = %d, want %d", task.Retried, tc.retries)
			}
			if tc.cancel {
				if e.CancelledCount != 1 {
					t.Errorf("cancelled_count = %d", e.CancelledCount)
				}
				_, err := c.execs.CancelExecution(ctx, &runpb.CancelExecutionRequest{Name: e.Name})
				wantCode(t, err, codes.FailedPrecondition)
			} else if e.FailedCount != 1 {
				t.Errorf("failed_count = %d", e.FailedCount)
			}
		})
	}
}

func completed(cs []*runpb.Condition) *runpb.Condition {
	for _, c := range cs {
		if c.Type == "Completed" {
			return c
		}
	}
	return &runpb.Condition{}
}

func listTasks(t *testing.T, c clients, exec string) []*runpb.Task {
	t.Helper()
	it := c.tasks.ListTasks(context.Background(), &runpb.ListTasksRequest{Parent: exec})
	var out []*runpb.Task
	for {
		task, err := it.Next()
		if err != nil {
			break
		}
		out = append(out, task)
	}
	return out
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("error = %v, want code %v", err, want)
	}
}
