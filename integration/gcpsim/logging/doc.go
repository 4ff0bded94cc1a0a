// Package logging is gcpsim's Cloud Logging v2: the google.logging.v2.LoggingServiceV2 gRPC service
// (WriteLogEntries, ListLogEntries, TailLogEntries, ListLogs) over an in-memory store of the newest entries, so that
// the official clients (cloud.google.com/go/logging/logadmin and logging/apiv2) work against it unchanged.
//
// Entries arrive through WriteLogEntries or through Service.Ingest, which the Cloud Run task runner calls for every
// stdout, stderr and system line. An entry becomes visible to List, Tail and the sink publisher only after the
// ingestion delay (Config.IngestionDelay, 2 s by default), as Cloud Logging's lag would have it; entries become visible
// in the order they were ingested.
//
// The filter language is the subset of the Logging query language that gcloud and runsock use (see ParseFilter);
// anything else is refused with INVALID_ARGUMENT.
//
// Goroutines: New starts one goroutine that makes pending entries visible when their delay has passed and hands them
// to the tails and the publisher; Close stops it. Each TailLogEntries call runs one extra goroutine for its lifetime.
//
// Quotas (quotas.go): entries.list 60 requests per minute per project and 10 open tail sessions per project, as
// Google documents them, refused with RESOURCE_EXHAUSTED in Google's quota-error shape (package quota); both are
// Config fields.
//
// Nothing is persisted: a gcpsim restart starts with an empty log. This package must not import the other gcpsim
// packages (sinks imports it, for filters) except the leaf package quota.
package logging
