package executionevents

import (
	"errors"
	"fmt"
	"github.com/runsock/runsock/executiondoc"
	"testing"
	"time"
)

// systemEntry builds a LogEntry as a log sink publishes it (proto3 JSON, camelCase).
func systemEntry(exec, insertID, text string, at time.Time) []byte {
	return fmt.Appendf(nil, `{"insertId":%q,"labels":{"instanceId":"00ab","run.googleapis.com/execution_name":%q,"run.googleapis.com/task_attempt":"0","run.googleapis.com/task_index":"0"},"logName":"projects/p/logs/run.googleapis.com%%2Fvarlog%%2Fsystem","receiveTimestamp":%q,"resource":{"labels":{"job_name":"rs-abc","location":"us-central1","project_id":"p"},"type":"cloud_run_job"},"severity":"INFO","textPayload":%q,"timestamp":%q}`,
		insertID, exec, at.Format(time.RFC3339Nano), text, at.Format(time.RFC3339Nano))
}

func TestParseEntry(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 123456000, time.UTC)
	cases := []struct {
		text             string
		kind             executiondoc.Kind
		exitCode, signal int
		err              error
	}{
		{"Container called exit(3).", executiondoc.KindExit, 3, 0, nil},
		{"Container called exit(0).", executiondoc.KindExit, 0, 0, nil},
		{"Container terminated on signal 9.", executiondoc.KindSignal, 137, 9, nil},
		{"Memory limit of 512 MiB exceeded with 530 MiB used. Consider increasing the memory limit, see https://cloud.google.com/run/docs/configuring/memory-limits", executiondoc.KindOOM, 137, 9, nil},
		{"Terminating task because it has reached the maximum timeout of 2 seconds.", executiondoc.KindTimeout, 137, 9, nil},
		{"Stopping task rs-abc-x1y2z-task0 because its execution was cancelled.", executiondoc.KindCancelled, 137, 9, nil},
		{"Starting task rs-abc-x1y2z-task0, attempt 0.", "", 0, 0, ErrNotAnOutcome},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			o, err := ParseEntry(systemEntry("rs-abc-x1y2z", "id1", c.text, at))
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if c.err != nil {
				return
			}
			if o.Kind != c.kind || o.ExitCode != c.exitCode || o.Signal != c.signal || o.Execution != "rs-abc-x1y2z" || o.Job != "rs-abc" || !o.Time.Equal(at) {
				t.Fatalf("got %+v", o)
			}
		})
	}
}

func TestParseEntryRejectsWhatIsNotASystemEntry(t *testing.T) {
	for name, data := range map[string]string{
		"not json":     `{"insertId":`,
		"stdout entry": `{"logName":"projects/p/logs/run.googleapis.com%2Fstdout","resource":{"type":"cloud_run_job"},"labels":{"run.googleapis.com/execution_name":"e"},"textPayload":"Container called exit(1).","timestamp":"2026-01-01T00:00:00Z"}`,
		"service":      `{"logName":"projects/p/logs/run.googleapis.com%2Fvarlog%2Fsystem","resource":{"type":"cloud_run_revision"},"labels":{"run.googleapis.com/execution_name":"e"},"textPayload":"Container called exit(1).","timestamp":"2026-01-01T00:00:00Z"}`,
		"no execution": `{"logName":"projects/p/logs/run.googleapis.com%2Fvarlog%2Fsystem","resource":{"type":"cloud_run_job"},"textPayload":"Container called exit(1).","timestamp":"2026-01-01T00:00:00Z"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseEntry([]byte(data)); err == nil || errors.Is(err, ErrNotAnOutcome) {
				t.Fatalf("err = %v, want a malformed-entry error", err)
			}
		})
	}
}
