// Package executiondoc is the contract between the execution-events function (functions/) and the control plane
// (controlplane/internal/store, controlplane/internal/reconcile): the one definition of the Firestore document that
// records how a Cloud Run Job execution ended.
//
// One document per execution in [Collection], its ID the execution's short name ([DocID]). Two writers share it and
// each merges only its own fields: the control plane writes [FieldContainerID], [FieldOwner] and [FieldLaunchedAt]
// when it launches the execution; the function writes [FieldSystemOutcome], an [Outcome] read from Cloud Run's
// system log, replacing a stored one only with a [Outcome.Better] one.
//
// It imports nothing of runsock's and no cloud SDK (the Firestore field names are struct tags and constants), and
// starts no goroutines.
package executiondoc
