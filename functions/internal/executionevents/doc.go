// Package executionevents turns Cloud Run's own record of a job execution — the system log entries a log sink
// publishes to Pub/Sub — into facts in Firestore, so runsock's state stays true while no control plane instance runs
// and when an agent cannot report its own death (out of memory, task timeout, cancellation, lost instance).
//
// It owns one thing: writing the `systemOutcome` of documents in the `executions` collection. The document itself
// (collection, fields, kinds, the Outcome type and its order) is defined once in the top-level executiondoc package,
// which the control plane reads it through: it writes `containerId` there at launch and applies the outcome to the
// container it belongs to, preferring what the agent reported first-hand. Recording is a merge under a total order
// (executiondoc.Outcome.Better), so duplicate and reordered deliveries converge on the same document.
//
// It imports no runsock package but executiondoc, and starts no goroutines.
package executionevents
