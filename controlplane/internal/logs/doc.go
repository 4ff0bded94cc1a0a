// Package logs reads containers' output back from Cloud Logging v2 (ListLogEntries for history, TailLogEntries for
// follow), for the executions a container has run: stdout and stderr kept apart, deduplicated by insertId, bounded
// by since/until, the last N lines, and complete after the container exits (it waits, within a bound, for Cloud
// Run's closing system entry "Container called exit(N)." that follows the last output line).
//
// It talks to Google only through cloud.google.com/go/logging/apiv2 and imports no other runsock package, so it is
// usable on its own; main adapts it to containers.LogSource. A Read in follow mode runs one goroutine that owns the
// TailLogEntries stream (redialled when cut); it ends when the iteration ends.
package logs
