package logging

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	ltype "google.golang.org/genproto/googleapis/logging/type"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Log IDs of a Cloud Run job's logs, URL-encoded as they appear in logName.
const (
	LogStdout = "run.googleapis.com%2Fstdout"
	LogStderr = "run.googleapis.com%2Fstderr"
	LogSystem = "run.googleapis.com%2Fvarlog%2Fsystem"
)

// JobTask names one attempt of one task of a Cloud Run job execution; its methods build the entries Cloud Run
// writes for it (resource type cloud_run_job, the execution, task and instance labels).
type JobTask struct {
	Project, Region, Job, Execution string
	TaskIndex, TaskAttempt          int
	// InstanceID is the instanceId label (a long hex string on Cloud Run); empty leaves it out.
	InstanceID string
	// ContainerName is the container_name label; empty leaves it out.
	ContainerName string
}

func (t JobTask) entry(logID string, ts time.Time) *loggingpb.LogEntry {
	labels := map[string]string{
		"run.googleapis.com/execution_name": t.Execution,
		"run.googleapis.com/task_index":     strconv.Itoa(t.TaskIndex),
		"run.googleapis.com/task_attempt":   strconv.Itoa(t.TaskAttempt),
	}
	if t.InstanceID != "" {
		labels["instanceId"] = t.InstanceID
	}
	if t.ContainerName != "" {
		labels["container_name"] = t.ContainerName
	}
	return &loggingpb.LogEntry{
		LogName: "projects/" + t.Project + "/logs/" + logID,
		Resource: &monitoredres.MonitoredResource{Type: "cloud_run_job", Labels: map[string]string{
			"project_id": t.Project, "job_name": t.Job, "location": t.Region,
		}},
		Timestamp: timestamppb.New(ts),
		Labels:    labels,
	}
}

// Line is one line the task wrote to stdout (LogStdout) or stderr (LogStderr), without its newline. A plain line
// becomes textPayload with no severity; a single-line JSON object becomes jsonPayload, its "severity" key sets the
// entry's severity and its "logging.googleapis.com/labels" object adds labels, as Cloud Run's structured logging does.
func (t JobTask) Line(logID, line string, ts time.Time) *loggingpb.LogEntry {
	e := t.entry(logID, ts)
	if obj, ok := jsonObject(line); ok {
		if sev, ok := obj["severity"].(string); ok {
			if n, ok := ltype.LogSeverity_value[strings.ToUpper(sev)]; ok {
				e.Severity = ltype.LogSeverity(n)
			}
			delete(obj, "severity")
		}
		if labels, ok := obj["logging.googleapis.com/labels"].(map[string]any); ok {
			for k, v := range labels {
				if s, ok := v.(string); ok {
					e.Labels[k] = s
				}
			}
			delete(obj, "logging.googleapis.com/labels")
		}
		if s, err := structpb.NewStruct(obj); err == nil {
			e.Payload = &loggingpb.LogEntry_JsonPayload{JsonPayload: s}
			return e
		}
	}
	e.Payload = &loggingpb.LogEntry_TextPayload{TextPayload: line}
	return e
}

func jsonObject(line string) (map[string]any, bool) {
	s := strings.TrimSpace(line)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, false
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		return nil, false
	}
	return obj, true
}

// System is a platform entry in LogSystem, such as "Container called exit(3)." (see the Cloud Run fact sheet for
// the exact texts and severities).
func (t JobTask) System(sev ltype.LogSeverity, text string, ts time.Time) *loggingpb.LogEntry {
	e := t.entry(LogSystem, ts)
	e.Severity = sev
	e.Payload = &loggingpb.LogEntry_TextPayload{TextPayload: text}
	return e
}
