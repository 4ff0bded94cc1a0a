// Package containers owns the container lifecycle: create (merging the image's config as Docker does), start as a
// Cloud Run Job execution through a Launcher, stop/kill/restart/remove, update, restart policies (restartpolicy.go:
// Docker's restart manager, its state kept with the container), waiting for exits, name and ID-prefix resolution per
// owner, and the lifecycle events fanned out to /events subscribers and waits. Who reaches which
// container is owners.go: admins see everyone's but change another user's only by full ID or the owner filter,
// and each such change is an "admin" event.
//
// Published ports (publish.go): fixed host ports are recorded at create; random ones (-P, -p CPORT, HostPort "" or
// "0") are left unassigned at each start until the owner's localproxy, which can bind them, reports its choice
// (AssignPorts, compare-and-set, only for the current execution).
//
// It declares the small interfaces it needs from other parts in ports.go (Launcher, ImageResolver, LogSource,
// Agent) and container.go (Store); main.go wires their implementations (cloudrun, images, livelogs.Source,
// agentsessions.Agent, store). The sessions a container has through its agent (exec, attach with input, cp, top,
// stats, tunnels) are agentsessions', which calls this package; this package only gives a start the agent and
// signals through it, behind the Agent interface.
//
// It never imports the HTTP layer, a cloud SDK, Firestore, gRPC or the agent link (agentlink, linkproto, livelogs).
// State lives in a Store (Firestore in production; containerstest's in-memory one in unit tests); nothing that
// matters is kept only in memory — with one bounded exception: a running container's latest healthcheck results
// that changed no status (health.go) wait in memory up to 30 s before they are written, and its agent reports them
// again after a control-plane restart (docs/health.md).
//
// Goroutines: a Service runs one watcher per running container (Launcher.Wait → record the exit), one timer per
// restarting container (its restart policy's next start, rebuilt by Resume from the Store), the event fan-out, and
// the retries of an auto-removal the Admin API refused as unavailable (autoremove.go); Service.Close
// cancels and waits for all of them and is idempotent.
package containers
