// Package logs reads containers' output back from Cloud Logging v2 (ListLogEntries for history, TailLogEntries for
// follow), for the executions a container has run: stdout and stderr kept apart, deduplicated by insertId, bounded
// by since/until, the last N lines, and complete after the container exits (it waits, within a bound, for Cloud
// Run's closing system entry "Container called exit(N)." that follows the last output line).
//
// Quotas: entries.list is 60 requests per minute per project and live tailing 10 sessions per project, so the
// reader never tails and never polls per reader. Every listing page takes a token of one bucket (Config.
// ListsPerMinute) and is retried with backoff while Cloud Logging refuses the quota (package googlequota, whose
// error then names the quota); followers of an execution (follow, and waiting for an ended execution's last
// lines) share one poll of it, a feed, every second or as the bucket allows.
//
// Memory: a read holds one page of entries at a time, whatever the length of the history (BenchmarkReadHugeHistory
// reads 1 GiB in about the heap it takes for 64 MiB). A tail longer than a page is found by counting back to where
// it begins, keeping nothing, then listed from there. A follower's queue of its feed's entries is bounded; one that
// falls behind catches up by listing from its last line.
//
// It talks to Google only through cloud.google.com/go/logging/apiv2 and imports no runsock package but
// googlequota and googleconn (its connection comes back at once after an outage), so it is usable on its own; main
// adapts it to containers.LogSource. Goroutines: one per execution being followed (its feed), owned by the Reader,
// ended when its last reader leaves or at Close.
package logs
