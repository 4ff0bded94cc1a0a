package dockerapi

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
)

// ImageBackend serves the /images routes; controlplane/internal/images implements it. owner is the caller's email
// (identity.Principal.Email); admin callers see every owner's images. Errors carry errdefs kinds
// (github.com/containerd/errdefs): ErrNotFound → 404 "No such image: REF", ErrInvalidArgument → 400,
// ErrConflict → 409, ErrUnavailable → 503.
type ImageBackend interface {
	// Pull resolves ref (already joined: "alpine:latest", "docker.io/library/alpine@sha256:…"), records it for
	// owner and reports progress as Docker's JSON messages through progress, in order. An error returned before
	// the first progress message becomes an HTTP error; after it, an errorDetail message in the stream.
	Pull(ctx context.Context, owner string, req PullRequest, progress func(jsonstream.Message) error) error
	List(ctx context.Context, owner string, opts ImageListOptions) ([]image.Summary, error)
	Inspect(ctx context.Context, owner, ref string) (image.InspectResponse, error)
	// Tag gives source the additional name repo:tag.
	Tag(ctx context.Context, owner, source, repo, tag string) error
	Delete(ctx context.Context, owner, ref string, opts ImageDeleteOptions) ([]image.DeleteResponse, error)
	Prune(ctx context.Context, owner string, filters map[string][]string) (image.PruneReport, error)
}

// PullRequest is POST /images/create?fromImage=…&tag=….
type PullRequest struct {
	// Ref is fromImage with tag or digest applied ("alpine:latest" when tag is empty).
	Ref string
	// Platform is the requested platform ("" = linux/amd64).
	Platform string
	// RegistryAuth is the X-Registry-Auth header as sent (base64url JSON), "" if none.
	RegistryAuth string
}

// ImageListOptions is GET /images/json.
type ImageListOptions struct {
	All bool
	// Filters are Docker's filters (reference, dangling, label, before, since), normalised to map[string][]string.
	Filters map[string][]string
	// AllOwners is true when an admin asks (every owner's images).
	AllOwners bool
}

// ImageDeleteOptions is DELETE /images/{name}.
type ImageDeleteOptions struct {
	Force, NoPrune bool
}

// ExecBackend serves the /exec routes and needs the runsock agent inside the container; the agent link implements
// it. containerID is already resolved and owned by owner (dockerapi checks). Until it is wired, the exec routes
// answer 409 "exec needs the runsock agent".
type ExecBackend interface {
	ExecCreate(ctx context.Context, owner, containerID string, req container.ExecCreateRequest) (execID string, err error)
	// ExecStart runs the exec, copying stdin (nil when not attached) to the process and its output to the streams
	// (with Tty, everything goes to stdout). It returns when the process has exited and its output is written.
	ExecStart(ctx context.Context, owner, execID string, req container.ExecStartRequest, streams Streams) error
	ExecInspect(ctx context.Context, owner, execID string) (container.ExecInspectResponse, error)
	ExecResize(ctx context.Context, owner, execID string, height, width uint) error
}

// Streams are a hijacked (or HTTP/2 full-duplex) connection's directions. Stdout/Stderr are already framed with
// stdcopy's multiplexing when the process has no TTY.
type Streams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}
