package containers

import (
	"context"
	"iter"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// This file declares what the containers package needs from its neighbours. The implementations live in
// controlplane/internal/cloudrun (Launcher), controlplane/internal/images (ImageResolver) and
// controlplane/internal/logs / livelogs (LogSource) and controlplane/internal/agentsessions (Agent); main.go wires
// them.
//
// Errors: implementations classify failures with github.com/containerd/errdefs kinds, wrapped with %w:
// errdefs.ErrNotFound (unknown image/execution), errdefs.ErrInvalidArgument (a request Cloud Run refuses, e.g. a bad
// resource pair), errdefs.ErrResourceExhausted (the 1000-jobs quota), errdefs.ErrUnavailable (the backing API is down),
// errdefs.ErrConflict. The HTTP layer maps kinds to status codes; the message text reaches the user as is.

// Launcher runs one container as one Cloud Run Job execution. Job-per-template management is its business.
type Launcher interface {
	// Launch starts one execution for spec and returns its full resource name
	// (projects/P/locations/R/jobs/J/executions/E). It returns once the execution exists, not when it runs.
	Launch(ctx context.Context, spec LaunchSpec) (execution string, err error)
	// Cancel cancels a running execution; cancelling a finished one is not an error.
	Cancel(ctx context.Context, execution string) error
	// DeleteExecution deletes the execution; deleting a missing one is not an error.
	DeleteExecution(ctx context.Context, execution string) error
	// Wait blocks until the execution is terminal (or ctx ends) and returns how it ended.
	Wait(ctx context.Context, execution string) (Outcome, error)
}

// LaunchSpec is everything one container start needs. Fields the RunJob overrides cannot carry (image, resources)
// select the launch template (the Job); Args and Env travel as overrides.
type LaunchSpec struct {
	// Image is a digest reference in Artifact Registry (HOST/PROJECT/REPO/NAME@sha256:...).
	Image string
	// Entrypoint and Args are the process to run (the image's config already merged, Docker's rules).
	Entrypoint, Args []string
	// Env is KEY=VALUE, the image's env merged with the user's.
	Env []string
	// WorkingDir is the process's working directory ("" = image default).
	WorkingDir string
	// User is Docker's user[:group] ("" = image default); carried for the agent.
	User string
	// CPU is a valid Cloud Run CPU value, e.g. "1", "0.5", "2".
	CPU string
	// MemoryBytes is a valid Cloud Run memory amount for CPU.
	MemoryBytes int64
	// Labels are runsock's own sanitized labels (Cloud Run label rules), never the user's Docker labels.
	Labels map[string]string
	// ContainerID is the 64-hex Docker ID of the container being started.
	ContainerID string
	// Owner is the email of the container's owner (for audit; not a label).
	Owner string
	// Timeout is this execution's task timeout (0 = the driver's default); from the label runsock.task-timeout.
	Timeout time.Duration
	// Mounts are the container's volumes and tmpfs mounts, in the order of their destinations.
	Mounts []Mount
}

// Outcome is how an execution ended.
type Outcome struct {
	// ExitCode is the process's exit code (Task.last_attempt_result); 137 after a SIGKILL/cancel, by Docker's rules.
	ExitCode int
	// OOMKilled is true when the task was killed for exceeding its memory limit.
	OOMKilled bool
	// Error is Docker's State.Error: "task timed out", "cancelled", ... ("" for an ordinary exit).
	Error string
	// FinishedAt is when the execution ended.
	FinishedAt time.Time
	// Signal is the signal that ended the process, if known (0 otherwise).
	Signal int
}

// Agent is the runsock agent's side of the lifecycle (*agentsessions.Agent): it gives a start the agent, signals a
// container's main process through it, and forgets a removed container. A Service without one runs containers
// without the agent.
type Agent interface {
	// Prepare turns spec into a launch with the agent when it can (the wrapped image, the agent as entrypoint, its
	// environment) and returns what the container's record keeps; when it cannot, the record says why.
	Prepare(ctx context.Context, c *Container, spec *LaunchSpec) AgentRecord
	// WaitConnected returns once id's agent is linked, or an error when ctx ends first.
	WaitConnected(ctx context.Context, id string) error
	// Signal sends sig to id's main process.
	Signal(ctx context.Context, id string, sig syscall.Signal) error
	// Pause stops every process of id but the agent; Unpause continues them.
	Pause(ctx context.Context, id string) error
	Unpause(ctx context.Context, id string) error
	// Forget drops what is remembered about a removed container (its credentials, its link, later its live output).
	Forget(id string)
	// Ended says that id's run in execution has ended (its exit is recorded): what its agent proved no longer
	// applies, and sessions must not reach that run's link.
	Ended(id, execution string)
}

// WritableSizer tells what a container's own files take (Docker's SizeRw): what removing it frees, which prune
// reports (*containerfs.Files implements it).
type WritableSizer interface {
	WritableSize(ctx context.Context, id string) (int64, error)
}

// Networks places containers on networks (*networks.Service implements it). A Service without one puts every
// container on bridge alone and refuses user-defined networks.
type Networks interface {
	// Attach gives c (not yet stored) an endpoint on each network its create names: HostConfig.NetworkMode (the
	// default, bridge, when empty) and the networks of nc, resolved for c.Owner; user-defined networks allocate
	// its address there. Unknown networks are ErrNotFound ("network X not found").
	Attach(ctx context.Context, c *Container, nc *network.NetworkingConfig) error
	// Release frees what Attach or a connect allocated for c's endpoints (c was removed, or never stored).
	Release(ctx context.Context, c *Container)
}

// ImageResolver finds an image the owner has pulled. Resolve returns an error wrapping errdefs.ErrNotFound for an
// unknown reference; the HTTP layer turns it into 404 "No such image: REF", which makes the docker CLI pull.
type ImageResolver interface {
	Resolve(ctx context.Context, owner, ref string) (ResolvedImage, error)
}

// ResolvedImage is what container create needs from an image record.
type ResolvedImage struct {
	// ID is the image ID Docker shows: "sha256:" + the config digest.
	ID string
	// Reference is the digest reference a Job runs (HOST/PROJECT/REPO/NAME@sha256:manifest-digest).
	Reference string
	// Config is the image's OCI config, merged into the container at create.
	Config ImageConfig
}

// ImageConfig is the part of an OCI image config that container create merges (Docker's rules).
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
	Labels     map[string]string
	// ExposedPorts are "PORT/PROTO", e.g. "80/tcp".
	ExposedPorts []string
	StopSignal   string
	// Volumes are the image's VOLUME paths: each gets an anonymous volume, as Docker gives it.
	Volumes []string
	// Healthcheck is the image's HEALTHCHECK (nil without one), Shell its SHELL (CMD-SHELL checks run with it).
	Healthcheck *container.HealthConfig
	Shell       []string
}

// LogSource delivers a container's output: the Cloud Logging reader now, the agent's live stream later.
type LogSource interface {
	// Logs yields the container's output lines in order. Without Follow it ends after the last line written so
	// far; with Follow it ends once opts.Done is closed and the output of the container's executions is complete
	// (the source drains what remains, e.g. waiting out Cloud Logging's ingestion lag), or when ctx ends.
	// A non-nil error ends the sequence.
	Logs(ctx context.Context, target LogTarget, opts LogOptions) iter.Seq2[LogLine, error]
}

// LogTarget names whose output to read.
type LogTarget struct {
	ContainerID string
	Owner       string
	// Executions are the full execution names this container has run, oldest first (restart adds one).
	Executions []string
	// Tty is true when stdout and stderr are one stream.
	Tty bool
	// Running is true when the last execution had not ended when the read began.
	Running bool
	// AgentRun is the current start's agent run ("" when it runs without the agent): until that run's agent links,
	// its output exists only in Cloud Logging.
	AgentRun string
}

// LogOptions are docker logs' options, already parsed.
type LogOptions struct {
	Follow         bool
	Since, Until   time.Time // zero = unbounded
	Tail           int       // lines from the end; < 0 = all
	Stdout, Stderr bool
	// Done is closed when the container's current execution has ended (nil when not following).
	Done <-chan struct{}
	// From resumes a read cut by the request timeout at a position Started reported or a line's Seq names (Tail
	// is then ignored; Since and Until still apply). Nil: start as Tail says.
	From *LogPosition
	// Started, when set, is called once with the position the output starts from, before the first line. Sources
	// that cannot resume (Cloud Logging) never call it.
	Started func(LogPosition)
}

// LogPosition is a place in a container's live output: the chunk sequence Seq, Offset bytes into its data.
type LogPosition struct {
	Seq    uint64
	Offset int
	// More says another entry follows at once (the rest of the same chunk): a writer need not flush before it.
	More bool
}

// LogLine is one entry of output: a line with its trailing newline, or a partial entry as Docker's drivers make
// them (16 KiB of a longer line, or the unfinished end of the output).
type LogLine struct {
	// Stream is 1 for stdout, 2 for stderr (stdcopy's numbering).
	Stream int
	Time   time.Time
	Data   []byte
	// Seq is the line's sequence in the live output (0 from Cloud Logging): the output after it resumes at
	// LogPosition{Seq: Seq + 1, Offset: Offset} (Offset non-zero when the line ended inside that chunk).
	Seq    uint64
	Offset int
	// More says another entry follows at once (the rest of the same chunk): a writer need not flush before it.
	More bool
}
