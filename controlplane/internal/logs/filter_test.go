package logs

import (
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestOutputFilter(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name       string
		q          Query
		withSystem bool
		want       []string
		notWant    []string
	}{
		{"stdout only", Query{Executions: []string{"projects/p/locations/r/jobs/j/executions/j-abcde"}, Stdout: true}, false,
			[]string{`resource.type="cloud_run_job"`, `labels."run.googleapis.com/execution_name"="j-abcde"`,
				`logName="projects/p/logs/run.googleapis.com%2Fstdout"`},
			[]string{"stderr", "varlog", "timestamp"}},
		{"both streams, bounds, system", Query{Executions: []string{"a-1", "a-2"}, Stdout: true, Stderr: true, Since: since, Until: since.Add(time.Second)}, true,
			[]string{`"a-1" OR labels."run.googleapis.com/execution_name"="a-2"`, `%2Fstderr"`, `timestamp>="2026-01-02T03:04:05.000000006Z"`,
				`timestamp<="2026-01-02T03:04:06.000000006Z") OR logName="projects/p/logs/run.googleapis.com%2Fvarlog%2Fsystem"`},
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := outputFilter("p", tc.q, tc.withSystem)
			for _, w := range tc.want {
				if !strings.Contains(f, w) {
					t.Errorf("filter %s\nlacks %s", f, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(f, w) {
					t.Errorf("filter %s\nhas %s", f, w)
				}
			}
		})
	}
}

func TestIsExitAndStream(t *testing.T) {
	sys := logName("p", logSystem)
	lbl := map[string]string{labelExecution: "j-abcde"}
	tests := []struct {
		name string
		e    *loggingpb.LogEntry
		exit bool
		strm int
	}{
		{"exit 0", &loggingpb.LogEntry{LogName: sys, Labels: lbl, Payload: &loggingpb.LogEntry_TextPayload{TextPayload: "Container called exit(0)."}}, true, 0},
		{"signal", &loggingpb.LogEntry{LogName: sys, Labels: lbl, Payload: &loggingpb.LogEntry_TextPayload{TextPayload: "Container terminated on signal 9."}}, true, 0},
		{"other execution", &loggingpb.LogEntry{LogName: sys, Labels: map[string]string{labelExecution: "x"}, Payload: &loggingpb.LogEntry_TextPayload{TextPayload: "Container called exit(0)."}}, false, 0},
		{"stdout look-alike", &loggingpb.LogEntry{LogName: logName("p", logStdout), Labels: lbl, Payload: &loggingpb.LogEntry_TextPayload{TextPayload: "Container called exit(0)."}}, false, Stdout},
		{"stderr", &loggingpb.LogEntry{LogName: logName("p", logStderr), Labels: lbl}, false, Stderr},
	}
	for _, tc := range tests {
		if got := isExit("p", tc.e, "projects/p/locations/r/jobs/j/executions/j-abcde"); got != tc.exit {
			t.Errorf("%s: isExit = %v", tc.name, got)
		}
		if got := streamOf("p", tc.e); got != tc.strm {
			t.Errorf("%s: stream = %d, want %d", tc.name, got, tc.strm)
		}
	}
}

func TestDedupe(t *testing.T) {
	d := newDedupe(2)
	for i, tc := range []struct {
		id   string
		want bool
	}{{"a", true}, {"a", false}, {"b", true}, {"c", true}, {"a", false}, {"b", false}, {"d", true}, {"", true}, {"", true}} {
		if got := d.first(tc.id); got != tc.want {
			t.Errorf("step %d first(%q) = %v, want %v", i, tc.id, got, tc.want)
		}
	}
}

func TestPayload(t *testing.T) {
	js, _ := structpb.NewStruct(map[string]any{"message": "hi"})
	for _, tc := range []struct {
		e    *loggingpb.LogEntry
		want string
	}{
		{&loggingpb.LogEntry{Payload: &loggingpb.LogEntry_TextPayload{TextPayload: "out"}}, "out\n"},
		{&loggingpb.LogEntry{Payload: &loggingpb.LogEntry_TextPayload{TextPayload: ""}}, "\n"},
		{&loggingpb.LogEntry{Payload: &loggingpb.LogEntry_JsonPayload{JsonPayload: js}}, `{"message":"hi"}` + "\n"},
	} {
		if got := strings.ReplaceAll(string(payload(tc.e)), " ", ""); got != tc.want {
			t.Errorf("payload = %q, want %q", got, tc.want)
		}
	}
}
