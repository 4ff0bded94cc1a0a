// Package googlequota handles Google APIs' quota refusals on the caller's side: it recognises RESOURCE_EXHAUSTED and
// which quota Google named (google.rpc.ErrorInfo), retries rate-quota refusals with jittered, context-aware backoff,
// and words the user's error so that it names the quota that was hit — never a guessed cause.
//
// It is shared by the Cloud Run driver (cloudrun) and the Cloud Logging reader (logs). It imports no runsock
// package and starts no goroutines.
package googlequota
