// Package store keeps the control plane's durable state in Firestore (the emulator locally, via
// FIRESTORE_EMULATOR_HOST): containers, their per-owner names, and lifecycle events. Every change is one
// transaction. Documents are laid out so that `docker ps -a` is one query by owner and `inspect` one read:
//
//	containers/{id}          owner, name, status, created (queryable) + record (the whole Container as JSON)
//	names/{sha256(owner,name)} id, owner, name — a name's reservation, created in the same transaction as the container
//	events/{auto}            owner, time, expireAt, type, action, actor, attrs
//
// Events expire EventRetention after they happen (a TTL policy on expireAt) and are read by owner and time through
// a composite index, never scanned; NeededSchema names what the database must declare for that (infra/firestore.tf).
//
// It counts its Firestore operations (Ops) so the cost of a lifecycle can be reported, and counts writes per
// document (DocumentWrites) for every part sharing its client — live logs and images included — from the Commit
// requests themselves (a gRPC interceptor; on the emulator Open dials it for that), with each document's peak
// sustained rate over 10 s, so tests can hold runsock to Google's ≈1 write/s per document. It imports the containers
// package for the record type and runs no goroutines.
package store
