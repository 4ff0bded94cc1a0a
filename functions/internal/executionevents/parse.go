package executionevents

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Kinds of outcome, from the most to the least precise.
const (
	KindOOM       = "oom"       // "Memory limit of … exceeded …"
	KindTimeout   = "timeout"   // "Terminating task because it has reached the maximum timeout of N seconds."
	KindExit      = "exit"      // "Container called exit(N)."
	KindCancelled = "cancelled" // the execution was cancelled
	KindSignal    = "signal"    // "Container terminated on signal N."
)

// precision orders kinds: an outcome of higher precision is never replaced by a lower one.
var precision = map[string]int{KindOOM: 5, KindTimeout: 4, KindExit: 3, KindCancelled: 2, KindSignal: 1}

// Outcome is what Cloud Run's system log says about how an execution's task ended.
type Outcome struct {
	Execution string    `firestore:"-"`
	Job       string    `firestore:"job"`
	Kind      string    `firestore:"kind"`
	ExitCode  int       `firestore:"exitCode"`
	Signal    int       `firestore:"signal"`
	Message   string    `firestore:"message"`
	Time      time.Time `firestore:"time"`
	InsertID  string    `firestore:"insertId"`
}

// Better reports whether o should replace cur. The order is total (precision, then time, then insertId), so applying
// any permutation of the same entries, with repeats, ends with the same outcome.
func (o Outcome) Better(cur Outcome) bool {
	if precision[o.Kind] != precision[cur.Kind] {
		return precision[o.Kind] > precision[cur.Kind]
	}
	if !o.Time.Equal(cur.Time) {
		return o.Time.After(cur.Time)
	}
	return o.InsertID > cur.InsertID
}

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
func ParseEntry(data []byte) (Outcome, error) {
	var e logEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return Outcome{}, fmt.Errorf("decode log entry: %w", err)
	}
	if e.Resource.Type != "cloud_run_job" {
		return Outcome{}, fmt.Errorf("resource type %q is not cloud_run_job", e.Resource.Type)
	}
	if !strings.HasSuffix(e.LogName, "/logs/run.googleapis.com%2Fvarlog%2Fsystem") {
		return Outcome{}, fmt.Errorf("log %q is not Cloud Run's system log", e.LogName)
	}
	exec := e.Labels["run.googleapis.com/execution_name"]
	if exec == "" {
		return Outcome{}, errors.New("entry has no run.googleapis.com/execution_name label")
	}
	if e.Timestamp.IsZero() {
		return Outcome{}, errors.New("entry has no timestamp")
	}
	// Firestore keeps microseconds: truncate so a stored outcome compares equal to a redelivery of itself.
	at := e.Timestamp.UTC().Truncate(time.Microsecond)
	o := Outcome{Execution: exec, Job: e.Resource.Labels["job_name"], Message: e.TextPayload, Time: at, InsertID: e.InsertID}
	text := e.TextPayload
	switch {
	case reExit.MatchString(text):
		o.Kind = KindExit
		o.ExitCode, _ = strconv.Atoi(reExit.FindStringSubmatch(text)[1])
	case reOOM.MatchString(text):
		o.Kind, o.ExitCode, o.Signal = KindOOM, 137, 9
	case reTimeout.MatchString(text):
		o.Kind, o.ExitCode, o.Signal = KindTimeout, 137, 9
	case reSignal.MatchString(text):
		o.Kind = KindSignal
		o.Signal, _ = strconv.Atoi(reSignal.FindStringSubmatch(text)[1])
		o.ExitCode = 128 + o.Signal
	case reCancel.MatchString(text):
		o.Kind, o.ExitCode, o.Signal = KindCancelled, 137, 9
	default:
		return Outcome{}, ErrNotAnOutcome
	}
	return o, nil
}
