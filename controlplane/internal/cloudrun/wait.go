package cloudrun

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/iterator"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// Attempt messages Cloud Run puts in Task.last_attempt_result.status.message (and in the Completed condition).
const (
	msgOOM     = "The configured memory limit was reached."
	msgTimeout = "The configured timeout was reached."
)

// Docker's State.Error texts for endings that are not an ordinary exit.
const (
	ErrorTimeout = "task timed out: the configured task timeout was reached"
)

// Wait blocks until the execution is terminal and returns how it ended, polling it on the schedule of poll.go. A
// missing execution is an errdefs.ErrNotFound error.
func (d *Driver) Wait(ctx context.Context, execution string) (containers.Outcome, error) {
	return d.poll.wait(ctx, execution)
}

// Status is a snapshot of an execution, for reconciling state after a restart.
type Status struct {
	Running bool
	Outcome containers.Outcome // valid when !Running
}

// Inspect reads the execution once without waiting.
func (d *Driver) Inspect(ctx context.Context, execution string) (Status, error) {
	exec, err := d.getExecution(ctx, execution)
	if IsDeferred(err) {
		return Status{}, err
	}
	if err != nil {
		return Status{}, translate(err, "get execution "+path.Base(execution))
	}
	if !terminal(exec) {
		return Status{Running: true}, nil
	}
	task, err := d.firstTask(ctx, execution)
	if err != nil {
		return Status{}, err
	}
	return Status{Outcome: outcome(exec, task)}, nil
}

func (d *Driver) getExecution(ctx context.Context, execution string) (exec *runpb.Execution, err error) {
	err = d.q.do(ctx, classRead, func(ctx context.Context) error {
		exec, err = d.executions.GetExecution(ctx, &runpb.GetExecutionRequest{Name: execution})
		return err
	})
	return exec, err
}

// firstTask reads the execution's task. It is not a background read even for a background Inspect: the execution
// has ended, and its outcome is worth the token.
func (d *Driver) firstTask(ctx context.Context, execution string) (task *runpb.Task, err error) {
	err = d.q.list(foreground(ctx), func(_ context.Context, page func(pager) error) error {
		it := d.tasks.ListTasks(ctx, &runpb.ListTasksRequest{Parent: execution, PageSize: 1})
		if err := page(it); err != nil {
			return err
		}
		task, err = it.Next()
		if errors.Is(err, iterator.Done) {
			task, err = nil, nil // the execution ended before a task was created (e.g. cancelled at once)
		}
		return err
	})
	if err != nil {
		return nil, translate(err, "list tasks of "+path.Base(execution))
	}
	return task, nil
}

// completed returns the execution's Completed condition, or nil.
func completed(exec *runpb.Execution) *runpb.Condition {
	for _, c := range exec.GetConditions() {
		if c.GetType() == "Completed" {
			return c
		}
	}
	return nil
}

// terminal reports whether the execution has finished.
func terminal(exec *runpb.Execution) bool {
	if exec.GetCompletionTime() != nil {
		return true
	}
	c := completed(exec)
	if c == nil || c.GetExecutionReason() == runpb.Condition_CANCELLING {
		return false
	}
	return c.GetState() == runpb.Condition_CONDITION_SUCCEEDED || c.GetState() == runpb.Condition_CONDITION_FAILED
}

// outcome maps a terminal execution and its (single) task onto Docker's view of how the container ended.
// task may be nil when no task ever ran.
func outcome(exec *runpb.Execution, task *runpb.Task) containers.Outcome {
	o := containers.Outcome{FinishedAt: finishedAt(exec, task)}
	cond := completed(exec)
	res := task.GetLastAttemptResult()
	msg := res.GetStatus().GetMessage() + " " + cond.GetMessage()
	failed := cond.GetState() == runpb.Condition_CONDITION_FAILED || exec.GetFailedCount() > 0
	cancelled := exec.GetCancelledCount() > 0 || cond.GetExecutionReason() == runpb.Condition_CANCELLED
	switch {
	case strings.Contains(msg, msgOOM):
		o.OOMKilled, o.ExitCode, o.Signal = true, 137, 9
	case strings.Contains(msg, msgTimeout):
		o.Error, o.ExitCode, o.Signal = ErrorTimeout, 137, 9
		if s := res.GetTermSignal(); s > 0 {
			o.ExitCode, o.Signal = 128+int(s), int(s)
		}
	case res.GetTermSignal() > 0:
		o.ExitCode, o.Signal = 128+int(res.GetTermSignal()), int(res.GetTermSignal())
	case res.GetExitCode() != 0:
		o.ExitCode = int(res.GetExitCode())
	case cancelled:
		// Cancel is docker kill/stop's SIGKILL: Docker reports 137 with no error.
		o.ExitCode, o.Signal = 137, 9
	case failed:
		// Failed without an exit code: the task never ran its process (image or platform problem).
		o.ExitCode = 128
		o.Error = strings.TrimSpace(cond.GetMessage())
		if o.Error == "" {
			o.Error = fmt.Sprintf("Cloud Run execution %s failed", path.Base(exec.GetName()))
		}
	}
	return o
}

func finishedAt(exec *runpb.Execution, task *runpb.Task) time.Time {
	switch {
	case exec.GetCompletionTime() != nil:
		return exec.GetCompletionTime().AsTime()
	case task.GetCompletionTime() != nil:
		return task.GetCompletionTime().AsTime()
	case completed(exec).GetLastTransitionTime() != nil:
		return completed(exec).GetLastTransitionTime().AsTime()
	}
	return time.Now().UTC()
}
