// Package reconcile keeps runsock's state true to Cloud Run's own record of executions. It owns two things:
//
//   - Facts: a Firestore snapshot listener on the `executions` collection, where the execution-events function
//     records each execution's systemOutcome (from Cloud Run's system logs via a log sink and Pub/Sub). Each new
//     outcome whose container still runs that execution ends it through containers.Service.ApplyOutcome — the same
//     exit path as the watcher, so `docker wait`, attach and /events end within a second. An exit already recorded
//     first-hand is kept; only out-of-memory and timeout facts may enrich it.
//   - Reconciler: at start and every interval, compares Firestore with Cloud Run (jobs labelled managed-by=runsock
//     and their executions): marks containers whose executions ended, cancels and deletes executions no container
//     references, deletes jobs no container uses (at once for jobs runsock did not create, after the idle grace for
//     its own), and releases name reservations whose container is missing. Each fix is logged and recorded as an
//     event. It never deletes a container record.
//
// Why a Firestore listener rather than a Pub/Sub streaming pull: the function already turns the log stream into
// an idempotent, totally ordered fact per execution in Firestore (the truth, decision 1). Listening to that fact
// means the control plane sees exactly what survives its own downtime — on restart the listener's first snapshot
// replays recent facts, and older ones are caught by the reconciler — with no second subscription to create,
// no acknowledgement bookkeeping, no redelivery to deduplicate, and no ordering to restore; a streaming pull would
// race the function and re-implement its merge. The listener costs one document read per changed execution.
//
// The safety net for executions the facts miss is the containers watcher's Launcher.Wait, whose poll (cloudrun) is
// quick only for an execution's first seconds and after a cancel: the facts listener is the fast path for
// long-running executions. The execution document it listens to is defined in executiondoc.
//
// It imports containers, cloudrun, store and executiondoc types, never the HTTP layer. Goroutines: Facts.Run and
// Reconciler.Run run in the caller's goroutine until their context ends.
package reconcile
