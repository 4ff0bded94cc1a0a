package logs

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
)

// Log IDs Cloud Run writes job output under; URL-encoded in logName.
const (
	logStdout = "run.googleapis.com/stdout"
	logStderr = "run.googleapis.com/stderr"
	logSystem = "run.googleapis.com/varlog/system"
)

// labelExecution is the entry label naming the execution (its short ID).
const labelExecution = "run.googleapis.com/execution_name"

// Stream numbers, as stdcopy numbers them.
const (
	Stdout = 1
	Stderr = 2
)

func logName(project, id string) string {
	return "projects/" + project + "/logs/" + url.PathEscape(id)
}

func quote(s string) string { return strconv.Quote(s) }

// baseFilter selects the entries of the given executions.
func baseFilter(executions []string) string {
	var ors []string
	for _, e := range executions {
		ors = append(ors, fmt.Sprintf(`labels.%s=%s`, quote(labelExecution), quote(path.Base(e))))
	}
	return `resource.type="cloud_run_job" AND (` + strings.Join(ors, " OR ") + `)`
}

// streamClause selects the requested output streams.
func streamClause(project string, stdout, stderr bool) string {
	var ors []string
	if stdout {
		ors = append(ors, "logName="+quote(logName(project, logStdout)))
	}
	if stderr {
		ors = append(ors, "logName="+quote(logName(project, logStderr)))
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// outputFilter selects output lines of q's executions within q's bounds, and (withSystem) the system entries that
// mark completeness, which are not bounded by Until: the exit entry comes after the last line.
func outputFilter(project string, q Query, withSystem bool) string {
	out := streamClause(project, q.Stdout, q.Stderr)
	if !q.Until.IsZero() {
		out = "(" + out + ` AND timestamp<=` + quote(rfc3339(q.Until)) + ")"
	}
	if withSystem {
		out = "(" + out + " OR logName=" + quote(logName(project, logSystem)) + ")"
	}
	f := baseFilter(q.Executions) + " AND " + out
	if !q.Since.IsZero() {
		f += ` AND timestamp>=` + quote(rfc3339(q.Since))
	}
	return f
}

// systemFilter selects the system entries of q's last execution (where its exit entry is).
func systemFilter(project string, q Query) string {
	return baseFilter(q.Executions[len(q.Executions)-1:]) + " AND logName=" + quote(logName(project, logSystem))
}

var exitPattern = regexp.MustCompile(`^Container (called exit\(-?\d+\)|terminated on signal \d+)\.$`)

// isExit reports whether e is Cloud Run's closing entry for execution (short or full name).
func isExit(project string, e *loggingpb.LogEntry, execution string) bool {
	return e.GetLogName() == logName(project, logSystem) &&
		e.GetLabels()[labelExecution] == path.Base(execution) &&
		exitPattern.MatchString(strings.TrimSpace(e.GetTextPayload()))
}

// streamOf returns the stream an entry belongs to, 0 for anything that is not output.
func streamOf(project string, e *loggingpb.LogEntry) int {
	switch e.GetLogName() {
	case logName(project, logStdout):
		return Stdout
	case logName(project, logStderr):
		return Stderr
	}
	return 0
}
