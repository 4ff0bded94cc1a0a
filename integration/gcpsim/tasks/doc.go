// Package tasks runs Cloud Run task attempts as real containers on a Docker
// Engine, the way Cloud Run runs them: each attempt is one container with its
// own network namespace on a bridge network that the Runner creates, the
// container contract environment (CLOUD_RUN_JOB, CLOUD_RUN_EXECUTION,
// CLOUD_RUN_TASK_INDEX, CLOUD_RUN_TASK_ATTEMPT, CLOUD_RUN_TASK_COUNT, and
// nothing Cloud Run does not set), metadata.google.internal resolving to the
// metadata server's address (169.254.169.254), CPU and memory limits, a task
// timeout (SIGTERM, then SIGKILL after a grace period) and out-of-memory
// detection.
//
// Each line a container writes becomes a Cloud Logging entry (resource type
// cloud_run_job) handed to a [LogWriter]; system entries
// (run.googleapis.com%2Fvarlog%2Fsystem) record the start, the timeout, the
// out-of-memory kill, the cancellation and, always last, the exit.
//
// The Runner talks to the Docker Engine only through the host given in
// [Config.DockerHost]; it never reads DOCKER_HOST. It must not import the
// cloudrun package or any Google client beyond the loggingpb types.
//
// When gcpsim stops, running containers are left running (Outcome Detached);
// the next Runner on the same network finds them, and Claim and Adopt continue
// their attempts (adopt.go).
//
// Goroutines: each Run call owns one goroutine that follows the container's
// logs and ends when the container stops; Run does not return before it ends.
package tasks
