package cloudrun_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/runsock/runsock/integration/gcpsim/cloudrun"
	"github.com/runsock/runsock/integration/gcpsim/tasks"
	"github.com/runsock/runsock/integration/gcpsim/tasks/taskstest"
)

// A gcpsim restart is an outage of the API: the task keeps running while it is down, the next gcpsim adopts it, and
// the execution ends with the task's real exit code.
func TestRestartAdoptsRunningTasks(t *testing.T) {
	image := taskstest.BusyboxImage(t)
	state := filepath.Join(t.TempDir(), "state.json")
	first := &taskstest.Recorder{}
	r1 := taskstest.NewRunner(t, tasks.Config{Logs: first, StopGrace: 2 * time.Second})
	c1, stop1 := serveStoppable(t, cloudrun.Config{StatePath: state}, r1)
	ctx := context.Background()

	id := uniqueID("adopt")
	j := createJob(t, c1, id, jobOf(image, 0, "sh", "-c", "echo before; sleep 4; echo after; exit 7"))
	meta := runJob(t, c1, j)
	short := meta.Name[len(j.Name+"/executions/"):]
	waitFor(t, func() bool { return hasLine(first.Entries(short), "before") }, "the first line")

	stop1() // gcpsim stops: the task's container must not
	r1.Close()
	time.Sleep(time.Second)

	second := &taskstest.Recorder{}
	cfg := r1.Config()
	cfg.Logs = second
	r2, err := tasks.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	c2 := serve(t, cloudrun.Config{StatePath: state}, r2)
	var e *runpb.Execution
	waitFor(t, func() bool {
		e, err = c2.execs.GetExecution(ctx, &runpb.GetExecutionRequest{Name: meta.Name})
		return err == nil && e.CompletionTime != nil
	}, "the execution to end after the restart")
	if e.FailedCount != 1 || e.SucceededCount != 0 || e.CancelledCount != 0 {
		t.Errorf("execution counts: failed %d succeeded %d cancelled %d", e.FailedCount, e.SucceededCount, e.CancelledCount)
	}
	task, err := c2.tasks.GetTask(ctx, &runpb.GetTaskRequest{Name: meta.Name + "/tasks/" + short + "-task0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := task.GetLastAttemptResult().GetExitCode(); got != 7 {
		t.Errorf("exit code after adoption = %d (%v), want 7", got, task.GetLastAttemptResult())
	}
	entries := second.Entries(short)
	if !hasLine(entries, "after") || hasLine(entries, "before") || !hasLine(entries, "Container called exit(7).") {
		var lines []string
		for _, e := range entries {
			lines = append(lines, e.GetTextPayload())
		}
		t.Errorf("output read by the second gcpsim = %q, want what came after the restart and the exit", lines)
	}
}

// runJob runs j and returns the new execution as RunJob's metadata names it.
func runJob(t *testing.T, c clients, j *runpb.Job) *runpb.Execution {
	t.Helper()
	op, err := c.jobs.RunJob(context.Background(), &runpb.RunJobRequest{Name: j.Name})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := op.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	return meta
}

func hasLine(entries []*loggingpb.LogEntry, want string) bool {
	return slices.ContainsFunc(entries, func(e *loggingpb.LogEntry) bool { return e.GetTextPayload() == want })
}

// fakeAdopter runs every attempt until its context ends; after a restart it adopts (or not) what the first left.
type fakeAdopter struct {
	keep  bool         // Claim's answer
	adopt tasks.Result // Adopt's result
	since chan time.Time
}

func (f *fakeAdopter) Run(ctx context.Context, _ tasks.Spec, started func(time.Time)) tasks.Result {
	started(time.Now())
	<-ctx.Done()
	if errors.Is(context.Cause(ctx), tasks.ErrShutdown) {
		return tasks.Result{Outcome: tasks.Detached}
	}
	return tasks.Result{Outcome: tasks.Cancelled, Signal: 15, Message: tasks.MsgCancelled, Ended: time.Now()}
}

func (f *fakeAdopter) Claim(string, int, int, string) bool { return f.keep }
func (f *fakeAdopter) RemoveUnclaimed(context.Context)     {}
func (f *fakeAdopter) Adopt(_ context.Context, _ tasks.Spec, since time.Time) tasks.Result {
	f.since <- since
	return f.adopt
}

func TestRestartWithoutDocker(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		keep     bool
		exitCode int32
		message  string
	}{
		{"container still there: adopted with its exit code", true, 7, "exit code: 7"},
		{"container gone: the task is lost", false, 0, "The task was lost because gcpsim restarted."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			state := filepath.Join(t.TempDir(), "state.json")
			c1, stop1 := serveStoppable(t, cloudrun.Config{StatePath: state}, &fakeAdopter{})
			j := createJob(t, c1, uniqueID("fake"), jobOf(image, 0))
			meta := runJob(t, c1, j)
			waitFor(t, func() bool {
				e, err := c1.execs.GetExecution(ctx, &runpb.GetExecutionRequest{Name: meta.Name})
				return err == nil && e.RunningCount == 1
			}, "the task to run")
			stop1()

			f := &fakeAdopter{keep: tt.keep, since: make(chan time.Time, 1),
				adopt: tasks.Result{Outcome: tasks.Exited, ExitCode: 7, Message: tasks.MsgExitError, Started: now, Ended: time.Now()}}
			c2 := serve(t, cloudrun.Config{StatePath: state}, f)
			var e *runpb.Execution
			var err error
			waitFor(t, func() bool {
				e, err = c2.execs.GetExecution(ctx, &runpb.GetExecutionRequest{Name: meta.Name})
				return err == nil && e.CompletionTime != nil
			}, "the execution to end")
			if e.FailedCount != 1 || e.RunningCount != 0 {
				t.Errorf("execution: failed %d running %d", e.FailedCount, e.RunningCount)
			}
			i := slices.IndexFunc(e.GetConditions(), func(c *runpb.Condition) bool { return c.GetType() == "Completed" })
			if msg := e.GetConditions()[max(i, 0)].GetMessage(); i < 0 || !strings.Contains(msg, tt.message) {
				t.Errorf("Completed condition %q, want %q in it", msg, tt.message)
			}
			if tt.keep {
				if since := <-f.since; since.Before(now) || since.After(time.Now()) {
					t.Errorf("Adopt since %v: want when the first gcpsim saved its state", since)
				}
			}
		})
	}
}
