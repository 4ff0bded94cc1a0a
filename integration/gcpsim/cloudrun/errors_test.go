package cloudrun_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/runsock/runsock/integration/gcpsim/cloudrun"
)

const image = "127.0.0.1:1/runsock-dev/runsock/busybox:latest"

func TestInvalidJobs(t *testing.T) {
	c := serve(t, cloudrun.Config{}, nil)
	mod := func(f func(j *runpb.Job)) *runpb.Job {
		j := jobOf(image, 0)
		f(j)
		return j
	}
	limits := func(cpu, mem string) *runpb.Job {
		return mod(func(j *runpb.Job) {
			j.Template.Template.Containers[0].Resources = &runpb.ResourceRequirements{Limits: map[string]string{"cpu": cpu, "memory": mem}}
		})
	}
	env := func(name string) *runpb.Job {
		return mod(func(j *runpb.Job) {
			j.Template.Template.Containers[0].Env = []*runpb.EnvVar{{Name: name, Values: &runpb.EnvVar_Value{Value: "x"}}}
		})
	}
	// vols sets the task template's volumes and the container's mounts from a mix of both.
	vols := func(items ...any) *runpb.Job {
		return mod(func(j *runpb.Job) {
			for _, it := range items {
				switch v := it.(type) {
				case *runpb.Volume:
					j.Template.Template.Volumes = append(j.Template.Template.Volumes, v)
				case *runpb.VolumeMount:
					j.Template.Template.Containers[0].VolumeMounts = append(j.Template.Template.Containers[0].VolumeMounts, v)
				}
			}
		})
	}
	tooMany := map[string]string{}
	for i := range 65 {
		tooMany[fmt.Sprintf("k%d", i)] = "v"
	}
	tests := []struct {
		name string
		id   string
		job  *runpb.Job
		want codes.Code
	}{
		{"id with capitals", "Bad", jobOf(image, 0), codes.InvalidArgument},
		{"id ending with dash", "bad-", jobOf(image, 0), codes.InvalidArgument},
		{"id of 64 chars", fmt.Sprintf("%064d", 0), jobOf(image, 0), codes.InvalidArgument},
		{"no template", "", &runpb.Job{}, codes.InvalidArgument},
		{"no container", "", mod(func(j *runpb.Job) { j.Template.Template.Containers = nil }), codes.InvalidArgument},
		{"no image", "", mod(func(j *runpb.Job) { j.Template.Template.Containers[0].Image = "" }), codes.InvalidArgument},
		{"label key with capital", "", mod(func(j *runpb.Job) { j.Labels = map[string]string{"Key": "v"} }), codes.InvalidArgument},
		{"label key starting with digit", "", mod(func(j *runpb.Job) { j.Labels = map[string]string{"1k": "v"} }), codes.InvalidArgument},
		{"label value of 64 chars", "", mod(func(j *runpb.Job) { j.Labels = map[string]string{"k": fmt.Sprintf("%064d", 0)} }), codes.InvalidArgument},
		{"65 labels", "", mod(func(j *runpb.Job) { j.Labels = tooMany }), codes.InvalidArgument},
		{"reserved label", "", mod(func(j *runpb.Job) { j.Labels = map[string]string{"run.googleapis.com/x": "v"} }), codes.InvalidArgument},
		{"reserved annotation", "", mod(func(j *runpb.Job) { j.Annotations = map[string]string{"serving.knative.dev/x": "v"} }), codes.InvalidArgument},
		{"reserved template label", "", mod(func(j *runpb.Job) { j.Template.Labels = map[string]string{"cloud.googleapis.com/x": "v"} }), codes.InvalidArgument},
		{"cpu 3", "", limits("3", "2Gi"), codes.InvalidArgument},
		{"cpu 0.05", "", limits("50m", "128Mi"), codes.InvalidArgument},
		{"1 cpu with 5Gi", "", limits("1", "5Gi"), codes.InvalidArgument},
		{"1 cpu with 256Mi, below the jobs minimum", "", limits("1", "256Mi"), codes.InvalidArgument},
		{"4 cpu with 1Gi", "", limits("4", "1Gi"), codes.InvalidArgument},
		{"0.25 cpu with 1Gi", "", limits("250m", "1Gi"), codes.InvalidArgument},
		{"0.5 cpu with 2Gi", "", limits("0.5", "2Gi"), codes.InvalidArgument},
		{"8 cpu with 33Gi", "", limits("8", "33Gi"), codes.InvalidArgument},
		{"memory garbage", "", limits("1", "lots"), codes.InvalidArgument},
		{"timeout over 168h", "", mod(func(j *runpb.Job) { j.Template.Template.Timeout = durationpb.New(169 * 3600e9) }), codes.InvalidArgument},
		{"max_retries 11", "", jobOf(image, 11), codes.InvalidArgument},
		{"max_retries -1", "", jobOf(image, -1), codes.InvalidArgument},
		{"task_count 10001", "", mod(func(j *runpb.Job) { j.Template.TaskCount = 10001 }), codes.InvalidArgument},
		{"parallelism over task_count", "", mod(func(j *runpb.Job) { j.Template.TaskCount, j.Template.Parallelism = 2, 3 }), codes.InvalidArgument},
		{"reserved env", "", env("CLOUD_RUN_TASK_INDEX"), codes.InvalidArgument},
		{"env with =", "", env("A=B"), codes.InvalidArgument},
		{"env X_GOOGLE_", "", env("X_GOOGLE_A"), codes.InvalidArgument},
		{"empty env name", "", env(""), codes.InvalidArgument},
		{"volume without type", "", vols(&runpb.Volume{Name: "v"}), codes.InvalidArgument},
		{"volume name not a DNS label", "", vols(gcsVol("V_1", "b"), mnt("V_1", "/data")), codes.InvalidArgument},
		{"duplicate volume names", "", vols(gcsVol("v", "b"), gcsVol("v", "b")), codes.InvalidArgument},
		{"gcs without bucket", "", vols(gcsVol("v", "")), codes.InvalidArgument},
		{"gcs with an unknown flag", "", vols(gcsVol("v", "b", "no-such-flag=1")), codes.InvalidArgument},
		{"gcs with a leading --", "", vols(gcsVol("v", "b", "--only-dir=x")), codes.InvalidArgument},
		{"gcs on gen1", "", mod(func(j *runpb.Job) {
			j.Template.Template.Volumes = []*runpb.Volume{gcsVol("v", "b")}
			j.Template.Template.ExecutionEnvironment = runpb.ExecutionEnvironment_EXECUTION_ENVIRONMENT_GEN1
		}), codes.InvalidArgument},
		{"in-memory with a bad size", "", vols(memVol("m", "lots")), codes.InvalidArgument},
		{"disk empty_dir", "", vols(&runpb.Volume{Name: "d", VolumeType: &runpb.Volume_EmptyDir{EmptyDir: &runpb.EmptyDirVolumeSource{Medium: runpb.EmptyDirVolumeSource_DISK}}}), codes.Unimplemented},
		{"nfs", "", vols(&runpb.Volume{Name: "n", VolumeType: &runpb.Volume_Nfs{Nfs: &runpb.NFSVolumeSource{Server: "s"}}}), codes.Unimplemented},
		{"mount of no volume", "", vols(gcsVol("v", "b"), mnt("w", "/data")), codes.InvalidArgument},
		{"mount path relative", "", vols(gcsVol("v", "b"), mnt("v", "data")), codes.InvalidArgument},
		{"mount path with colon", "", vols(gcsVol("v", "b"), mnt("v", "/da:ta")), codes.InvalidArgument},
		{"mount at /proc/x", "", vols(gcsVol("v", "b"), mnt("v", "/proc/x")), codes.InvalidArgument},
		{"mount at /dev", "", vols(memVol("m", ""), mnt("m", "/dev")), codes.InvalidArgument},
		{"two mounts at one path", "", vols(gcsVol("v", "b"), memVol("m", ""), mnt("v", "/data"), mnt("m", "/data")), codes.InvalidArgument},
		{"valid gcs and in-memory", "", vols(gcsVol("v", "b", "only-dir=u/v", "implicit-dirs=true"), memVol("m", "64Mi"), mnt("v", "/data"), mnt("m", "/tmp/x")), codes.OK},
		{"valid 2 cpu 8Gi", "", limits("2", "8Gi"), codes.OK},
		{"valid 0.5 cpu 1Gi", "", limits("500m", "1Gi"), codes.OK},
		{"valid 6 cpu 24Gi", "", limits("6", "24Gi"), codes.OK},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.id
			if id == "" {
				id = fmt.Sprintf("inv-%d", i)
			}
			_, err := c.jobs.CreateJob(context.Background(), &runpb.CreateJobRequest{Parent: parent, JobId: id, Job: tc.job})
			wantCode(t, err, tc.want)
		})
	}
}

func TestJobErrors(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	c := serve(t, cloudrun.Config{MaxJobs: 3, StatePath: state}, nil)
	ctx := context.Background()
	j := createJob(t, c, "one", jobOf(image, 0))
	if got := j.Template.Template.GetMaxRetries(); got != 0 {
		t.Errorf("max_retries = %d, want the 0 that was set", got)
	}
	_, err := c.jobs.CreateJob(ctx, &runpb.CreateJobRequest{Parent: parent, JobId: "one", Job: jobOf(image, 0)})
	wantCode(t, err, codes.AlreadyExists)

	_, err = c.jobs.GetJob(ctx, &runpb.GetJobRequest{Name: parent + "/jobs/nope"})
	wantCode(t, err, codes.NotFound)
	if err != nil && !strings.Contains(err.Error(), "Resource 'nope' of kind 'JOB' in region 'us-central1' in project 'runsock-test' does not exist.") {
		t.Errorf("not found message = %v", err)
	}
	_, err = c.execs.GetExecution(ctx, &runpb.GetExecutionRequest{Name: j.Name + "/executions/one-abcde"})
	wantCode(t, err, codes.NotFound)
	_, err = c.tasks.GetTask(ctx, &runpb.GetTaskRequest{Name: j.Name + "/executions/one-abcde/tasks/one-abcde-task0"})
	wantCode(t, err, codes.NotFound)

	// Etags: a stale one is refused, the current one accepted.
	stale := j.Etag
	upd := jobOf(image, 0)
	upd.Name, upd.Etag = j.Name, stale
	op, err := c.jobs.UpdateJob(ctx, &runpb.UpdateJobRequest{Job: upd})
	if err != nil {
		t.Fatal(err)
	}
	j2, err := op.Wait(ctx)
	if err != nil || j2.Generation != 2 || j2.Etag == stale {
		t.Fatalf("UpdateJob = %v, %v", j2, err)
	}
	upd.Etag = stale
	_, err = c.jobs.UpdateJob(ctx, &runpb.UpdateJobRequest{Job: upd})
	wantCode(t, err, codes.Aborted)
	_, err = c.jobs.DeleteJob(ctx, &runpb.DeleteJobRequest{Name: j.Name, Etag: stale})
	wantCode(t, err, codes.Aborted)

	// Quota: MaxJobs here is 3.
	createJob(t, c, "two", jobOf(image, 0))
	createJob(t, c, "three", jobOf(image, 0))
	_, err = c.jobs.CreateJob(ctx, &runpb.CreateJobRequest{Parent: parent, JobId: "four", Job: jobOf(image, 0)})
	wantCode(t, err, codes.ResourceExhausted)

	// Newest first, paged.
	it := c.jobs.ListJobs(ctx, &runpb.ListJobsRequest{Parent: parent, PageSize: 2})
	var names []string
	for {
		job, err := it.Next()
		if err != nil {
			break
		}
		names = append(names, job.Name[len(parent)+len("/jobs/"):])
	}
	if fmt.Sprint(names) != "[three two one]" {
		t.Errorf("ListJobs = %v", names)
	}
	dop, err := c.jobs.DeleteJob(ctx, &runpb.DeleteJobRequest{Name: j.Name, Etag: j2.Etag})
	if err != nil {
		t.Fatal(err)
	}
	if dj, err := dop.Wait(ctx); err != nil || dj.DeleteTime == nil {
		t.Errorf("DeleteJob = %v, %v", dj, err)
	}
	_, err = c.jobs.GetJob(ctx, &runpb.GetJobRequest{Name: j.Name})
	wantCode(t, err, codes.NotFound)
}

func TestDefaultMaxJobs(t *testing.T) {
	c := serve(t, cloudrun.Config{}, nil)
	ctx := context.Background()
	for i := range 1000 {
		_, err := c.jobs.CreateJob(ctx, &runpb.CreateJobRequest{Parent: parent, JobId: fmt.Sprintf("j%d", i), Job: jobOf(image, 0)})
		if err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}
	_, err := c.jobs.CreateJob(ctx, &runpb.CreateJobRequest{Parent: parent, JobId: "j1000", Job: jobOf(image, 0)})
	wantCode(t, err, codes.ResourceExhausted)
}

func TestStateSurvivesRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	c := serve(t, cloudrun.Config{StatePath: state}, nil)
	j := createJob(t, c, "kept", jobOf(image, 0))
	c.jobs.Close()
	waitFor(t, func() bool { _, err := os.Stat(state); return err == nil }, "state file")
	c2 := serve(t, cloudrun.Config{StatePath: state}, nil)
	got, err := c2.jobs.GetJob(context.Background(), &runpb.GetJobRequest{Name: j.Name})
	if err != nil || got.Uid != j.Uid || got.Etag != j.Etag {
		t.Errorf("after restart GetJob = %v, %v", got, err)
	}
}

func gcsVol(name, bucket string, opts ...string) *runpb.Volume {
	return &runpb.Volume{Name: name, VolumeType: &runpb.Volume_Gcs{Gcs: &runpb.GCSVolumeSource{Bucket: bucket, MountOptions: opts}}}
}

func memVol(name, size string) *runpb.Volume {
	return &runpb.Volume{Name: name, VolumeType: &runpb.Volume_EmptyDir{EmptyDir: &runpb.EmptyDirVolumeSource{Medium: runpb.EmptyDirVolumeSource_MEMORY, SizeLimit: size}}}
}

func mnt(name, path string) *runpb.VolumeMount {
	return &runpb.VolumeMount{Name: name, MountPath: path}
}
