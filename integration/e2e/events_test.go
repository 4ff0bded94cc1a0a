package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/runsock/runsock/executiondoc"
)

// These tests end containers in ways the agent cannot report (task timeout, out of memory, an outside SIGKILL, an
// exit while the control plane is down) and check Docker's view: inspect's State and a returning `docker wait`.

// waitExit runs `docker wait` and returns the exit code it printed and when it returned.
func waitExit(t *testing.T, name string) (int, time.Time) {
	t.Helper()
	out := mustDocker(t, "wait", name)
	code, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("docker wait %s printed %q", name, out)
	}
	return code, time.Now()
}

type wantState struct {
	exitCode  int
	oomKilled bool
	errorHas  string
}

func checkState(t *testing.T, name string, want wantState) {
	t.Helper()
	st := inspectJSON(t, name)["State"].(map[string]any)
	if st["Status"] != "exited" || int(st["ExitCode"].(float64)) != want.exitCode || st["OOMKilled"] != want.oomKilled ||
		!strings.Contains(st["Error"].(string), want.errorHas) || (want.errorHas == "" && st["Error"] != "") {
		t.Fatalf("State %v, want exited, ExitCode %d, OOMKilled %v, Error containing %q", st, want.exitCode, want.oomKilled, want.errorHas)
	}
}

// factsLag bounds how long Cloud Run's own record takes to reach a container after the agent's report: Cloud
// Logging's ingestion lag (gcpsim simulates 2 s), the sink, Pub/Sub push, the function and the listener.
const factsLag = 15 * time.Second

// eventually checks the State once the execution's system outcome has had time to arrive.
func eventually(t *testing.T, name string, want wantState) {
	t.Helper()
	deadline := time.Now().Add(factsLag)
	for time.Now().Before(deadline) {
		st := inspectJSON(t, name)["State"].(map[string]any)
		if st["OOMKilled"] == want.oomKilled && (want.errorHas == "" || strings.Contains(st["Error"].(string), want.errorHas)) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkState(t, name, want)
}

func TestTaskTimeoutEndsTheContainer(t *testing.T) {
	name := uniqueName("timeout")
	removeOnCleanup(t, name)
	mustDocker(t, "run", "-d", "--name", name, "--label", "runsock.task-timeout=3s", "alpine", "sleep", "120")
	start := time.Now()
	// Cloud Run sends SIGTERM at the timeout, SIGKILL 10 s later. sleep, with no handler for SIGTERM, does not get
	// it (it would not as PID 1), so the SIGKILL ends it: 137 (143 from a process that handles SIGTERM by dying of
	// it), and Cloud Run's system log explains it.
	code, _ := waitExit(t, name)
	if code != 143 && code != 137 {
		t.Fatalf("docker wait: %d, want 143 or 137", code)
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Fatalf("a 3 s timeout ended the container after %s", d)
	}
	eventually(t, name, wantState{exitCode: code, errorHas: "timed out"})
}

// A container allocating past its memory: `docker wait` returns 137 and inspect right after it shows OOMKilled, as
// Docker's does (the agent reads its cgroup's OOM kills at the exit and reports them with it; Cloud Run's own record
// comes seconds later and changes nothing). A child killed for memory while the main process goes on and exits 0
// is an OOM kill too, on Docker: OOMKilled true with exit code 0. Same steps on both engines.
func TestOutOfMemoryEndsTheContainer(t *testing.T) {
	cases := []struct {
		name string
		cmd  []string
		want wantState
	}{
		{"main process", []string{"tail", "/dev/zero"}, wantState{exitCode: 137, oomKilled: true}},
		{"a child", []string{"sh", "-c", "tail /dev/zero; echo child $?"}, wantState{exitCode: 0, oomKilled: true}},
	}
	for _, e := range engines(t) {
		for _, tc := range cases {
			t.Run(e.name+"/"+tc.name, func(t *testing.T) {
				name := uniqueName("oom")
				t.Cleanup(func() { e.docker(t, "rm", "-f", name) })
				e.must(t, append([]string{"run", "-d", "--name", name, "-m", "512m", "--memory-swap", "512m", "alpine"}, tc.cmd...)...)
				if code := strings.TrimSpace(e.must(t, "wait", name)); code != strconv.Itoa(tc.want.exitCode) {
					t.Fatalf("docker wait: %s, want %d", code, tc.want.exitCode)
				}
				st := e.must(t, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}", name)
				if want := fmt.Sprintf("exited %d true", tc.want.exitCode); strings.TrimSpace(st) != want {
					t.Fatalf("inspect right after wait: %s, want %s", strings.TrimSpace(st), want)
				}
			})
		}
	}
}

func TestExitWhileControlPlaneIsDown(t *testing.T) {
	name := uniqueName("exit-down")
	removeOnCleanup(t, name)
	mustDocker(t, "run", "-d", "--name", name, "alpine", "sh", "-c", "sleep 4; exit 7")
	restartControlPlane(t, 8*time.Second) // down while the container exits
	if code, _ := waitExit(t, name); code != 7 {
		t.Fatalf("docker wait: %d, want 7", code)
	}
	checkState(t, name, wantState{exitCode: 7})
}

func TestOutsideSIGKILLOfTheTaskProcess(t *testing.T) {
	name := uniqueName("sigkill")
	removeOnCleanup(t, name)
	id := mustDocker(t, "run", "-d", "--name", name, "alpine", "sleep", "300")
	exec := executionOf(t, strings.TrimSpace(id))
	var pid int
	waitFor(t, 30*time.Second, "the task's PID 1 on the host", func() bool { pid = taskInit(exec); return pid > 0 })
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	if code, _ := waitExit(t, name); code != 137 {
		t.Fatalf("docker wait: %d, want 137", code)
	}
	checkState(t, name, wantState{exitCode: 137})
}

// TestExitReachesWaitPromptly measures the time from a container's end to `docker wait` returning: an ordinary
// exit (the agent reports it first-hand), and a SIGKILL of the task's PID 1 after the backstop poll has slowed
// down (only Cloud Run's record can tell: the execution-events function's fact, or the backstop poll).
func TestExitReachesWaitPromptly(t *testing.T) {
	t.Run("agent", func(t *testing.T) {
		name := uniqueName("latency")
		removeOnCleanup(t, name)
		mustDocker(t, "run", "-d", "--name", name, "alpine", "sh", "-c", "sleep 2; exit 5")
		code, returned := waitExit(t, name)
		if code != 5 {
			t.Fatalf("docker wait: %d, want 5", code)
		}
		finished, err := time.Parse(time.RFC3339Nano, inspectField(t, name, "{{.State.FinishedAt}}"))
		if err != nil {
			t.Fatal(err)
		}
		lag := returned.Sub(finished)
		t.Logf("exit → docker wait returned: %s", lag.Round(time.Millisecond))
		if lag > 5*time.Second {
			t.Fatalf("docker wait returned %s after the exit", lag)
		}
	})
	t.Run("cloud-run-record", func(t *testing.T) {
		name := uniqueName("latency")
		removeOnCleanup(t, name)
		id := mustDocker(t, "run", "-d", "--name", name, "alpine", "sleep", "300")
		exec := executionOf(t, strings.TrimSpace(id))
		var pid int
		waitFor(t, 30*time.Second, "the task's PID 1 on the host", func() bool { pid = taskInit(exec); return pid > 0 })
		time.Sleep(8 * time.Second) // past the backstop's fast window
		waited := make(chan time.Time, 1)
		go func() { _, at := waitExit(t, name); waited <- at }()
		killed := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %d: %v", pid, err)
		}
		lag := (<-waited).Sub(killed)
		t.Logf("SIGKILL of PID 1 → docker wait returned: %s", lag.Round(time.Millisecond))
		if lag > 10*time.Second {
			t.Fatalf("docker wait returned %s after the kill", lag)
		}
	})
}

// executionOf reads the executions/{short} document the control plane writes at launch for container id.
func executionOf(t *testing.T, id string) string {
	t.Helper()
	ctx := context.Background()
	fs, err := firestore.NewClient(ctx, os.Getenv("RUNSOCK_PROJECT"))
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	snaps, err := fs.Collection(executiondoc.Collection).Where(executiondoc.FieldContainerID, "==", id).Documents(ctx).GetAll()
	if err != nil || len(snaps) != 1 {
		t.Fatalf("executions of %s: %d, %v", id, len(snaps), err)
	}
	return snaps[0].Ref.ID
}

// taskInit finds the host PID of the process that is PID 1 in the task of execution (0 if none yet).
func taskInit(execution string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		env, err := os.ReadFile(filepath.Join(p, "environ"))
		if err != nil || !strings.Contains("\x00"+string(env)+"\x00", "\x00CLOUD_RUN_EXECUTION="+execution+"\x00") {
			continue
		}
		st, err := os.ReadFile(filepath.Join(p, "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "NSpid:" && f[len(f)-1] == "1" {
				pid, _ := strconv.Atoi(filepath.Base(p))
				return pid
			}
		}
	}
	return 0
}

func runClients(t *testing.T) (*run.JobsClient, *run.ExecutionsClient) {
	t.Helper()
	ctx := context.Background()
	opts := []option.ClientOption{option.WithEndpoint(os.Getenv("GCPSIM_GRPC")), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
	jobs, err := run.NewJobsClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	execs, err := run.NewExecutionsClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jobs.Close(); execs.Close() })
	return jobs, execs
}

func TestReconcilerCleansWhatNoContainerReferences(t *testing.T) {
	ctx := context.Background()
	jobs, execs := runClients(t)
	parent := "projects/" + os.Getenv("RUNSOCK_PROJECT") + "/locations/" + os.Getenv("RUNSOCK_REGION")

	// Containers the reconciler must leave alone: one running, one exited.
	running, exited := uniqueName("keep-running"), uniqueName("keep-exited")
	removeOnCleanup(t, running)
	removeOnCleanup(t, exited)
	mustDocker(t, "run", "-d", "--name", running, "alpine", "sleep", "300")
	if r := docker(t, "run", "--name", exited, "alpine", "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("docker run exit 3: %s", r)
	}

	// A job and a running execution made behind runsock's back, with its label.
	jobID := strings.ReplaceAll(uniqueName("sneaky"), "_", "-")
	op, err := jobs.CreateJob(ctx, &runpb.CreateJobRequest{Parent: parent, JobId: jobID, Job: &runpb.Job{
		Labels: map[string]string{"managed-by": "runsock"},
		Template: &runpb.ExecutionTemplate{TaskCount: 1, Template: &runpb.TaskTemplate{
			Retries:    &runpb.TaskTemplate_MaxRetries{MaxRetries: 0},
			Containers: []*runpb.Container{{Image: os.Getenv("RUNSOCK_TEST_IMAGE"), Command: []string{"sleep", "300"}}},
		}},
	}})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	if _, err := op.Wait(ctx); err != nil {
		t.Fatalf("create job: %v", err)
	}
	jobName := parent + "/jobs/" + jobID
	t.Cleanup(func() { jobs.DeleteJob(context.Background(), &runpb.DeleteJobRequest{Name: jobName}) })
	rop, err := jobs.RunJob(ctx, &runpb.RunJobRequest{Name: jobName})
	if err != nil {
		t.Fatalf("run job: %v", err)
	}
	md, err := rop.Metadata()
	if err != nil {
		t.Fatalf("run job: %v", err)
	}
	execName := md.GetName()

	restartControlPlane(t, 0) // the reconciler runs at start
	waitFor(t, 60*time.Second, "the foreign execution and job to be deleted", func() bool {
		time.Sleep(800 * time.Millisecond) // about one check a second: the test's reads share the project's read quota
		_, eerr := execs.GetExecution(ctx, &runpb.GetExecutionRequest{Name: execName})
		_, jerr := jobs.GetJob(ctx, &runpb.GetJobRequest{Name: jobName})
		return status.Code(eerr) == codes.NotFound && status.Code(jerr) == codes.NotFound
	})

	if got := inspectField(t, running, "{{.State.Status}}"); got != "running" {
		t.Fatalf("%s: %s, want running", running, got)
	}
	if got := inspectField(t, exited, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 3" {
		t.Fatalf("%s: %s, want exited 3", exited, got)
	}
	// The running container's execution is still there and still its own.
	exec := executionOf(t, strings.TrimSpace(inspectField(t, running, "{{.Id}}")))
	if !executionExists(t, execs, parent, exec) {
		t.Fatalf("the running container's execution %s was deleted", exec)
	}
	mustDocker(t, "stop", running)
	if got := inspectField(t, running, "{{.State.Status}}"); got != "exited" {
		t.Fatalf("%s after stop: %s", running, got)
	}
}

func executionExists(t *testing.T, execs *run.ExecutionsClient, parent, short string) bool {
	t.Helper()
	job := short[:strings.LastIndexByte(short, '-')] // an execution's short name is JOB-SUFFIX
	_, err := execs.GetExecution(context.Background(), &runpb.GetExecutionRequest{Name: parent + "/jobs/" + job + "/executions/" + short})
	if status.Code(err) == codes.NotFound {
		return false
	}
	if err != nil {
		t.Fatalf("get execution %s: %v", short, err)
	}
	return true
}
