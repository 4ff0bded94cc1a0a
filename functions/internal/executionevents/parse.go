package executionevents

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/runsock/runsock/executiondoc"
)

// ErrNotAnOutcome marks a well-formed entry that says nothing about how a task ended (a start message, say).
var ErrNotAnOutcome = errors.New("not an exit entry")

var (
	reExit    = regexp.MustCompile(`^Container called exit\((\d+)\)\.`)
	reSignal  = regexp.MustCompile(`^Container terminated on signal (\d+)\.`)
	reOOM     = regexp.MustCompile(`^Memory limit of \d+ MiB exceeded`)
	reTimeout = regexp.MustCompile(`^Terminating task because it has reached the maximum timeout of (\d+) seconds\.`)
	reCancel  = regexp.MustCompile(`(?i)\bcancel`)
)

// logEntry is the part of a LogEntry (proto3 JSON, as a log sink publishes it) this package reads.
type logEntry struct {
	InsertID    string            `json:"insertId"`
	LogName     string            `json:"logName"`
	TextPayload string            `json:"textPayload"`
	Timestamp   time.Time         `json:"timestamp"`
	Labels      map[string]string `json:"labels"`
	Resource    struct {
		Type   string            `json:"type"`
		Labels map[string]string `json:"labels"`
	} `json:"resource"`
}

// ParseEntry reads one LogEntry JSON. It returns ErrNotAnOutcome for system entries that do not end a task, and
// another error for anything malformed or not a Cloud Run job system entry.
func ParseEntry(data []byte) (executiondoc.Outcome, error) {
	var e logEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return executiondoc.Outcome{}, fmt.Errorf("decode log entry: %w", err)
	}
	if e.Resource.Type != "cloud_run_job" {
		return executiondoc.Outcome{}, fmt.Errorf("resource type %q is not cloud_run_job", e.Resource.Type)
	}
	if !strings.HasSuffix(e.LogName, "/logs/run.googleapis.com%2Fvarlog%2Fsystem") {
		return executiondoc.Outcome{}, fmt.Errorf("log %q is not Cloud Run's system log", e.LogName)
	}
	exec := e.Labels["run.googleapis.com/execution_name"]
	if exec == "" {
		return executiondoc.Outcome{}, errors.New("entry has no run.googleapis.com/execution_name label")
	}
	if e.Timestamp.IsZero() {
		return executiondoc.Outcome{}, errors.New("entry has no timestamp")
	}
	// Firestore keeps microseconds: truncate so a stored outcome compares equal to a redelivery of itself.
	at := e.Timestamp.UTC().Truncate(time.Microsecond)
	o := executiondoc.Outcome{Execution: exec, Job: e.Resource.Labels["job_name"], Message: e.TextPayload, Time: at, InsertID: e.InsertID}
	text := e.TextPayload
	var err error
	switch {
	case reExit.MatchString(text):
		o.Kind = executiondoc.KindExit
		if o.ExitCode, err = number(reExit.FindStringSubmatch(text)[1], 0, 255); err != nil {
			return executiondoc.Outcome{}, fmt.Errorf("exit code: %w", err)
		}
	case reOOM.MatchString(text):
		o.Kind, o.ExitCode, o.Signal = executiondoc.KindOOM, 137, 9
	case reTimeout.MatchString(text):
		o.Kind, o.ExitCode, o.Signal = executiondoc.KindTimeout, 137, 9
	case reSignal.MatchString(text):
		o.Kind = executiondoc.KindSignal
		if o.Signal, err = number(reSignal.FindStringSubmatch(text)[1], 1, 127); err != nil {
			return executiondoc.Outcome{}, fmt.Errorf("signal: %w", err)
		}
		o.ExitCode = 128 + o.Signal
	case reCancel.MatchString(text):
		o.Kind, o.ExitCode, o.Signal = executiondoc.KindCancelled, 137, 9
	default:
		return executiondoc.Outcome{}, ErrNotAnOutcome
	}
	return o, nil
}

// number reads the decimal digits d, which must make a number in [lo, hi]: an exit code or signal out of range is
// a malformed entry, never a code of success.
func number(d string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(d)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s is not in [%d, %d]", d, lo, hi)
	}
	return n, nil
}
