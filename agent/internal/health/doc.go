// Package health is the agent's healthcheck monitor: Docker's HEALTHCHECK (or docker run --health-*) run inside the
// container on Docker's schedule (moby's daemon/health.go: the interval, the start period and its start interval, a
// timeout that fails the probe, retries before unhealthy, output kept up to 4096 bytes, the last five results), each
// result handed to a Report function (the link sends it to the control plane, which records State.Health and emits
// the events). While the container is paused no probe runs and the status reads unhealthy, as Docker's.
//
// It imports linkproto only; the probe itself is a Prober (agent/internal/sessions runs it as an exec).
//
// Goroutines: Monitor.Run (until its context ends) and the probe it is waiting for.
package health
