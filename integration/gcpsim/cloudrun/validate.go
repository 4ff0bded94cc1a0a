package cloudrun

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Defaults Cloud Run fills into a job's task template.
const (
	defaultMaxRetries = 3
	defaultTimeout    = 600 * time.Second
	maxTimeout        = 168 * time.Hour
	defaultCPU        = "1000m"
	defaultMemory     = "512Mi"
	maxTaskCount      = 10000
)

var (
	labelKeyRE   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	labelValueRE = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)
	dnsLabelRE   = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// Namespaces Cloud Run v2 refuses in user labels and annotations.
	reservedPrefixes = []string{"run.googleapis.com", "cloud.googleapis.com", "serving.knative.dev", "autoscaling.knative.dev"}
	// Container contract names the user cannot set.
	reservedEnv = map[string]bool{
		"CLOUD_RUN_JOB": true, "CLOUD_RUN_EXECUTION": true, "CLOUD_RUN_TASK_INDEX": true,
		"CLOUD_RUN_TASK_ATTEMPT": true, "CLOUD_RUN_TASK_COUNT": true,
		"PORT": true, "K_SERVICE": true, "K_REVISION": true, "K_CONFIGURATION": true,
	}
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func unsupported(what string) error {
	return status.Errorf(codes.Unimplemented, "gcpsim does not support %s", what)
}

func validateLabels(field string, labels map[string]string) error {
	if len(labels) > 64 {
		return invalid("%s: at most 64 labels are allowed, got %d", field, len(labels))
	}
	for k, v := range labels {
		if reserved(k) {
			return invalid("%s: label %q uses a reserved namespace", field, k)
		}
		if !labelKeyRE.MatchString(k) {
			return invalid("%s: invalid label key %q: keys must start with a lowercase letter and contain only lowercase letters, digits, '_' and '-' (at most 63 characters)", field, k)
		}
		if !labelValueRE.MatchString(v) {
			return invalid("%s: invalid value %q for label %q: values contain only lowercase letters, digits, '_' and '-' (at most 63 characters)", field, v, k)
		}
	}
	return nil
}

func validateAnnotations(field string, ann map[string]string) error {
	for k := range ann {
		if reserved(k) {
			return invalid("%s: annotation %q uses a reserved namespace", field, k)
		}
	}
	return nil
}

func reserved(key string) bool {
	for _, p := range reservedPrefixes {
		if key == p || strings.HasPrefix(key, p+"/") || strings.HasSuffix(strings.SplitN(key, "/", 2)[0], "."+p) {
			return true
		}
	}
	return false
}

// normalizeJob validates a job from CreateJob/UpdateJob and fills in the
// defaults Cloud Run reports back.
func (s *Service) normalizeJob(j *runpb.Job) error {
	if err := validateLabels("job.labels", j.GetLabels()); err != nil {
		return err
	}
	if err := validateAnnotations("job.annotations", j.GetAnnotations()); err != nil {
		return err
	}
	if j.GetStartExecutionToken() != "" || j.GetRunExecutionToken() != "" {
		return unsupported("start_execution_token and run_execution_token")
	}
	et := j.GetTemplate()
	if et == nil {
		return invalid("job.template is required")
	}
	if err := validateLabels("job.template.labels", et.GetLabels()); err != nil {
		return err
	}
	if err := validateAnnotations("job.template.annotations", et.GetAnnotations()); err != nil {
		return err
	}
	if et.TaskCount == 0 {
		et.TaskCount = 1
	}
	if err := validateCounts(et.TaskCount, et.Parallelism); err != nil {
		return err
	}
	tt := et.GetTemplate()
	if tt == nil {
		return invalid("job.template.template is required")
	}
	if tt.Retries == nil {
		tt.Retries = &runpb.TaskTemplate_MaxRetries{MaxRetries: defaultMaxRetries}
	}
	if r := tt.GetMaxRetries(); r < 0 || r > 10 {
		return invalid("job.template.template.max_retries must be between 0 and 10, got %d", r)
	}
	if tt.Timeout == nil {
		tt.Timeout = durationpb.New(defaultTimeout)
	}
	if err := validateTimeout("job.template.template.timeout", tt.Timeout); err != nil {
		return err
	}
	if tt.ServiceAccount == "" {
		tt.ServiceAccount = s.defaultServiceAccount()
	}
	if err := validateContainers(tt.GetContainers()); err != nil {
		return err
	}
	return validateVolumes(tt)
}

func validateCounts(taskCount, parallelism int32) error {
	if taskCount < 1 || taskCount > maxTaskCount {
		return invalid("task_count must be between 1 and %d, got %d", maxTaskCount, taskCount)
	}
	if parallelism < 0 || parallelism > taskCount {
		return invalid("parallelism must be between 0 and task_count (%d), got %d", taskCount, parallelism)
	}
	return nil
}

func validateTimeout(field string, d *durationpb.Duration) error {
	if err := d.CheckValid(); err != nil {
		return invalid("%s: %v", field, err)
	}
	if t := d.AsDuration(); t < time.Second || t > maxTimeout {
		return invalid("%s must be between 1s and %s, got %s", field, maxTimeout, t)
	}
	return nil
}

func validateContainers(cs []*runpb.Container) error {
	if len(cs) == 0 {
		return invalid("job.template.template.containers: at least one container is required")
	}
	if len(cs) > 1 {
		return unsupported("more than one container per task")
	}
	for i, c := range cs {
		field := fmt.Sprintf("job.template.template.containers[%d]", i)
		if c.GetImage() == "" {
			return invalid("%s.image is required", field)
		}
		if c.Name != "" && !dnsLabelRE.MatchString(c.Name) {
			return invalid("%s.name %q must be a DNS label (RFC 1123)", field, c.Name)
		}
		if len(c.GetArgs()) > 1000 {
			return invalid("%s.args: at most 1000 arguments, got %d", field, len(c.Args))
		}
		if err := validateEnv(field+".env", c.GetEnv()); err != nil {
			return err
		}
		if len(c.GetPorts()) > 1 {
			return invalid("%s.ports: at most one port", field)
		}
		for _, p := range c.GetPorts() {
			if p.ContainerPort <= 0 || p.ContainerPort >= 65536 {
				return invalid("%s.ports: container_port must be between 1 and 65535, got %d", field, p.ContainerPort)
			}
		}
		if c.Resources == nil {
			c.Resources = &runpb.ResourceRequirements{}
		}
		if c.Resources.Limits == nil {
			c.Resources.Limits = map[string]string{}
		}
		if c.Resources.Limits["cpu"] == "" {
			c.Resources.Limits["cpu"] = defaultCPU
		}
		if c.Resources.Limits["memory"] == "" {
			c.Resources.Limits["memory"] = defaultMemory
		}
		if _, _, err := parseResources(c.Resources.Limits); err != nil {
			return invalid("%s.resources: %v", field, err)
		}
	}
	return nil
}

func validateEnv(field string, env []*runpb.EnvVar) error {
	if len(env) > 1000 {
		return invalid("%s: at most 1000 variables, got %d", field, len(env))
	}
	for _, e := range env {
		switch {
		case e.GetName() == "":
			return invalid("%s: a variable name is empty", field)
		case strings.Contains(e.Name, "="):
			return invalid("%s: variable name %q must not contain '='", field, e.Name)
		case strings.HasPrefix(e.Name, "X_GOOGLE_"):
			return invalid("%s: variable name %q must not start with X_GOOGLE_", field, e.Name)
		case reservedEnv[e.Name]:
			return invalid("%s: variable name %q is reserved", field, e.Name)
		case len(e.Name) > 32768 || len(e.GetValue()) > 32768:
			return invalid("%s: variable %q is too long", field, e.Name)
		case e.GetValueSource() != nil:
			return unsupported("env values from Secret Manager")
		}
	}
	return nil
}

// parseResources checks a CPU/memory pair against Cloud Run's rules and
// returns the Docker limits.
func parseResources(limits map[string]string) (nanoCPUs, memBytes int64, err error) {
	for k := range limits {
		if k != "cpu" && k != "memory" {
			return 0, 0, fmt.Errorf("unsupported limit %q", k)
		}
	}
	cpu, err := parseCPU(limits["cpu"])
	if err != nil {
		return 0, 0, err
	}
	mem, err := parseMemory(limits["memory"])
	if err != nil {
		return 0, 0, err
	}
	if err := checkCPUMemory(cpu, mem); err != nil {
		return 0, 0, err
	}
	return int64(math.Round(cpu * 1e9)), mem, nil
}

func parseCPU(s string) (float64, error) {
	v, err := 0.0, error(nil)
	if m, ok := strings.CutSuffix(s, "m"); ok {
		var n int64
		n, err = strconv.ParseInt(m, 10, 64)
		v = float64(n) / 1000
	} else {
		v, err = strconv.ParseFloat(s, 64)
	}
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("invalid cpu limit %q", s)
	}
	switch {
	case v >= 0.08 && v < 1:
	case v == 1 || v == 2 || v == 4 || v == 6 || v == 8:
	default:
		return 0, fmt.Errorf("cpu limit %q is not supported: use 0.08 to less than 1, or 1, 2, 4, 6 or 8", s)
	}
	return v, nil
}

var memSuffixes = []struct {
	suffix string
	mult   int64
}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}}

func parseMemory(s string) (int64, error) {
	mult, num := int64(1), s
	for _, m := range memSuffixes {
		if n, ok := strings.CutSuffix(s, m.suffix); ok {
			mult, num = m.mult, n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid memory limit %q", s)
	}
	return n * mult, nil
}

// checkCPUMemory applies the CPU ↔ memory table of Cloud Run for jobs: at least 512 MiB at any CPU
// (reference/cloud-run-behaviour.md §3.5.1, §3.5.2; services allow 128 MiB, jobs do not).
func checkCPUMemory(cpu float64, mem int64) error {
	const mi, gi = int64(1 << 20), int64(1 << 30)
	lo, hi := 512*mi, 4*gi
	switch {
	case cpu < 0.5:
		hi = 512 * mi
	case cpu < 1:
		hi = 1 * gi
	case cpu == 2:
		hi = 8 * gi
	case cpu == 4:
		lo, hi = 2*gi, 16*gi
	case cpu == 6:
		lo, hi = 4*gi, 24*gi
	case cpu == 8:
		lo, hi = 4*gi, 32*gi
	}
	if mem < lo || mem > hi {
		return fmt.Errorf("memory %d MiB is outside the range allowed with %g CPU (%d MiB to %d MiB)", mem/mi, cpu, lo/mi, hi/mi)
	}
	return nil
}

// applyOverrides returns the execution template of one run: the job's task
// template with RunJob's overrides applied, and the task count.
func applyOverrides(et *runpb.ExecutionTemplate, tt *runpb.TaskTemplate, o *runpb.RunJobRequest_Overrides) (int32, error) {
	count := et.GetTaskCount()
	if o == nil {
		return count, nil
	}
	if o.GetDelayExecution() {
		return 0, unsupported("delay_execution")
	}
	if o.TaskCount != 0 {
		count = o.TaskCount
		if err := validateCounts(count, 0); err != nil {
			return 0, invalid("overrides.%v", status.Convert(err).Message())
		}
	}
	if o.Timeout != nil {
		if err := validateTimeout("overrides.timeout", o.Timeout); err != nil {
			return 0, err
		}
		tt.Timeout = o.Timeout
	}
	for _, co := range o.GetContainerOverrides() {
		c := findContainer(tt.Containers, co.Name)
		if c == nil {
			return 0, invalid("overrides.container_overrides: no container named %q", co.Name)
		}
		if co.ClearArgs && len(co.Args) > 0 {
			return 0, invalid("overrides.container_overrides: clear_args and args are mutually exclusive")
		}
		if co.ClearArgs {
			c.Args = nil
		} else if len(co.Args) > 0 {
			c.Args = co.Args
		}
		if err := validateEnv("overrides.container_overrides.env", co.Env); err != nil {
			return 0, err
		}
		c.Env = mergeEnv(c.Env, co.Env)
		if len(c.Args) > 1000 || len(c.Env) > 1000 {
			return 0, invalid("overrides.container_overrides: at most 1000 args and 1000 env variables")
		}
	}
	return count, nil
}

func findContainer(cs []*runpb.Container, name string) *runpb.Container {
	for _, c := range cs {
		if c.Name == name || (name == "" && len(cs) == 1) {
			return c
		}
	}
	return nil
}

// mergeEnv replaces variables by name and appends new ones in order.
func mergeEnv(base, over []*runpb.EnvVar) []*runpb.EnvVar {
	out := append([]*runpb.EnvVar{}, base...)
	for _, e := range over {
		replaced := false
		for i, b := range out {
			if b.Name == e.Name {
				out[i], replaced = e, true
			}
		}
		if !replaced {
			out = append(out, e)
		}
	}
	return out
}
