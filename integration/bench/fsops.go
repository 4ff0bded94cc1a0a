package main

import (
	"context"
	"errors"
)

// errOpsNotExposed explains the Firestore row: the count exists inside the control plane but nothing reports it.
// What would be needed is written in docs/benchmarks.md.
var errOpsNotExposed = errors.New("not exposed: store.Ops() is counted but the control plane publishes it nowhere")

// benchFirestoreOps: Firestore operations per `docker run --rm`. The control plane keeps the counts
// (store.Store.Ops) but exposes them neither over HTTP nor in its log, and the benchmark must not change the control
// plane, so the row says what is missing. When the control plane exposes the counter, read it before and after a
// batch of `docker run --rm` here.
func benchFirestoreOps(_ context.Context, _ *env) []row {
	return []row{{name: "Firestore operations per `docker run --rm`", runsock: failed(errOpsNotExposed),
		reference: failed(errNotApplicable), target: "counted and minimal"}}
}
