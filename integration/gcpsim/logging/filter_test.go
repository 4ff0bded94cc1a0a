package logging

import (
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	ltype "google.golang.org/genproto/googleapis/logging/type"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func sampleEntry() *loggingpb.LogEntry {
	return &loggingpb.LogEntry{
		LogName:   "projects/p1/logs/run.googleapis.com%2Fstdout",
		Resource:  &monitoredres.MonitoredResource{Type: "cloud_run_job", Labels: map[string]string{"job_name": "job-a", "location": "us-central1", "project_id": "p1"}},
		Timestamp: timestamppb.New(time.Date(2025, 1, 15, 15, 48, 6, 716662000, time.UTC)),
		Severity:  ltype.LogSeverity_WARNING,
		InsertId:  "6787d9a60000000000000001",
		Labels:    map[string]string{"run.googleapis.com/execution_name": "job-a-x7k2p", "run.googleapis.com/task_index": "0"},
		Payload:   &loggingpb.LogEntry_TextPayload{TextPayload: "Container called exit(3)."},
	}
}

func TestFilterMatch(t *testing.T) {
	e := sampleEntry()
	j := sampleEntry()
	payload, _ := structpb.NewStruct(map[string]any{"message": "hello world", "n": 3, "inner": map[string]any{"k": "v"}})
	j.Payload = &loggingpb.LogEntry_JsonPayload{JsonPayload: payload}

	tests := []struct {
		filter string
		entry  *loggingpb.LogEntry
		want   bool
	}{
		{``, e, true},
		{`resource.type = cloud_run_job`, e, true},
		{`resource.type="cloud_run_job"`, e, true},
		{`resource.type = "cloud_run_revision"`, e, false},
		{`resource.labels.job_name = job-a AND resource.labels.location = us-central1`, e, true},
		{`labels."run.googleapis.com/execution_name" = "job-a-x7k2p"`, e, true},
		{`labels."run.googleapis.com/execution_name" = "job-a-other"`, e, false},
		{`labels."run.googleapis.com/execution_name":*`, e, true},
		{`labels.missing:*`, e, false},
		{`labels.missing != "x"`, e, true},
		{`logName = "projects/p1/logs/run.googleapis.com%2Fstdout"`, e, true},
		{`logName:"stderr"`, e, false},
		{`logName:"STDOUT"`, e, true},
		{`severity >= DEFAULT`, e, true},
		{`severity >= WARNING`, e, true},
		{`severity > WARNING`, e, false},
		{`severity < error`, e, true},
		{`severity = 400`, e, true},
		{`timestamp >= "2025-01-15T15:48:06Z"`, e, true},
		{`timestamp > "2025-01-15T15:48:07Z"`, e, false},
		{`timestamp<"2025-01-16"`, e, true},
		{`insertId = "6787d9a60000000000000001"`, e, true},
		{`textPayload =~ "^Container called exit\\([0-9]+\\)\\.$"`, e, true},
		{`textPayload !~ "exit"`, e, false},
		{`textPayload:"called EXIT"`, e, true},
		{`textPayload = "Container called exit(3)."`, e, true},
		{`NOT textPayload:"exit"`, e, false},
		{`-textPayload:"exit"`, e, false},
		{`-textPayload:"nothing"`, e, true},
		{`resource.type = x OR severity = WARNING`, e, true},
		{`(resource.type = x OR severity = WARNING) AND labels."run.googleapis.com/task_index" = "1"`, e, false},
		// OR binds tighter than AND: a AND (b OR c).
		{`resource.type = cloud_run_job AND severity = ERROR OR severity = WARNING`, e, true},
		{`resource.type = nope AND severity = ERROR OR severity = WARNING`, e, false},
		{"resource.type=cloud_run_job\nresource.labels.job_name=job-a severity>=DEFAULT", e, true},
		{"resource.type=cloud_run_job\nresource.labels.job_name=job-b severity>=DEFAULT", e, false},
		{`jsonPayload.message:"world"`, j, true},
		{`jsonPayload.n > 2`, j, true},
		{`jsonPayload.n > 10`, j, false},
		{`jsonPayload.inner.k = v`, j, true},
		{`textPayload:*`, j, false},
		{`severity = (ERROR OR WARNING)`, e, true},
		{`severity=(ERROR OR INFO)`, e, false},
		{`logName = ("projects/p1/logs/run.googleapis.com%2Fstderr" OR "projects/p1/logs/run.googleapis.com%2Fstdout") resource.type = cloud_run_job`, e, true},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			f, err := ParseFilter(tt.filter)
			if err != nil {
				t.Fatalf("ParseFilter: %v", err)
			}
			if got := f.Match(tt.entry); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterRejects(t *testing.T) {
	long := make([]byte, MaxFilterLen+1)
	for i := range long {
		long[i] = ' '
	}
	for _, f := range []string{
		`hello`,
		`"bare text"`,
		`severity = LOUD`,
		`timestamp > "yesterday"`,
		`foo.bar = x`,
		`textPayload =~ "("`,
		`(severity = ERROR`,
		`severity = ERROR)`,
		`AND severity = ERROR`,
		`severity = ERROR OR`,
		`severity = (ERROR INFO)`,
		`severity = (ERROR OR`,
		`severity = ()`,
		`textPayload = "unterminated`,
		`severity =`,
		string(long),
	} {
		t.Run(f[:min(len(f), 40)], func(t *testing.T) {
			if _, err := ParseFilter(f); !errors.Is(err, ErrInvalidFilter) {
				t.Errorf("ParseFilter(%q) error = %v, want ErrInvalidFilter", f, err)
			}
		})
	}
}

func TestFilterRegexpEscapes(t *testing.T) {
	e := sampleEntry() // "Container called exit(3)."
	for f, want := range map[string]bool{
		`textPayload=~"^Container called exit\(3\)\.$"`:    true,
		`textPayload=~"^Container called exit\\(3\\)\\.$"`: true,
		`textPayload=~"exit\(\d\)"`:                        true,
		`textPayload=~"exit\(4\)"`:                         false,
		`textPayload="Container called exit(3)."`:          true,
		`textPayload="Container \"called\""`:               false,
	} {
		p, err := ParseFilter(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if got := p.Match(e); got != want {
			t.Errorf("%s: Match = %v, want %v", f, got, want)
		}
	}
}
