package cloudrun_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/runsock/runsock/integration/gcpsim/cloudrun"
	"github.com/runsock/runsock/integration/gcpsim/storage"
	"github.com/runsock/runsock/integration/gcpsim/tasks"
	"github.com/runsock/runsock/integration/gcpsim/tasks/taskstest"
)

// TestVolumesMountedFromStorage runs jobs with a Cloud Storage volume of gcpsim's Cloud Storage and an in-memory
// volume: what the task writes under only-dir is the bucket's object; a read-only volume refuses writes; a job whose
// service account cannot list the bucket fails at start, as gcsfuse's mount does.
func TestVolumesMountedFromStorage(t *testing.T) {
	image := taskstest.BusyboxImage(t)
	const bucket, sa, stranger = "p-vols", "jobs@p.iam.gserviceaccount.com", "other@p.iam.gserviceaccount.com"
	dir := t.TempDir()
	gcs, err := storage.New(storage.Config{Dir: dir, Buckets: []string{bucket},
		Bindings:          []storage.Binding{{Bucket: bucket, Role: "roles/storage.objectUser", Member: "serviceAccount:" + sa}},
		VerifyAccessToken: func(string) (string, time.Time, error) { return "", time.Time{}, os.ErrPermission }})
	if err != nil {
		t.Fatal(err)
	}
	r := taskstest.NewRunner(t, tasks.Config{Logs: &taskstest.Recorder{}})
	c := serve(t, cloudrun.Config{Buckets: gcs}, r)
	ctx := context.Background()

	job := func(account string, readOnly bool, script string) *runpb.Job {
		j := jobOf(image, 0, "sh", "-c", script)
		tt := j.Template.Template
		tt.ServiceAccount = account
		tt.Volumes = []*runpb.Volume{gcsVol("data", bucket, "only-dir=v1/u/vol"), memVol("scratch", "1Mi")}
		tt.Volumes[0].GetGcs().ReadOnly = readOnly
		tt.Containers[0].VolumeMounts = []*runpb.VolumeMount{mnt("data", "/data"), mnt("scratch", "/scratch")}
		return j
	}
	finished := func(j *runpb.Job) *runpb.Task {
		t.Helper()
		e := runJob(t, c, createJob(t, c, uniqueID("vol"), j))
		var task *runpb.Task
		waitFor(t, func() bool {
			task, err = c.tasks.GetTask(ctx, &runpb.GetTaskRequest{Name: e.Name + "/tasks/" + e.Name[strings.LastIndex(e.Name, "/")+1:] + "-task0"})
			return err == nil && task.CompletionTime != nil
		}, "the task to end")
		return task
	}

	task := finished(job(sa, false, "echo from-task > /data/out && grep -q ' /scratch tmpfs ' /proc/mounts && ! head -c 2097152 /dev/zero > /scratch/big"))
	if r := task.GetLastAttemptResult(); r.GetExitCode() != 0 || r.GetStatus().GetCode() != 0 {
		t.Fatalf("read-write task: %v", task.GetLastAttemptResult())
	}
	if got, err := os.ReadFile(filepath.Join(dir, bucket, "v1/u/vol/out")); err != nil || string(got) != "from-task\n" {
		t.Fatalf("the object the task wrote: %q, %v", got, err)
	}
	task = finished(job(sa, true, "cat /data/out && ! echo x > /data/other"))
	if code := task.GetLastAttemptResult().GetExitCode(); code != 0 {
		t.Fatalf("read-only task exit %d: %v", code, task.GetLastAttemptResult())
	}
	if _, err := os.Stat(filepath.Join(dir, bucket, "v1/u/vol/other")); !os.IsNotExist(err) {
		t.Fatalf("a read-only volume took a write: %v", err)
	}
	task = finished(job(stranger, false, "true"))
	if msg := task.GetLastAttemptResult().GetStatus().GetMessage(); !strings.Contains(msg, "Bad credentials for bucket "+bucket) {
		t.Fatalf("a job whose account cannot list the bucket: %v", task.GetLastAttemptResult())
	}
}
