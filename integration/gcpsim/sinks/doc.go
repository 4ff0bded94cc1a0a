// Package sinks is gcpsim's log sinks to Pub/Sub: sink definitions (from a flag or a JSON file) and a Publisher that
// the logging Service hands every entry when it becomes visible. Each matching entry is published as its own Pub/Sub
// message, as Cloud Logging's sinks do: data = the LogEntry as proto3 JSON (camelCase, default-valued fields left out,
// so severity is absent when DEFAULT), attribute logging.googleapis.com/timestamp = the entry's timestamp (RFC 3339,
// nanoseconds, UTC).
//
// Publishing goes through the official client cloud.google.com/go/pubsub/v2, which honours PUBSUB_EMULATOR_HOST. A
// missing topic is logged (at most once a minute per topic), never fatal and never created: real sinks do not create
// topics either.
//
// Goroutines: the pubsub client's publishers, plus one goroutine per published batch that waits for the results;
// Close flushes and waits for all of them. This package imports gcpsim/logging for filters and must not be imported
// by it.
package sinks
