package cloudrun_test

import (
	"context"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/mount"

	"github.com/runsock/runsock/controlplane/internal/cloudrun"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/logs"
)

// These tests drive the driver and the logs reader against a running gcpsim (scripts/dev writes .dev/env with
// GCPSIM_GRPC, RUNSOCK_PROJECT, RUNSOCK_REGION, RUNSOCK_TEST_IMAGE). They skip when it is not reachable.

type simEnv struct {
	grpc, project, region, image string
}

func gcpsim(t *testing.T) simEnv {
	t.Helper()
	e := simEnv{os.Getenv("GCPSIM_GRPC"), os.Getenv("RUNSOCK_PROJECT"), os.Getenv("RUNSOCK_REGION"), os.Getenv("RUNSOCK_TEST_IMAGE")}
	if e.grpc == "" {
		t.Skip("GCPSIM_GRPC not set: source .dev/env after scripts/dev to run against gcpsim")
	}
	if e.project == "" {
		e.project = "runsock-dev"
	}
	if e.region == "" {
		e.region = "us-central1"
	}
	if e.image == "" {
		e.image = "127.0.0.1:18091/runsock-dev/runsock/alpine:latest"
	}
	c, err := net.DialTimeout("tcp", e.grpc, time.Second)
	if err != nil {
		t.Skipf("gcpsim not reachable at %s: %v", e.grpc, err)
	}
	c.Close()
	return e
}

func TestLaunchWaitLogsOnGcpsim(t *testing.T) {
	env := gcpsim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := cloudrun.New(ctx, cloudrun.Config{Project: env.project, Region: env.region, Endpoint: env.grpc, Insecure: true, TaskTimeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := logs.New(ctx, logs.Config{Project: env.project, Endpoint: env.grpc, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	tests := []struct {
		name           string
		args           []string
		exit           int
		stdout, stderr string
	}{
		{"exit 0", []string{"sh", "-c", "echo hello"}, 0, "hello\n", ""},
		{"exit 3 with both streams", []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, 3, "out\n", "err\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := containers.LaunchSpec{Image: env.image, Args: tc.args, Env: []string{"RUNSOCK_TEST=" + t.Name()},
				CPU: "1", MemoryBytes: 512 << 20, ContainerID: strings.Repeat("a", 64)}
			start := time.Now()
			exec, err := d.Launch(ctx, spec)
			launched := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.DeleteExecution(context.Background(), exec) })
			out, err := d.Wait(ctx, exec)
			if err != nil {
				t.Fatal(err)
			}
			waited := time.Since(start)
			if out.ExitCode != tc.exit || out.OOMKilled || out.FinishedAt.IsZero() {
				t.Errorf("outcome = %+v, want exit %d", out, tc.exit)
			}
			t.Logf("figures: Launch %v, Launch→Wait returned %v, Wait detection delay after completion_time ≈ %v", launched, waited, waitDelay(out.FinishedAt, start, waited))

			lstart := time.Now()
			var stdout, stderr strings.Builder
			for line, err := range r.Read(ctx, logs.Query{Executions: []string{exec}, Stdout: true, Stderr: true, Tail: -1, Ended: true}) {
				if err != nil {
					t.Fatal(err)
				}
				if line.Stream == logs.Stdout {
					stdout.Write(line.Data)
				} else {
					stderr.Write(line.Data)
				}
			}
			t.Logf("figures: logs complete %v after Wait returned", time.Since(lstart))
			if stdout.String() != tc.stdout || stderr.String() != tc.stderr {
				t.Errorf("stdout %q stderr %q, want %q %q", stdout.String(), stderr.String(), tc.stdout, tc.stderr)
			}
		})
	}
}

// waitDelay estimates how long after the execution completed Wait noticed it, from the wall clock at return.
func waitDelay(finished, start time.Time, waited time.Duration) time.Duration {
	return start.Add(waited).Sub(finished)
}

func TestFollowLogsOnGcpsim(t *testing.T) {
	env := gcpsim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := cloudrun.New(ctx, cloudrun.Config{Project: env.project, Region: env.region, Endpoint: env.grpc, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := logs.New(ctx, logs.Config{Project: env.project, Endpoint: env.grpc, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	exec, err := d.Launch(ctx, containers.LaunchSpec{Image: env.image, Args: []string{"sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.3; done; echo bye >&2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.DeleteExecution(context.Background(), exec) })
	done := make(chan struct{})
	go func() { d.Wait(ctx, exec); close(done) }()
	var got []string
	for line, err := range r.Read(ctx, logs.Query{Executions: []string{exec}, Stdout: true, Stderr: true, Tail: -1, Follow: true, Done: done}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(line.Data))
	}
	if strings.Join(got, "") != "1\n2\n3\nbye\n" {
		t.Errorf("followed %q", got)
	}
}

// TestTemplateShapeCostOnGcpsim measures what choosing "a job per set of mounts" costs (docs/volumes.md): a launch
// whose mounts are new (CreateJob, then RunJob) against one that reuses the job (RunJob only), on gcpsim. It asserts
// that each task wrote to its mounted volume; the figures are logged for the doc.
func TestTemplateShapeCostOnGcpsim(t *testing.T) {
	env := gcpsim(t)
	bucket := os.Getenv("RUNSOCK_VOLUMES_BUCKET")
	if bucket == "" {
		t.Skip("RUNSOCK_VOLUMES_BUCKET not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, err := cloudrun.New(ctx, cloudrun.Config{Project: env.project, Region: env.region, Endpoint: env.grpc, Insecure: true,
		VolumesBucket: bucket, Quotas: cloudrun.Quotas{RunJobsPerMinute: 1000, WritesPerMinute: 1000, ReadsPerMinute: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const n = 5
	var fresh, reused []time.Duration
	for i := range n {
		spec := containers.LaunchSpec{Image: env.image, Args: []string{"sh", "-c", "echo x > /data/f && grep -q ' /data ' /proc/mounts"}, CPU: "1", MemoryBytes: 512 << 20,
			Mounts: []containers.Mount{{Type: mount.TypeVolume, Name: "m", Prefix: "v1/measure/" + uniqueSuffix() + "/", Destination: "/data"}}}
		for round := range 2 {
			start := time.Now()
			exec, err := d.Launch(ctx, spec)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("launch %d.%d: %v", i, round, err)
			}
			out, err := d.Wait(ctx, exec)
			if err != nil {
				t.Fatal(err)
			}
			if out.ExitCode != 0 || out.Error != "" {
				t.Fatalf("launch %d.%d: the task did not write to its volume: %+v", i, round, out)
			}
			d.DeleteExecution(context.Background(), exec)
			if round == 0 {
				fresh = append(fresh, took)
			} else {
				reused = append(reused, took)
			}
		}
	}
	slices.Sort(fresh)
	slices.Sort(reused)
	t.Logf("figures: Launch with new mounts (CreateJob + RunJob) median %v (min %v, max %v); with the job reused (RunJob) median %v (min %v, max %v); n=%d",
		fresh[n/2], fresh[0], fresh[n-1], reused[n/2], reused[0], reused[n-1], n)
}

func uniqueSuffix() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }
