package cloudrun

import (
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

var finished = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func execWith(state runpb.Condition_State, reason runpb.Condition_ExecutionReason, msg string, cancelled int32) *runpb.Execution {
	c := &runpb.Condition{Type: "Completed", State: state, Message: msg}
	if reason != 0 {
		c.Reasons = &runpb.Condition_ExecutionReason_{ExecutionReason: reason}
	}
	return &runpb.Execution{
		Name: "projects/p/locations/r/jobs/j/executions/j-abcde", CompletionTime: timestamppb.New(finished),
		Conditions: []*runpb.Condition{c}, CancelledCount: cancelled,
	}
}

func taskWith(exit, signal int32, msg string) *runpb.Task {
	return &runpb.Task{LastAttemptResult: &runpb.TaskAttemptResult{ExitCode: exit, TermSignal: signal, Status: &status.Status{Message: msg}}}
}

func TestOutcome(t *testing.T) {
	const failed, ok = runpb.Condition_CONDITION_FAILED, runpb.Condition_CONDITION_SUCCEEDED
	tests := []struct {
		name string
		exec *runpb.Execution
		task *runpb.Task
		want containers.Outcome
	}{
		{"success", execWith(ok, 0, "", 0), taskWith(0, 0, ""), containers.Outcome{}},
		{"exit 3", execWith(failed, runpb.Condition_NON_ZERO_EXIT_CODE,
			"Task j-abcde-task0 failed with exit code: 3 and message: The container exited with an error.", 0),
			taskWith(3, 0, "The container exited with an error."), containers.Outcome{ExitCode: 3}},
		{"oom", execWith(failed, runpb.Condition_NON_ZERO_EXIT_CODE,
			"Task j-abcde-task0 failed with exit code: 0 and message: The configured memory limit was reached.", 0),
			taskWith(0, 9, "The configured memory limit was reached."), containers.Outcome{ExitCode: 137, OOMKilled: true, Signal: 9}},
		{"timeout", execWith(failed, 0, "Task j-abcde-task0 failed with message: The configured timeout was reached.", 0),
			taskWith(0, 0, "The configured timeout was reached."), containers.Outcome{ExitCode: 137, Signal: 9, Error: ErrorTimeout}},
		{"killed by signal 15", execWith(failed, 0, "", 0), taskWith(0, 15, ""), containers.Outcome{ExitCode: 143, Signal: 15}},
		{"cancelled", execWith(failed, runpb.Condition_CANCELLED, "", 1), taskWith(0, 0, ""), containers.Outcome{ExitCode: 137, Signal: 9}},
		{"cancelled before a task ran", execWith(failed, runpb.Condition_CANCELLED, "", 1), nil, containers.Outcome{ExitCode: 137, Signal: 9}},
		{"cancelled after the process exited 2", execWith(failed, runpb.Condition_CANCELLED, "", 1), taskWith(2, 0, ""), containers.Outcome{ExitCode: 2}},
		{"failed without running", execWith(failed, 0, "Image not found", 0), nil, containers.Outcome{ExitCode: 128, Error: "Image not found"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.FinishedAt = finished
			if got := outcome(tc.exec, tc.task); got != tc.want {
				t.Errorf("outcome = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTerminal(t *testing.T) {
	running := &runpb.Execution{Conditions: []*runpb.Condition{{Type: "Completed", State: runpb.Condition_CONDITION_RECONCILING}}}
	cancelling := &runpb.Execution{Conditions: []*runpb.Condition{{Type: "Completed", State: runpb.Condition_CONDITION_FAILED,
		Reasons: &runpb.Condition_ExecutionReason_{ExecutionReason: runpb.Condition_CANCELLING}}}}
	done := execWith(runpb.Condition_CONDITION_SUCCEEDED, 0, "", 0)
	for name, tc := range map[string]struct {
		e    *runpb.Execution
		want bool
	}{"running": {running, false}, "cancelling": {cancelling, false}, "done": {done, true}, "empty": {&runpb.Execution{}, false}} {
		if got := terminal(tc.e); got != tc.want {
			t.Errorf("%s: terminal = %v, want %v", name, got, tc.want)
		}
	}
}
