package tasks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	ltype "google.golang.org/genproto/googleapis/logging/type"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// LogWriter receives the log entries of task containers. The entries carry no
// insertId and no receiveTimestamp: the writer assigns them at ingestion.
type LogWriter interface {
	Ingest(entries ...*loggingpb.LogEntry)
}

// Log IDs as Cloud Run writes them (URL-encoded in logName).
const (
	LogStdout = "run.googleapis.com/stdout"
	LogStderr = "run.googleapis.com/stderr"
	LogSystem = "run.googleapis.com/varlog/system"
)

// Entry label keys Cloud Run sets on every entry of a job task.
const (
	LabelExecution   = "run.googleapis.com/execution_name"
	LabelTaskIndex   = "run.googleapis.com/task_index"
	LabelTaskAttempt = "run.googleapis.com/task_attempt"
	LabelInstanceID  = "instanceId"
	LabelContainer   = "container_name"
)

// LogName returns projects/{project}/logs/{URL-encoded logID}.
func LogName(project, logID string) string {
	return "projects/" + project + "/logs/" + url.PathEscape(logID)
}

// entryMaker builds entries for one attempt.
type entryMaker struct {
	resource *monitoredres.MonitoredResource
	labels   map[string]string
	project  string
	out      LogWriter
}

func newEntryMaker(s Spec, instanceID string, out LogWriter) *entryMaker {
	labels := map[string]string{
		LabelExecution:   s.Execution,
		LabelTaskIndex:   strconv.Itoa(s.TaskIndex),
		LabelTaskAttempt: strconv.Itoa(s.TaskAttempt),
		LabelInstanceID:  instanceID,
	}
	if s.ContainerName != "" {
		labels[LabelContainer] = s.ContainerName
	}
	return &entryMaker{
		resource: &monitoredres.MonitoredResource{Type: "cloud_run_job", Labels: map[string]string{
			"project_id": s.Project, "job_name": s.Job, "location": s.Region,
		}},
		labels:  labels,
		project: s.Project,
		out:     out,
	}
}

func (m *entryMaker) entry(logID string, ts time.Time, sev ltype.LogSeverity) *loggingpb.LogEntry {
	labels := make(map[string]string, len(m.labels))
	for k, v := range m.labels {
		labels[k] = v
	}
	return &loggingpb.LogEntry{
		LogName:   LogName(m.project, logID),
		Resource:  m.resource,
		Timestamp: timestamppb.New(ts),
		Severity:  sev,
		Labels:    labels,
	}
}

// system writes one varlog/system entry now.
func (m *entryMaker) system(sev ltype.LogSeverity, format string, args ...any) {
	if m.out == nil {
		return
	}
	e := m.entry(LogSystem, time.Now(), sev)
	e.Payload = &loggingpb.LogEntry_TextPayload{TextPayload: fmt.Sprintf(format, args...)}
	m.out.Ingest(e)
}

// line writes one stdout or stderr line. A line holding one JSON object
// becomes a jsonPayload whose "severity" key sets the entry's severity, as
// Cloud Run's structured logging does; anything else is a textPayload.
func (m *entryMaker) line(logID, text string, ts time.Time) {
	if m.out == nil {
		return
	}
	e := m.entry(logID, ts, ltype.LogSeverity_DEFAULT)
	if p, sev, ok := structured(text); ok {
		e.Payload = &loggingpb.LogEntry_JsonPayload{JsonPayload: p}
		e.Severity = sev
	} else {
		e.Payload = &loggingpb.LogEntry_TextPayload{TextPayload: text}
	}
	m.out.Ingest(e)
}

func structured(text string) (*structpb.Struct, ltype.LogSeverity, bool) {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "{") || !strings.HasSuffix(t, "}") {
		return nil, 0, false
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(t), &obj); err != nil {
		return nil, 0, false
	}
	sev := ltype.LogSeverity_DEFAULT
	if s, ok := obj["severity"].(string); ok {
		if v, ok := ltype.LogSeverity_value[strings.ToUpper(s)]; ok {
			sev = ltype.LogSeverity(v)
		}
		delete(obj, "severity")
	}
	p, err := structpb.NewStruct(obj)
	if err != nil {
		return nil, 0, false
	}
	return p, sev, true
}

// lineWriter receives the frames of one stream of `docker logs --timestamps
// --follow` (each frame is "RFC3339NANO SP content") and emits whole lines,
// stamped with the time the Docker Engine read their first byte.
type lineWriter struct {
	mu      sync.Mutex
	logID   string
	m       *entryMaker
	seen    *frameTracker
	pending bytes.Buffer
	firstTS time.Time
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	content := p
	ts := time.Now()
	if i := bytes.IndexByte(p, ' '); i > 0 {
		if t, err := time.Parse(time.RFC3339Nano, string(p[:i])); err == nil {
			ts, content = t, p[i+1:]
			if !w.seen.fresh(t) {
				return len(p), nil
			}
		}
	}
	for len(content) > 0 {
		if w.pending.Len() == 0 {
			w.firstTS = ts
		}
		nl := bytes.IndexByte(content, '\n')
		if nl < 0 {
			w.pending.Write(content)
			break
		}
		w.pending.Write(content[:nl])
		w.flushLocked()
		content = content[nl+1:]
	}
	return len(p), nil
}

// Flush emits a last line that had no newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending.Len() > 0 {
		w.flushLocked()
	}
}

func (w *lineWriter) flushLocked() {
	text := strings.TrimSuffix(w.pending.String(), "\r")
	w.pending.Reset()
	w.m.line(w.logID, text, w.firstTS)
}

// frameTracker remembers the last frame timestamp read, so that a second
// read of the logs (the follow stream of Docker Engine 20.10 can end before
// the last, unterminated line is written) emits only frames not yet seen.
type frameTracker struct {
	mu     sync.Mutex
	last   time.Time
	atLast int // frames seen with timestamp == last
	replay bool
	skip   int // frames at last still to skip on replay
}

func (f *frameTracker) fresh(ts time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.replay {
		if ts.Before(f.last) {
			return false
		}
		if ts.Equal(f.last) && f.skip > 0 {
			f.skip--
			return false
		}
	}
	if ts.Equal(f.last) {
		f.atLast++
	} else if ts.After(f.last) {
		f.last, f.atLast = ts, 1
	}
	return true
}

// startReplay prepares a second read and returns its "since" value.
func (f *frameTracker) startReplay() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replay, f.skip = true, f.atLast
	if f.last.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d.%09d", f.last.Unix(), f.last.Nanosecond())
}
