// Package executionevents turns Cloud Run's own record of a job execution — the system log entries a log sink
// publishes to Pub/Sub — into facts in Firestore, so runsock's state stays true while no control plane instance runs
// and when an agent cannot report its own death (out of memory, task timeout, cancellation, lost instance).
//
// It owns one thing: the `systemOutcome` of documents in the `executions` collection (document ID = the execution's
// short name; the control plane writes `containerId` there at launch). The control plane applies that outcome to the
// container it belongs to, preferring what the agent reported first-hand. Recording is a merge under a total order
// (see Outcome.Better), so duplicate and reordered deliveries converge on the same document.
//
// It imports no other runsock package and starts no goroutines.
package executionevents
