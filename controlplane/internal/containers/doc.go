// Package containers owns the container lifecycle: create (merging the image's config as Docker does), start as a
// Cloud Run Job execution through a Launcher, stop/kill/restart/remove, waiting for exits, name and ID-prefix
// resolution per owner, and the lifecycle events fanned out to /events subscribers.
//
// It declares the small interfaces it needs from other parts in ports.go (Launcher, ImageResolver, LogSource, Store)
// and never imports the HTTP layer or a cloud SDK. State lives in a Store (Firestore in production); nothing that
// matters is kept only in memory.
//
// Goroutines: a Service runs one watcher per running container (Launcher.Wait → record the exit), the event
// fan-out, and the retries of an auto-removal the Admin API refused as unavailable (autoremove.go); Service.Close
// cancels and waits for all of them and is idempotent.
package containers
