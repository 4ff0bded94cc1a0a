package executiondoc

import (
	"strings"
	"time"
)

// Collection holds one document per execution.
const Collection = "executions"

// The document's fields.
const (
	FieldContainerID   = "containerId"
	FieldOwner         = "owner"
	FieldLaunchedAt    = "launchedAt"
	FieldSystemOutcome = "systemOutcome"
)

// DocID is the document ID of an execution: its short name (the last segment of a full resource name).
func DocID(execution string) string {
	return execution[strings.LastIndexByte(execution, '/')+1:]
}

// Document is one execution's document as a reader decodes it.
type Document struct {
	ContainerID   string   `firestore:"containerId"`
	Owner         string   `firestore:"owner"`
	SystemOutcome *Outcome `firestore:"systemOutcome"`
}

// Launch is the merge the control plane writes when it launches an execution: never the system outcome, which the
// function may already have written.
func Launch(containerID, owner string, at time.Time) map[string]any {
	return map[string]any{FieldContainerID: containerID, FieldOwner: owner, FieldLaunchedAt: at}
}

// Kind says how an execution's task ended, as Cloud Run's system log tells it.
type Kind string

// Kinds of outcome, from the most to the least precise.
const (
	KindOOM       Kind = "oom"       // "Memory limit of … exceeded …"
	KindTimeout   Kind = "timeout"   // "Terminating task because it has reached the maximum timeout of N seconds."
	KindExit      Kind = "exit"      // "Container called exit(N)."
	KindCancelled Kind = "cancelled" // the execution was cancelled
	KindSignal    Kind = "signal"    // "Container terminated on signal N."
)

// precision orders kinds: an outcome of higher precision is never replaced by a lower one.
var precision = map[Kind]int{KindOOM: 5, KindTimeout: 4, KindExit: 3, KindCancelled: 2, KindSignal: 1}

// Outcome is the systemOutcome field: what Cloud Run's system log says about how an execution's task ended.
type Outcome struct {
	// Execution is the execution's short name; it is the document's ID, not a field.
	Execution string    `firestore:"-"`
	Job       string    `firestore:"job"`
	Kind      Kind      `firestore:"kind"`
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
