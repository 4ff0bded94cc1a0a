package tasks_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runsock/runsock/integration/gcpsim/tasks"
	"github.com/runsock/runsock/integration/gcpsim/tasks/taskstest"
)

// TestMounts runs tasks with a Cloud Storage volume (the bucket's directory, only-dir) and an in-memory volume: what
// the task writes lands in the bucket's directory under the prefix; a read-only volume refuses writes; the
// in-memory volume refuses data beyond its size limit; a start error fails the attempt before it runs.
func TestMounts(t *testing.T) {
	image := taskstest.BusyboxImage(t)
	rec := &taskstest.Recorder{}
	r := taskstest.NewRunner(t, tasks.Config{Logs: rec, DefaultServiceAccount: "123-compute@developer.gserviceaccount.com"})
	bucket := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bucket, "u1/v1"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(bucket, "u1/v1/seed"), []byte("from the API\n"), 0o666)

	run := func(name string, mounts []tasks.Mount, script string) tasks.Result {
		t.Helper()
		return r.Run(context.Background(), tasks.Spec{Project: "p", Region: "us-central1", Job: "job1", Execution: "job1-" + name,
			TaskCount: 1, Image: image, Args: []string{"sh", "-c", script}, MemoryBytes: 512 << 20, Mounts: mounts}, nil)
	}
	rw := []tasks.Mount{{Target: "/data", Source: bucket, SubDir: "u1/v1"}, {Target: "/scratch", Tmpfs: true, SizeBytes: 1 << 20}}
	if res := run("rw", rw, `cat /data/seed | grep -q "from the API" && echo written > /data/out && head -c 2097152 /dev/zero > /scratch/big; test $? -ne 0`); !res.Succeeded() {
		t.Fatalf("read-write volume and tmpfs over its size: %+v", res)
	}
	if got, err := os.ReadFile(filepath.Join(bucket, "u1/v1/out")); err != nil || string(got) != "written\n" {
		t.Fatalf("what the task wrote, in the bucket's directory: %q, %v", got, err)
	}
	ro := []tasks.Mount{{Target: "/data", Source: bucket, SubDir: "u1/v1", ReadOnly: true}}
	if res := run("ro", ro, `cat /data/seed >/dev/null && ! echo x > /data/other`); !res.Succeeded() {
		t.Fatalf("read-only volume: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(bucket, "u1/v1/other")); !os.IsNotExist(err) {
		t.Fatalf("a read-only volume took a write: %v", err)
	}
	// A prefix not yet in the bucket mounts as an empty directory (gcsfuse's only-dir on an empty prefix).
	if res := run("new", []tasks.Mount{{Target: "/v", Source: bucket, SubDir: "u1/new"}}, `test -z "$(ls /v)" && echo hi > /v/f`); !res.Succeeded() {
		t.Fatalf("new prefix: %+v", res)
	}
	res := r.Run(context.Background(), tasks.Spec{Project: "p", Region: "us-central1", Job: "job1", Execution: "job1-fail",
		TaskCount: 1, Image: image, Args: []string{"true"}, StartError: "volume v: mounting Cloud Storage bucket b failed"}, nil)
	if res.Outcome != tasks.StartFailed || !strings.Contains(res.Message, "mounting Cloud Storage bucket b failed") {
		t.Fatalf("start error: %+v", res)
	}
}
