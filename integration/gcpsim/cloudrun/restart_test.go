package cloudrun_test

import (
	"context"
	"path/filepath"
	"slices"
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
	op, err := c1.jobs.RunJob(ctx, &runpb.RunJobRequest{Name: j.Name})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := op.Metadata()
	if err != nil {
		t.Fatal(err)
	}
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

func hasLine(entries []*loggingpb.LogEntry, want string) bool {
	return slices.ContainsFunc(entries, func(e *loggingpb.LogEntry) bool { return e.GetTextPayload() == want })
}
