package cloudrun

import (
	"fmt"
	"path"
	"strings"

	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/runsock/runsock/integration/gcpsim/tasks"
)

// Buckets is the part of gcpsim's Cloud Storage the task runner needs to mount a Cloud Storage volume.
type Buckets interface {
	BucketDir(bucket string) (dir string, ok bool)
	Allowed(bucket, email, perm string) bool
}

// gcsfuseFlags are the gcsfuse flags gcpsim accepts in mount_options (cloud-run-volumes.md §1.6). Google's own
// allow-list is not published; gcpsim refuses the rest so a typo fails at CreateJob, not silently at run time.
var gcsfuseFlags = map[string]bool{
	"implicit-dirs": true, "only-dir": true, "uid": true, "gid": true, "file-mode": true, "dir-mode": true,
	"metadata-cache-ttl-secs": true, "stat-cache-max-size-mb": true, "type-cache-max-size-mb": true,
	"metadata-cache-negative-ttl-secs": true, "kernel-list-cache-ttl-secs": true, "rename-dir-limit": true,
	"enable-streaming-writes": true, "write-global-max-blocks": true, "temp-dir": true, "o": true,
	"file-cache-max-size-mb": true, "cache-dir": true, "sequential-read-size-mb": true, "enable-atomic-rename-object": true,
}

// validateVolumes checks the task template's volumes and each container's volume_mounts as the Admin API v2 does
// (cloud-run-volumes.md §1.2–1.4): Cloud Storage and in-memory volumes; Secret, Cloud SQL, NFS and disk volumes
// are not simulated.
func validateVolumes(tt *runpb.TaskTemplate) error {
	const field = "job.template.template.volumes"
	names := map[string]bool{}
	for i, v := range tt.GetVolumes() {
		f := fmt.Sprintf("%s[%d]", field, i)
		if v.GetName() == "" {
			return invalid("%s.name is required", f)
		}
		if !dnsLabelRE.MatchString(v.Name) {
			return invalid("%s.name %q must be a DNS label (RFC 1123)", f, v.Name)
		}
		if names[v.Name] {
			return invalid("%s.name %q: volume names must be unique", f, v.Name)
		}
		names[v.Name] = true
		switch src := v.VolumeType.(type) {
		case *runpb.Volume_Gcs:
			if tt.ExecutionEnvironment == runpb.ExecutionEnvironment_EXECUTION_ENVIRONMENT_GEN1 {
				return invalid("%s.gcs: Cloud Storage volumes require the second generation execution environment", f)
			}
			if src.Gcs.GetBucket() == "" {
				return invalid("%s.gcs.bucket is required", f)
			}
			for j, o := range src.Gcs.GetMountOptions() {
				k, _, _ := strings.Cut(o, "=")
				if strings.HasPrefix(k, "-") || !gcsfuseFlags[k] {
					return invalid("%s.gcs.mount_options[%d]: %q is not a supported Cloud Storage FUSE flag (give it without the leading --)", f, j, o)
				}
			}
		case *runpb.Volume_EmptyDir:
			switch src.EmptyDir.GetMedium() {
			case runpb.EmptyDirVolumeSource_MEDIUM_UNSPECIFIED, runpb.EmptyDirVolumeSource_MEMORY:
			default:
				return unsupported("empty_dir volumes other than in-memory")
			}
			if l := src.EmptyDir.GetSizeLimit(); l != "" {
				if _, err := parseMemory(l); err != nil {
					return invalid("%s.empty_dir.size_limit %q: want a quantity such as 512Mi", f, l)
				}
			}
		case nil:
			return invalid("%s: exactly one volume type is required", f)
		default:
			return unsupported("volumes other than Cloud Storage and in-memory")
		}
	}
	for i, c := range tt.GetContainers() {
		paths := map[string]bool{}
		for j, m := range c.GetVolumeMounts() {
			f := fmt.Sprintf("job.template.template.containers[%d].volume_mounts[%d]", i, j)
			if m.GetName() == "" || m.GetMountPath() == "" {
				return invalid("%s: name and mount_path are required", f)
			}
			if !names[m.Name] {
				return invalid("%s.name %q: no volume of that name in job.template.template.volumes", f, m.Name)
			}
			p := m.MountPath
			if !path.IsAbs(p) || strings.Contains(p, ":") || path.Clean(p) != p || p == "/" {
				return invalid("%s.mount_path %q must be an absolute path, clean, not '/', and must not contain ':'", f, p)
			}
			for _, d := range []string{"/dev", "/proc", "/sys"} {
				if p == d || strings.HasPrefix(p, d+"/") {
					return invalid("%s.mount_path %q: volumes cannot be mounted at %s or below it", f, p, d)
				}
			}
			if paths[p] {
				return invalid("%s.mount_path %q: the container mounts two volumes at the same path", f, p)
			}
			paths[p] = true
			if sp := m.GetSubPath(); sp != "" && (path.IsAbs(sp) || path.Clean(sp) != sp || strings.HasPrefix(sp, "..")) {
				return invalid("%s.sub_path %q must be a clean relative path inside the volume", f, sp)
			}
		}
	}
	return nil
}

// mounts resolves the container's volume mounts into the task runner's mounts. An error is the attempt's start
// failure, as Cloud Run fails a task whose bucket is missing or not readable by its service account.
func mounts(tt *runpb.Task, c *runpb.Container, buckets Buckets, serviceAccount string) ([]tasks.Mount, error) {
	vols := map[string]*runpb.Volume{}
	for _, v := range tt.GetVolumes() {
		vols[v.Name] = v
	}
	var out []tasks.Mount
	for _, m := range c.GetVolumeMounts() {
		v := vols[m.Name]
		switch src := v.GetVolumeType().(type) {
		case *runpb.Volume_EmptyDir:
			size := int64(0)
			if l := src.EmptyDir.GetSizeLimit(); l != "" {
				size, _ = parseMemory(l)
			}
			out = append(out, tasks.Mount{Target: m.MountPath, Tmpfs: true, SizeBytes: size})
		case *runpb.Volume_Gcs:
			b := src.Gcs.GetBucket()
			if buckets == nil {
				return nil, fmt.Errorf("volume %s: gcpsim has no Cloud Storage", m.Name)
			}
			dir, ok := buckets.BucketDir(b)
			// gcsfuse needs storage.objects.list to mount at all (cloud-run-volumes.md §2).
			if !ok || !buckets.Allowed(b, serviceAccount, "storage.objects.list") {
				return nil, fmt.Errorf("volume %s: mounting Cloud Storage bucket %s failed: OpenBucket: Bad credentials for bucket %s: permission denied (the bucket does not exist or %s lacks storage.objects.list on it)", m.Name, b, b, serviceAccount)
			}
			ro := src.Gcs.GetReadOnly() || !buckets.Allowed(b, serviceAccount, "storage.objects.create")
			sub := ""
			for _, o := range src.Gcs.GetMountOptions() {
				if k, val, _ := strings.Cut(o, "="); k == "only-dir" {
					sub = strings.TrimPrefix(path.Clean("/"+val), "/")
				}
			}
			if m.GetSubPath() != "" {
				sub = path.Join(sub, m.SubPath)
			}
			out = append(out, tasks.Mount{Target: m.MountPath, Source: dir, SubDir: sub, ReadOnly: ro})
		}
	}
	return out, nil
}
