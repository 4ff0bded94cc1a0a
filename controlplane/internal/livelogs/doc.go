// Package livelogs persists the live output the agents stream: sequence-numbered chunks of a container's stdout and
// stderr, in Firestore, so `docker logs`, `logs -f` and attach are served at once and completely after an exit,
// without waiting for Cloud Logging.
//
// Layout (root collection configurable, default "livelogs"):
//
//	livelogs/{containerID}                      state: run, base, complete, exitCode, exitedAt, lastSeq (as of the
//	                                            run's begin and completion; meanwhile the newest batch has it)
//	livelogs/{containerID}/batches/{firstSeq}   first, last, chunks [{s: seq, o: stream, t: time, d: bytes}]
//
// Sequences are per container and keep growing across restarts: a new run (a new RUNSOCK_RUN) continues after the
// previous run's last sequence (its base). Append is idempotent by sequence: chunks at or below the durable sequence
// are skipped, so a redialing agent that resends unacknowledged chunks never duplicates output. Readers also skip
// any sequence they have already delivered.
//
// Writes per document stay within Google's guidance of about one sustained write per second: each batch document is
// written once, and the state document twice per run (BeginRun, Complete), never per batch.
//
// Followers are woken in-process by Append and Complete (the control plane runs as one instance) and read the
// chunks straight from the notification when contiguous, falling back to Firestore on a gap and polling it every
// few seconds in case another writer exists.
//
// Source adapts the store to the containers package's LogSource (what `docker logs` and attach read), falling back to
// Cloud Logging for a container whose agent never linked. It serves Docker's log entries, not chunks: a chunk is one read of
// the process's output (several lines, or a piece of one), and Source splits and joins them as Docker's log copier
// does (lines.go), each line its own entry: a line stamped when its newline came, 16 KiB partial entries sharing one time, the unfinished end
// only once the run is over, without a newline. A resume position names the chunk, and the offset in it when an
// entry ended inside one ("SEQ.OFFSET"). It imports containers for those types only; containers
// never imports livelogs.
//
// Goroutines: none of its own; Follow runs in its caller's goroutine, and a following Source read runs one timer
// goroutine that ends with the read.
package livelogs
