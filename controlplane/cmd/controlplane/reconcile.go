package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/runsock/runsock/controlplane/internal/cloudrun"
	"github.com/runsock/runsock/controlplane/internal/config"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/reconcile"
	"github.com/runsock/runsock/controlplane/internal/store"
)

// factsMargin reaches back before the start for execution facts recorded while no instance listened (Cloud
// Logging's ingestion lag); older endings are the reconciler's and the resumed watchers'.
const factsMargin = 10 * time.Minute

// startReconcile runs the execution-facts listener and the reconciler; the returned func stops and waits for both.
func startReconcile(cfg config.Config, st *store.Store, driver *cloudrun.Driver, svc *containers.Service, log *slog.Logger) func() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	facts := reconcile.NewFacts(st.Client(), svc, time.Now().Add(-factsMargin), log)
	rec := reconcile.New(driver, st, svc, reconcile.Config{Interval: cfg.ReconcileInterval, JobIdleGrace: cfg.JobIdleGrace, Logger: log})
	wg.Add(2)
	go func() { defer wg.Done(); _ = facts.Run(ctx) }()
	go func() { defer wg.Done(); rec.Run(ctx) }()
	return func() { cancel(); wg.Wait() }
}
