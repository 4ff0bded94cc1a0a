package logging

import (
	"testing"
	"time"

	ltype "google.golang.org/genproto/googleapis/logging/type"
)

func TestJobTaskEntries(t *testing.T) {
	task := JobTask{Project: "p", Region: "us-central1", Job: "job", Execution: "job-abcde", TaskIndex: 2, TaskAttempt: 0}
	ts := time.Now()
	tests := []struct {
		name     string
		line     string
		wantText string
		wantJSON string // jsonPayload.message
		wantSev  ltype.LogSeverity
		wantLbl  string // value of label "k"
	}{
		{name: "plain", line: "hello", wantText: "hello"},
		{name: "not an object", line: `["a"]`, wantText: `["a"]`},
		{name: "broken json", line: `{"a":`, wantText: `{"a":`},
		{name: "structured", line: `{"severity":"error","message":"boom","logging.googleapis.com/labels":{"k":"v"}}`, wantJSON: "boom", wantSev: ltype.LogSeverity_ERROR, wantLbl: "v"},
		{name: "structured without severity", line: `{"message":"m"}`, wantJSON: "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := task.Line(LogStdout, tt.line, ts)
			if e.GetTextPayload() != tt.wantText {
				t.Errorf("textPayload = %q, want %q", e.GetTextPayload(), tt.wantText)
			}
			if got := e.GetJsonPayload().GetFields()["message"].GetStringValue(); got != tt.wantJSON {
				t.Errorf("jsonPayload.message = %q, want %q", got, tt.wantJSON)
			}
			if _, ok := e.GetJsonPayload().GetFields()["severity"]; ok {
				t.Error("severity left in jsonPayload")
			}
			if e.Severity != tt.wantSev || e.Labels["k"] != tt.wantLbl {
				t.Errorf("severity %v labels %v", e.Severity, e.Labels)
			}
			f, _ := ParseFilter(`resource.type = cloud_run_job resource.labels.job_name = job labels."run.googleapis.com/execution_name" = job-abcde labels."run.googleapis.com/task_index" = "2" logName = "projects/p/logs/run.googleapis.com%2Fstdout"`)
			if !f.Match(e) {
				t.Error("entry does not match the gcloud-style filter for its task")
			}
		})
	}
	sys := task.System(ltype.LogSeverity_WARNING, "Container terminated on signal 9.", ts)
	if f, _ := ParseFilter(`logName:"varlog%2Fsystem" severity=WARNING textPayload=~"^Container terminated on signal [0-9]+\.$"`); !f.Match(sys) {
		t.Errorf("system entry %v does not match", sys)
	}
}
