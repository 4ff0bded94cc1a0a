package dockerapi

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/runsock/runsock/controlplane/internal/agentsessions"
	"github.com/runsock/runsock/controlplane/internal/commit"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/identity"
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

// AgentBackend serves what needs the runsock agent inside a container: exec, attach with input, archive, top,
// stats, resize and published-port tunnels; *agentsessions.Sessions implements it. Every call resolves the container
// or exec for the caller (another user's is "No such container" / "No such exec instance"). Until it is wired
// (nil), these routes answer 409 saying the agent is missing.
type AgentBackend interface {
	ExecCreate(ctx context.Context, p identity.Principal, ref string, req container.ExecCreateRequest) (string, error)
	// ExecCheck returns the exec's TTY flag, or the error to answer before hijacking.
	ExecCheck(ctx context.Context, p identity.Principal, id string) (tty bool, err error)
	ExecStart(ctx context.Context, p identity.Principal, id string, req container.ExecStartRequest, io agentsessions.ExecIO) error
	ExecInspect(ctx context.Context, p identity.Principal, id string) (container.ExecInspectResponse, error)
	ExecResize(ctx context.Context, p identity.Principal, id string, height, width uint) error

	// AgentContainer resolves ref and reports whether its sessions go through the agent.
	AgentContainer(ctx context.Context, p identity.Principal, ref string) (*containers.Container, bool, error)
	AttachAgent(ctx context.Context, c *containers.Container, opts agentsessions.AttachOptions, io agentsessions.AttachIO) error
	Resize(ctx context.Context, p identity.Principal, ref string, height, width uint) error
	Top(ctx context.Context, p identity.Principal, ref, psArgs string) (container.TopResponse, error)
	Stats(ctx context.Context, p identity.Principal, ref string, prev *container.StatsResponse) (container.StatsResponse, error)

	ArchiveStat(ctx context.Context, p identity.Principal, ref, path string) (container.PathStat, error)
	ArchiveGet(ctx context.Context, p identity.Principal, ref, path string) (container.PathStat, io.ReadCloser, error)
	ArchivePut(ctx context.Context, p identity.Principal, ref, path string, r io.Reader, noOverwriteDirNonDir, copyUIDGID bool) error
	// Changes (docker diff) and Export (docker export) read a container's whole filesystem (a running one's through
	// its agent's capture on demand).
	Changes(ctx context.Context, p identity.Principal, ref string) ([]container.FilesystemChange, error)
	Export(ctx context.Context, p identity.Principal, ref string) (io.ReadCloser, error)
	// Commit pushes ref's filesystem as a new image for p (docker commit) and returns its ID.
	Commit(ctx context.Context, p identity.Principal, ref string, o commit.Options) (string, error)

	TunnelCheck(ctx context.Context, p identity.Principal, ref string) (*containers.Container, error)
	Tunnel(ctx context.Context, c *containers.Container, port int, conn io.ReadWriter) error
}

var _ AgentBackend = (*agentsessions.Sessions)(nil)
