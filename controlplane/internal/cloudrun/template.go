package cloudrun

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/moby/moby/api/types/mount"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// Labels runsock puts on every job it manages.
const (
	LabelManagedBy = "managed-by"
	ManagedByValue = "runsock"
	LabelTemplate  = "runsock-template"
)

// containerName is the name of the single container in every job; overrides address it by this name.
const containerName = "main"

// Template is everything about a launch that RunJob overrides cannot carry. Launches with equal templates share
// one Job. Fields are part of the hash: adding one changes every job ID, which only costs re-creating jobs.
type Template struct {
	Image          string   `json:"image"`
	Entrypoint     []string `json:"entrypoint,omitempty"`
	WorkingDir     string   `json:"workingDir,omitempty"`
	CPU            string   `json:"cpu,omitempty"`
	MemoryBytes    int64    `json:"memoryBytes,omitempty"`
	ServiceAccount string   `json:"serviceAccount,omitempty"`
	TimeoutSeconds int64    `json:"timeoutSeconds"`
	// Volumes are the container's mounts: RunJob overrides cannot change volumes, so a set of mounts is part of
	// the template (docs/volumes.md says why this shape). Bucket is the volumes bucket when any is a volume.
	Volumes []TemplateVolume `json:"volumes,omitempty"`
	Bucket  string           `json:"bucket,omitempty"`
}

// TemplateVolume is one mount of a launch template: a prefix of the volumes bucket (a Cloud Storage volume with
// only-dir) or, with Memory, an in-memory volume of SizeBytes (0 = Cloud Run's default, half the memory).
type TemplateVolume struct {
	Path      string `json:"path"`
	Prefix    string `json:"prefix,omitempty"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	Memory    bool   `json:"memory,omitempty"`
	SizeBytes int64  `json:"sizeBytes,omitempty"`
}

// TemplateFor derives the launch template of spec under the driver's configuration.
func TemplateFor(spec containers.LaunchSpec, serviceAccount string, timeout time.Duration) Template {
	var vols []TemplateVolume
	for _, m := range spec.Mounts {
		if m.DockerSocket() {
			continue // served by the container's agent over its link, not mounted by Cloud Run
		}
		v := TemplateVolume{Path: m.MountPath(), ReadOnly: m.ReadOnly}
		if m.Type == mount.TypeTmpfs {
			v.Memory, v.SizeBytes = true, m.SizeBytes
		} else {
			v.Prefix = m.Prefix
		}
		vols = append(vols, v)
	}
	return Template{
		Volumes:        vols,
		Image:          spec.Image,
		Entrypoint:     spec.Entrypoint,
		WorkingDir:     spec.WorkingDir,
		CPU:            spec.CPU,
		MemoryBytes:    spec.MemoryBytes,
		ServiceAccount: serviceAccount,
		TimeoutSeconds: int64(timeout / time.Second),
	}
}

// Hash is the template's stable identity: hex SHA-256 of its canonical JSON encoding.
func (t Template) Hash() string {
	b, err := json.Marshal(t) // struct field order is fixed, so the encoding is canonical
	if err != nil {
		panic(fmt.Sprintf("cloudrun: encoding a template cannot fail: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// JobID is the job's ID: "rs-" and 20 hex digits of the hash. It is a valid Cloud Run job ID (lowercase
// alphanumerics and dashes, starts with a letter, 23 characters, leaving room for execution suffixes).
func (t Template) JobID() string { return "rs-" + t.Hash()[:20] }

var jobIDPattern = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// validJobID reports whether id satisfies Cloud Run's job ID rules.
func validJobID(id string) bool { return jobIDPattern.MatchString(id) }

// memoryLimit formats bytes as a Kubernetes quantity Cloud Run accepts, rounding up to whole MiB.
func memoryLimit(bytes int64) string {
	const mib = 1 << 20
	return strconv.FormatInt((bytes+mib-1)/mib, 10) + "Mi"
}

// job builds the Job resource for t.
func (t Template) job() *runpb.Job {
	limits := map[string]string{}
	if t.CPU != "" {
		limits["cpu"] = t.CPU
	}
	if t.MemoryBytes > 0 {
		limits["memory"] = memoryLimit(t.MemoryBytes)
	}
	c := &runpb.Container{
		Name:       containerName,
		Image:      t.Image,
		Command:    t.Entrypoint,
		WorkingDir: t.WorkingDir,
	}
	if len(limits) > 0 {
		c.Resources = &runpb.ResourceRequirements{Limits: limits}
	}
	var volumes []*runpb.Volume
	for i, v := range t.Volumes {
		name := "v" + strconv.Itoa(i)
		c.VolumeMounts = append(c.VolumeMounts, &runpb.VolumeMount{Name: name, MountPath: v.Path})
		if v.Memory {
			src := &runpb.EmptyDirVolumeSource{Medium: runpb.EmptyDirVolumeSource_MEMORY}
			if v.SizeBytes > 0 {
				src.SizeLimit = memoryLimit(v.SizeBytes)
			}
			volumes = append(volumes, &runpb.Volume{Name: name, VolumeType: &runpb.Volume_EmptyDir{EmptyDir: src}})
			continue
		}
		volumes = append(volumes, &runpb.Volume{Name: name, VolumeType: &runpb.Volume_Gcs{Gcs: &runpb.GCSVolumeSource{
			Bucket: t.Bucket, ReadOnly: v.ReadOnly,
			MountOptions: []string{"only-dir=" + strings.TrimSuffix(v.Prefix, "/")},
		}}})
	}
	return &runpb.Job{
		Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelTemplate: t.Hash()[:63]},
		Template: &runpb.ExecutionTemplate{
			TaskCount: 1,
			Template: &runpb.TaskTemplate{
				Containers:     []*runpb.Container{c},
				Retries:        &runpb.TaskTemplate_MaxRetries{MaxRetries: 0},
				Timeout:        durationpb.New(time.Duration(t.TimeoutSeconds) * time.Second),
				ServiceAccount: t.ServiceAccount,
				Volumes:        volumes,
			},
		},
	}
}

// overrides builds the RunJob overrides that carry one launch's command and environment.
func overrides(spec containers.LaunchSpec, timeout time.Duration) *runpb.RunJobRequest_Overrides {
	co := &runpb.RunJobRequest_Overrides_ContainerOverride{
		Name: containerName,
		Args: spec.Args,
		// An empty command must not fall back to the image's CMD: the merge of image config and user command
		// has already happened (Docker's rules), so "no args" means none.
		ClearArgs: len(spec.Args) == 0,
	}
	for _, kv := range spec.Env {
		k, v, ok := cutEnv(kv)
		if !ok {
			continue // Docker leaves a bare KEY unset in the container
		}
		co.Env = append(co.Env, &runpb.EnvVar{Name: k, Values: &runpb.EnvVar_Value{Value: v}})
	}
	if spec.Timeout > 0 {
		timeout = spec.Timeout
	}
	return &runpb.RunJobRequest_Overrides{
		ContainerOverrides: []*runpb.RunJobRequest_Overrides_ContainerOverride{co},
		TaskCount:          1,
		Timeout:            durationpb.New(timeout),
	}
}

func cutEnv(kv string) (key, value string, ok bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}
