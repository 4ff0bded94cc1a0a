package cloudrun

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/mount"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

func TestJobIDIsStableValidAndDistinct(t *testing.T) {
	base := containers.LaunchSpec{Image: "h/p/r/alpine@sha256:aa", CPU: "1", MemoryBytes: 512 << 20}
	variants := map[string]containers.LaunchSpec{
		"base":       base,
		"image":      func() containers.LaunchSpec { s := base; s.Image = "h/p/r/alpine@sha256:bb"; return s }(),
		"cpu":        func() containers.LaunchSpec { s := base; s.CPU = "2"; return s }(),
		"memory":     func() containers.LaunchSpec { s := base; s.MemoryBytes = 1 << 30; return s }(),
		"entrypoint": func() containers.LaunchSpec { s := base; s.Entrypoint = []string{"/agent"}; return s }(),
		"workdir":    func() containers.LaunchSpec { s := base; s.WorkingDir = "/tmp"; return s }(),
	}
	seen := map[string]string{}
	for name, spec := range variants {
		id := TemplateFor(spec, "sa@x", time.Hour).JobID()
		if !validJobID(id) || len(id) != 23 {
			t.Errorf("%s: job ID %q is not a valid 23-char Cloud Run job ID", name, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share job ID %s", name, other, id)
		}
		seen[id] = name
	}
	// Args, env, labels and container ID travel per execution: they must not change the job.
	same := base
	same.Args, same.Env, same.ContainerID = []string{"echo", "hi"}, []string{"A=1"}, "abc"
	if a, b := TemplateFor(base, "sa@x", time.Hour).JobID(), TemplateFor(same, "sa@x", time.Hour).JobID(); a != b {
		t.Errorf("per-execution fields changed the job ID: %s vs %s", a, b)
	}
	if a, b := TemplateFor(base, "sa@x", time.Hour).JobID(), TemplateFor(base, "other@x", time.Hour).JobID(); a == b {
		t.Error("service account does not change the job ID")
	}
}

func TestValidJobID(t *testing.T) {
	for id, want := range map[string]bool{
		"rs-0123456789abcdef0123": true, "a": true, "-a": false, "a-": false, "Rs-1": false, "1abc": false,
		"a_b": false, "a" + string(make([]byte, 63)): false,
	} {
		if got := validJobID(id); got != want {
			t.Errorf("validJobID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestJobResource(t *testing.T) {
	tpl := TemplateFor(containers.LaunchSpec{
		Image: "img@sha256:1", Entrypoint: []string{"/bin/sh"}, WorkingDir: "/w", CPU: "2", MemoryBytes: 1<<30 + 1,
	}, "sa@p.iam.gserviceaccount.com", 24*time.Hour)
	job := tpl.job()
	tt := job.GetTemplate().GetTemplate()
	c := tt.GetContainers()[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"managed-by label", job.GetLabels()[LabelManagedBy], "runsock"},
		{"template label", job.GetLabels()[LabelTemplate], tpl.Hash()[:63]},
		{"max retries", tt.GetMaxRetries(), int32(0)},
		{"timeout", tt.GetTimeout().AsDuration(), 24 * time.Hour},
		{"service account", tt.GetServiceAccount(), "sa@p.iam.gserviceaccount.com"},
		{"task count", job.GetTemplate().GetTaskCount(), int32(1)},
		{"image", c.GetImage(), "img@sha256:1"},
		{"command", c.GetCommand()[0], "/bin/sh"},
		{"workdir", c.GetWorkingDir(), "/w"},
		{"cpu", c.GetResources().GetLimits()["cpu"], "2"},
		{"memory rounded up to MiB", c.GetResources().GetLimits()["memory"], "1025Mi"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestOverrides(t *testing.T) {
	tests := []struct {
		name      string
		spec      containers.LaunchSpec
		wantArgs  []string
		wantClear bool
		wantEnv   map[string]string
	}{
		{"command and env", containers.LaunchSpec{Args: []string{"sh", "-c", "exit 3"}, Env: []string{"A=1", "B=x=y", "BARE"}},
			[]string{"sh", "-c", "exit 3"}, false, map[string]string{"A": "1", "B": "x=y"}},
		{"no command clears the job's args", containers.LaunchSpec{}, nil, true, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := overrides(tc.spec, time.Hour)
			co := o.GetContainerOverrides()[0]
			if o.GetTaskCount() != 1 || o.GetTimeout().AsDuration() != time.Hour || co.GetName() != containerName {
				t.Errorf("task count/timeout/name = %d/%v/%q", o.GetTaskCount(), o.GetTimeout().AsDuration(), co.GetName())
			}
			if len(co.GetArgs()) != len(tc.wantArgs) || co.GetClearArgs() != tc.wantClear {
				t.Errorf("args = %q clear=%v, want %q clear=%v", co.GetArgs(), co.GetClearArgs(), tc.wantArgs, tc.wantClear)
			}
			got := map[string]string{}
			for _, e := range co.GetEnv() {
				got[e.GetName()] = e.GetValue()
			}
			if len(got) != len(tc.wantEnv) {
				t.Errorf("env = %v, want %v", got, tc.wantEnv)
			}
			for k, v := range tc.wantEnv {
				if got[k] != v {
					t.Errorf("env %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestTranslate(t *testing.T) {
	tests := []struct {
		code codes.Code
		kind error
	}{
		{codes.NotFound, errdefs.ErrNotFound},
		{codes.InvalidArgument, errdefs.ErrInvalidArgument},
		{codes.ResourceExhausted, errdefs.ErrResourceExhausted},
		{codes.Unavailable, errdefs.ErrUnavailable},
		{codes.FailedPrecondition, errdefs.ErrConflict},
		{codes.PermissionDenied, errdefs.ErrPermissionDenied},
	}
	for _, tc := range tests {
		err := translate(status.Error(tc.code, "Google says no"), "op")
		if !errors.Is(err, tc.kind) {
			t.Errorf("%v → %v, want kind %v", tc.code, err, tc.kind)
		}
	}
	if err := translate(status.Error(codes.Unavailable, "connection refused"), "run job j"); !strings.Contains(err.Error(), "Cloud Run Admin API (run.googleapis.com) is unavailable") ||
		!strings.HasPrefix(err.Error(), "run job j: ") || !strings.HasSuffix(err.Error(), ": connection refused") {
		t.Errorf("unavailable message = %q, want the Admin API named, the operation and Google's message", err)
	}
	if err := translate(status.Error(codes.InvalidArgument, "memory must be at least 512Mi"), "op"); err.Error() != "memory must be at least 512Mi" {
		t.Errorf("invalid argument message = %q, want Google's message as is", err)
	}
}

func TestJobVolumes(t *testing.T) {
	spec := containers.LaunchSpec{Image: "img@sha256:1", Mounts: []containers.Mount{
		{Type: mount.TypeVolume, Name: "db", Prefix: "v1/k/db/", Destination: "/data"},
		{Type: mount.TypeVolume, Name: "cfg", Prefix: "v1/k/cfg/", Destination: "/etc/app", ReadOnly: true},
		{Type: mount.TypeTmpfs, Destination: "/scratch", SizeBytes: 64 << 20},
		{Type: mount.TypeTmpfs, Destination: "/run/x"},
	}}
	tpl := TemplateFor(spec, "sa@p", time.Hour)
	tpl.Bucket = "p-runsock-volumes"
	tt := tpl.job().GetTemplate().GetTemplate()
	vols, mounts := tt.GetVolumes(), tt.GetContainers()[0].GetVolumeMounts()
	if len(vols) != 4 || len(mounts) != 4 {
		t.Fatalf("%d volumes, %d mounts; want 4 and 4", len(vols), len(mounts))
	}
	for i, want := range []struct {
		path, bucket, onlyDir string
		readOnly              bool
		size                  string
	}{
		{"/data", "p-runsock-volumes", "only-dir=v1/k/db", false, ""},
		{"/etc/app", "p-runsock-volumes", "only-dir=v1/k/cfg", true, ""},
		{"/scratch", "", "", false, "64Mi"},
		{"/run/x", "", "", false, ""},
	} {
		v, m := vols[i], mounts[i]
		if m.GetName() != v.GetName() || m.GetMountPath() != want.path {
			t.Errorf("mount %d = %v of volume %s, want %s of %s", i, m, v.GetName(), want.path, m.GetName())
		}
		if gcs := v.GetGcs(); want.bucket != "" {
			if gcs.GetBucket() != want.bucket || gcs.GetReadOnly() != want.readOnly || len(gcs.GetMountOptions()) != 1 || gcs.GetMountOptions()[0] != want.onlyDir {
				t.Errorf("volume %d = %v, want bucket %s %s ro=%v", i, v, want.bucket, want.onlyDir, want.readOnly)
			}
		} else if ed := v.GetEmptyDir(); ed.GetMedium() != runpb.EmptyDirVolumeSource_MEMORY || ed.GetSizeLimit() != want.size {
			t.Errorf("volume %d = %v, want in-memory of %q", i, v, want.size)
		}
	}
	// The mounts are part of the template: another set is another job; none leaves the ID of a job without volumes
	// as it was.
	other := spec
	other.Mounts = spec.Mounts[:1]
	plain := TemplateFor(containers.LaunchSpec{Image: "img@sha256:1"}, "sa@p", time.Hour)
	if a, b := TemplateFor(spec, "sa@p", time.Hour).JobID(), TemplateFor(other, "sa@p", time.Hour).JobID(); a == b {
		t.Error("two sets of mounts share a job")
	}
	if strings.Contains(mustJSON(t, plain), "volumes") {
		t.Error("a template without mounts encodes a volumes field: every existing job ID would change")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
