package tasks_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"

	"github.com/runsock/runsock/integration/gcpsim/tasks"
	"github.com/runsock/runsock/integration/gcpsim/tasks/taskstest"
)

func TestRun(t *testing.T) {
	image := taskstest.BusyboxImage(t)
	rec := &taskstest.Recorder{}
	r := taskstest.NewRunner(t, tasks.Config{Logs: rec, DefaultServiceAccount: "123-compute@developer.gserviceaccount.com"})

	tests := []struct {
		name    string
		args    []string
		memory  int64
		timeout time.Duration
		cancel  time.Duration
		want    tasks.Result
		stdout  []string
		stderr  []string
		system  []string // in order; the last is the end marker
	}{
		{
			name:   "exit 0 with env and output",
			args:   []string{"sh", "-c", `echo "out $CLOUD_RUN_JOB $CLOUD_RUN_TASK_INDEX/$CLOUD_RUN_TASK_COUNT a$CLOUD_RUN_TASK_ATTEMPT"; echo err1 >&2; echo two; printf partial`},
			want:   tasks.Result{Outcome: tasks.Exited},
			stdout: []string{"out job1 2/3 a1", "two", "partial"},
			stderr: []string{"err1"},
			system: []string{"Starting task", "Container called exit(0)."},
		},
		{
			name:   "exit 3",
			args:   []string{"sh", "-c", "echo bye; exit 3"},
			want:   tasks.Result{Outcome: tasks.Exited, ExitCode: 3, Message: tasks.MsgExitError},
			stdout: []string{"bye"},
			system: []string{"Starting task", "Container called exit(3)."},
		},
		{
			name:    "timeout ignores SIGTERM",
			args:    []string{"sleep", "60"},
			timeout: time.Second,
			want:    tasks.Result{Outcome: tasks.TimedOut, Signal: 9, Message: tasks.MsgTimeout},
			system:  []string{"Starting task", "Terminating task because it has reached the maximum timeout of 1 seconds.", "Container terminated on signal 9."},
		},
		{
			name:   "cancel honours SIGTERM",
			args:   []string{"sh", "-c", "trap 'echo term; exit 143' TERM; while true; do sleep 0.1; done"},
			cancel: time.Second,
			want:   tasks.Result{Outcome: tasks.Cancelled, Signal: 15, Message: tasks.MsgCancelled},
			stdout: []string{"term"},
			system: []string{"Starting task", "Stopping task", "Container terminated on signal 15."},
		},
		{
			name:   "out of memory",
			args:   []string{"tail", "/dev/zero"},
			memory: 64 << 20,
			want:   tasks.Result{Outcome: tasks.OutOfMemory, Signal: 9, Message: tasks.MsgOOM},
			system: []string{"Starting task", "Memory limit of 64 MiB exceeded with 64 MiB used.", "Container terminated on signal 9."},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exec := fmt.Sprintf("job1-%05d", rand.IntN(100000))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			spec := tasks.Spec{
				Project: "p", Region: "us-central1", Job: "job1", Execution: exec,
				TaskIndex: 2, TaskAttempt: 1, TaskCount: 3, Image: image, Args: tc.args,
				MemoryBytes: tc.memory, Timeout: tc.timeout,
			}
			var startedAt time.Time
			got := r.Run(ctx, spec, func(t time.Time) {
				startedAt = t
				if tc.cancel > 0 {
					time.AfterFunc(tc.cancel, cancel)
				}
			})
			if got.Outcome != tc.want.Outcome || got.ExitCode != tc.want.ExitCode || got.Signal != tc.want.Signal || got.Message != tc.want.Message {
				t.Fatalf("Run = %+v, want %+v", got, tc.want)
			}
			if startedAt.IsZero() || !got.Started.Equal(startedAt) || got.Ended.Before(got.Started) {
				t.Errorf("times: started callback %v, result %v → %v", startedAt, got.Started, got.Ended)
			}
			stdout, stderr, system := split(rec.Entries(exec))
			assertLines(t, "stdout", stdout, tc.stdout, false)
			assertLines(t, "stderr", stderr, tc.stderr, false)
			assertLines(t, "system", system, tc.system, true)
		})
	}
}

func split(entries []*loggingpb.LogEntry) (stdout, stderr, system []string) {
	for _, e := range entries {
		switch e.GetLogName() {
		case "projects/p/logs/run.googleapis.com%2Fstdout":
			stdout = append(stdout, e.GetTextPayload())
		case "projects/p/logs/run.googleapis.com%2Fstderr":
			stderr = append(stderr, e.GetTextPayload())
		case "projects/p/logs/run.googleapis.com%2Fvarlog%2Fsystem":
			system = append(system, e.GetTextPayload())
		}
	}
	return stdout, stderr, system
}

func assertLines(t *testing.T, what string, got, want []string, prefix bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %q, want %q", what, got, want)
		return
	}
	for i := range got {
		if got[i] != want[i] && !(prefix && strings.HasPrefix(got[i], want[i])) {
			t.Errorf("%s[%d] = %q, want %q", what, i, got[i], want[i])
		}
	}
}

func TestEntryShape(t *testing.T) {
	image := taskstest.BusyboxImage(t)
	rec := &taskstest.Recorder{}
	r := taskstest.NewRunner(t, tasks.Config{Logs: rec, DefaultServiceAccount: "123-compute@developer.gserviceaccount.com"})
	exec := fmt.Sprintf("shape-%05d", rand.IntN(100000))
	var during struct {
		email string
		ok    bool
	}
	spec := tasks.Spec{Project: "p", Region: "r1", Job: "shape", Execution: exec, TaskCount: 1, Image: image,
		ContainerName: "worker", Args: []string{"sh", "-c", `echo first; echo '{"severity":"error","message":"m"}'; sleep 0.5`}}
	res := r.Run(context.Background(), spec, func(time.Time) {
		// The address is bound before the start: find it through the gateway's neighbours.
		for i := 2; i < 10; i++ {
			a := r.Gateway().As4()
			a[3] = byte(i)
			if e, ok := r.IdentityOf(netipFrom(a)); ok {
				during.email, during.ok = e, ok
			}
		}
	})
	if !res.Succeeded() {
		t.Fatalf("Run = %+v", res)
	}
	if !during.ok || during.email != "123-compute@developer.gserviceaccount.com" {
		t.Errorf("IdentityOf while running = %q %v", during.email, during.ok)
	}
	entries := rec.Entries(exec)
	if len(entries) < 3 {
		t.Fatalf("entries = %v", entries)
	}
	first := entries[1]
	if got := first.GetTextPayload(); got != "first" {
		t.Errorf("first line = %q", got)
	}
	res2 := first.GetResource()
	if res2.GetType() != "cloud_run_job" || res2.GetLabels()["job_name"] != "shape" || res2.GetLabels()["location"] != "r1" || res2.GetLabels()["project_id"] != "p" {
		t.Errorf("resource = %v", res2)
	}
	l := first.GetLabels()
	if l["run.googleapis.com/task_index"] != "0" || l["run.googleapis.com/task_attempt"] != "0" || l["container_name"] != "worker" || len(l["instanceId"]) != 64 {
		t.Errorf("labels = %v", l)
	}
	structured := entries[2]
	if structured.GetSeverity().String() != "ERROR" || structured.GetJsonPayload().GetFields()["message"].GetStringValue() != "m" {
		t.Errorf("structured entry = %v", structured)
	}
	for _, e := range entries {
		if e.GetTimestamp() == nil {
			t.Errorf("entry without timestamp: %v", e)
		}
	}
}

// A task finds the metadata server as on Cloud Run: metadata.google.internal is 169.254.169.254, and nothing in its
// environment points elsewhere (Cloud Run sets no GCE_METADATA_HOST). That gcpsim answers there is the e2e suite's test.
func TestTaskFindsTheMetadataServerByItsGoogleName(t *testing.T) {
	image := taskstest.BusyboxImage(t)
	rec := &taskstest.Recorder{}
	r := taskstest.NewRunner(t, tasks.Config{Logs: rec})
	exec := fmt.Sprintf("md-%05d", rand.IntN(100000))
	spec := tasks.Spec{Project: "p", Region: "r1", Job: "md", Execution: exec, TaskCount: 1, Image: image,
		Args: []string{"sh", "-c", "env; cat /etc/hosts"}}
	if res := r.Run(context.Background(), spec, nil); !res.Succeeded() {
		t.Fatalf("Run = %+v", res)
	}
	stdout, _, _ := split(rec.Entries(exec))
	hosts := false
	for _, l := range stdout {
		if strings.Contains(l, "METADATA") {
			t.Errorf("task environment has %q: Cloud Run sets no such variable", l)
		}
		if f := strings.Fields(l); len(f) == 2 && f[0] == "169.254.169.254" && f[1] == "metadata.google.internal" {
			hosts = true
		}
	}
	if !hosts {
		t.Errorf("no /etc/hosts entry 169.254.169.254 metadata.google.internal in %q", stdout)
	}
}
